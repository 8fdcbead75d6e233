"""Rules that fire on one event from the inbox (SOS, a home-safety alarm; a fall is judged by alerts.falls): pure, no I/O."""

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
    if item.type == "hazard" and item.data.get("state") == "detected":
        # Not switchable in the rule settings: nobody should be able to turn off a fire alarm.
        # "cleared" raises nothing and resolves nothing: staff resolve hazards after checking.
        return _hazard(item, zone)
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


# What the alarm saw, and what staff should do first, per hazard (en, zh).
_HAZARD_TEXT = {
    "smoke": (
        "The smoke alarm{where} went off at {at}. Call the resident now; if nobody answers, call the fire service (119) "
        "and send someone.",
        "{at} {where}烟雾报警器报警。请立即致电老人；无人接听时请拨打 119 并派人上门。",
    ),
    "gas": (
        "The gas alarm{where} detected combustible gas at {at}. Call the resident: no flames or switches, open the "
        "windows, leave; if nobody answers, call the gas company's emergency line and send someone.",
        "{at} {where}燃气报警器检测到可燃气体泄漏。请立即致电老人：勿用明火、勿开关电器，开窗并离开；"
        "无人接听时请拨打燃气抢修电话并派人上门。",
    ),
    "co": (
        "The carbon monoxide alarm{where} went off at {at}. Call the resident: open the windows and leave the home; "
        "if nobody answers or they feel unwell, call 120 and send someone.",
        "{at} {where}一氧化碳报警器报警。请立即致电老人开窗并离开家中；无人接听或身体不适时请拨打 120 并派人上门。",
    ),
    "water_leak": (
        "The water leak sensor{where} detected water at {at}. Call the resident or send someone to close the water valve.",
        "{at} {where}漏水传感器检测到漏水。请致电老人或派人上门关闭水阀。",
    ),
}


def _hazard(item: InboxItem, zone: ZoneInfo) -> Finding | None:
    hazard = str(item.data.get("hazard"))
    text = _HAZARD_TEXT.get(hazard)
    if text is None:
        return None  # the contract refuses other hazards; an old row cannot raise an undeclared kind
    at = clock_text(item.ts, zone)
    en = text[0].format(at=at, where=f" in the {room_en(item.room)}" if item.room else "")
    zh = text[1].format(at=at, where=room_zh(item.room) if item.room else "")
    return finding(hazard, en, zh, {"event": _event_evidence(item), "hazard": hazard, "detected_at": item.ts.isoformat()})


def _event_evidence(item: InboxItem) -> dict[str, Any]:
    return {"device": item.device_id, "seq": item.seq, "ts": item.ts.isoformat(), "room": item.room}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
