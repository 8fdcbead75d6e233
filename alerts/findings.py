"""What a rule says: a finding (kind, severity, bilingual explanation, evidence), and the catalogue
of alert kinds with their default severity and lifecycle behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal

Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True)
class KindInfo:
    severity: Severity
    # The system resolves the alert itself once the condition has been clear for the hold time
    # (a device back online); the others wait for staff, who must check on the person.
    auto_resolve: bool
    # Paused by the absence calendar (nobody home: nothing to worry about).
    welfare: bool


KINDS: dict[str, KindInfo] = {
    # Critical = never held back by quiet hours, escalated after escalate_critical_s (2 min): a fall,
    # a press of the SOS button, or going out at night cannot wait for the morning shift.
    "fall": KindInfo("critical", auto_resolve=False, welfare=False),
    "long_lie": KindInfo("critical", auto_resolve=False, welfare=False),
    "sos": KindInfo("critical", auto_resolve=False, welfare=False),
    "inactivity": KindInfo("high", auto_resolve=False, welfare=True),
    "not_up": KindInfo("medium", auto_resolve=False, welfare=True),
    "long_absence": KindInfo("medium", auto_resolve=False, welfare=True),
    "night_wandering": KindInfo("critical", auto_resolve=False, welfare=True),
    "bathroom_dwell": KindInfo("high", auto_resolve=False, welfare=True),
    "door_left_open": KindInfo("medium", auto_resolve=True, welfare=False),
    "cold_home": KindInfo("medium", auto_resolve=True, welfare=False),
    "low_battery": KindInfo("low", auto_resolve=True, welfare=False),
    "device_offline": KindInfo("medium", auto_resolve=True, welfare=False),
    # The gateway reports but no motion sensor ever has: welfare checks cannot run at all.
    "no_motion_sensor": KindInfo("medium", auto_resolve=True, welfare=False),
    "gateway_offline": KindInfo("high", auto_resolve=True, welfare=False),
}

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
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}")


def finding(kind: str, en: str, zh: str, evidence: dict[str, Any] | None = None, severity: Severity | None = None) -> Finding:
    """A finding with its kind's default severity."""
    return Finding(kind, severity or KINDS[kind].severity, en, zh, evidence or {})


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
