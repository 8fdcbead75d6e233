"""Rules that fire on one event from the inbox (SOS; a fall is judged by alerts.falls): pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.findings import Finding, clock_text, finding, room_en, room_zh
from eldercare.domain.rule_settings import RuleSettings


@dataclass(frozen=True)
class InboxItem:
    """One row of alert_inbox (see 0003_alert_inbox.sql)."""

    id: int
    home_id: str
    device_id: str | None
    seq: int | None
    ts: datetime
    type: str
    room: str | None
    data: dict[str, Any]

    @property
    def source_key(self) -> str | None:
        """What makes a redelivered event recognisable: ingest's own key (device, seq, ts).

        The timestamp is part of it so that a device whose sequence restarted (a factory reset)
        can never have a new SOS mistaken for an old one."""
        if self.device_id is None or self.seq is None:
            return None
        return f"event:{self.device_id}:{self.seq}:{self.ts.isoformat()}"


def event_finding(item: InboxItem, rules: RuleSettings, zone: ZoneInfo) -> Finding | None:
    """The alert an event raises by itself, or None (other events only feed periodic rules). A fall
    is a candidate first: :mod:`alerts.falls` judges it with the resident's answer and the home."""
    if item.type == "sos" and rules.sos.enabled:
        return _sos(item, zone)
    return None


def _sos(item: InboxItem, zone: ZoneInfo) -> Finding:
    at = clock_text(item.ts, zone)
    press = str(item.data.get("press", "single"))
    where_en = f" in the {room_en(item.room)}" if item.room else ""
    where_zh = f"（{room_zh(item.room)}）" if item.room else ""
    return finding(
        "sos",
        f"The SOS button was pressed{where_en} at {at} ({press} press).",
        f"{at} 紧急呼叫按钮被按下{where_zh}。",
        {"event": _event_evidence(item), "press": press},
    )


def _event_evidence(item: InboxItem) -> dict[str, Any]:
    return {"device": item.device_id, "seq": item.seq, "ts": item.ts.isoformat(), "room": item.room}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
