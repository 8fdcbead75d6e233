"""What a rule says: a finding (kind, severity, bilingual explanation, evidence), and the words
rules use to explain it. Kinds and severities are declared in :mod:`eldercare.domain.alerts.catalogue`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from eldercare.domain.alerts.catalogue import Severity, kind

_ROOMS_ZH = {
    "bedroom": "卧室",
    "bathroom": "卫生间",
    "kitchen": "厨房",
    "living_room": "客厅",
    "dining_room": "餐厅",
    "hallway": "走廊",
    "entry": "门口",
    "other": "其他房间",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: Severity
    explanation_en: str
    explanation_zh: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind(self.kind)  # ValueError for a kind the catalogue does not declare


def finding(name: str, en: str, zh: str, evidence: dict[str, Any] | None = None, severity: Severity | None = None) -> Finding:
    """A finding with its kind's default severity."""
    return Finding(name, severity or kind(name).severity, en, zh, evidence or {})


def room_en(room: str | None) -> str:
    return (room or "unknown room").replace("_", " ")


def room_zh(room: str | None) -> str:
    return _ROOMS_ZH.get(room or "", "未知房间")


def clock_text(moment: datetime, zone: tzinfo) -> str:
    """Local HH:MM of the home, which is what staff and families read."""
    return moment.astimezone(zone).strftime("%H:%M")


def minutes_en(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, rest = divmod(minutes, 60)
    if hours:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{minutes} min"


def minutes_zh(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, rest = divmod(minutes, 60)
    if hours:
        return f"{hours} 小时 {rest} 分钟" if rest else f"{hours} 小时"
    return f"{minutes} 分钟"
