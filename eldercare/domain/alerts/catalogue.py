"""What an alert can be: kinds, severities (and their order), statuses, outcomes, history actions,
and their names in Chinese and English. Pure values; no I/O.

Everything that shows, sorts or checks one of these asks here: the rules (default severity,
auto-resolution), the lifecycle writer, notification titles, the API's validation and the
dashboard (which reads :func:`as_document` through ``GET /api/v1/alert-catalogue``). The database
keeps CHECK constraints on severity and status; a test compares them with this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

Severity = Literal["low", "medium", "high", "critical"]
# pending: a fall waiting for the resident's answer (the cancel window) or for the home's sensors;
# nobody has been told yet (alerts/fall_window.py decides, lifecycle.confirm / close_pending write).
Status = Literal["pending", "open", "acknowledged", "resolved"]
# Outcomes staff choose when they resolve an alert, in the order the dashboard offers them.
StaffOutcome = Literal["resident_ok", "visited", "false_alarm", "ambulance_called", "hospitalised", "other"]
# Outcomes the system sets when it closes a pending fall, so nobody is called; kept in the history and the KPIs.
SystemOutcome = Literal["auto_resolved", "cancelled_by_resident", "resident_got_up", "rolled_over_in_bed"]
Outcome = Literal[StaffOutcome, SystemOutcome]
# One alert_history row per change; actor NULL = the system.
Action = Literal["opened", "confirmed", "updated", "acknowledged", "commented", "assigned", "escalated", "resolved"]

# The one severity order, mildest first: a severity's rank is its index here.
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
STATUSES: Final[tuple[Status, ...]] = get_args(Status)
STAFF_OUTCOMES: Final[tuple[StaffOutcome, ...]] = get_args(StaffOutcome)
AUTO_RESOLVED: Final = "auto_resolved"
# Unacknowledged alerts escalate at most this far: 1 = the supervisor, 2 = the emergency contacts.
LAST_ESCALATION_LEVEL: Final = 2

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Names:
    """What people read, in both languages the product speaks. Both are required and checked."""

    en: str
    zh: str

    def __post_init__(self) -> None:
        if not self.en.strip() or _CJK.search(self.en):
            raise ValueError(f"English name missing or not English: {self.en!r}")
        if not _CJK.search(self.zh):
            raise ValueError(f"Chinese name missing for {self.en!r}: {self.zh!r}")


@dataclass(frozen=True)
class Kind:
    severity: Severity  # the default; a rule may raise it
    names: Names
    # The system resolves the alert itself once the condition has been clear for the hold time
    # (a device back online); the others wait for staff, who must check on the person.
    auto_resolve: bool
    # Paused by the absence calendar (nobody home: nothing to worry about).
    welfare: bool


KINDS: Final[Mapping[str, Kind]] = {
    # Critical = never held back by quiet hours, escalated after escalate_critical_s (2 min): a fall,
    # a press of the SOS button, or going out at night cannot wait for the morning shift.
    "fall": Kind("critical", Names("Fall", "跌倒"), auto_resolve=False, welfare=False),
    "long_lie": Kind("critical", Names("Long lie after a fall", "跌倒后长时间未起身"), auto_resolve=False, welfare=False),
    "sos": Kind("critical", Names("SOS button", "紧急呼叫"), auto_resolve=False, welfare=False),
    "inactivity": Kind("high", Names("No activity", "长时间无活动"), auto_resolve=False, welfare=True),
    "not_up": Kind("medium", Names("Not up by the usual time", "未按时起床"), auto_resolve=False, welfare=True),
    "long_absence": Kind("medium", Names("Out for unusually long", "外出时间过长"), auto_resolve=False, welfare=True),
    # The bed mat says the resident got up in the night, and nothing has moved for longer than
    # their own night-time pauses: "out of bed, not back" (alerts.inactivity).
    "bed_exit": Kind("high", Names("Out of bed at night, not back", "夜间离床未归"), auto_resolve=False, welfare=True),
    "night_wandering": Kind("critical", Names("Went out at night", "夜间外出未归"), auto_resolve=False, welfare=True),
    "bathroom_dwell": Kind("high", Names("Long stay in the bathroom", "卫生间停留过久"), auto_resolve=False, welfare=True),
    "door_left_open": Kind("medium", Names("Front door left open", "大门未关"), auto_resolve=True, welfare=False),
    "cold_home": Kind("medium", Names("Cold home", "室内温度过低"), auto_resolve=True, welfare=False),
    "low_battery": Kind("low", Names("Low battery", "设备电量低"), auto_resolve=True, welfare=False),
    "device_offline": Kind("medium", Names("Sensor offline", "传感器离线"), auto_resolve=True, welfare=False),
    # The gateway reports but no motion sensor ever has: welfare checks cannot run at all.
    "no_motion_sensor": Kind(
        "medium",
        Names("No motion sensor: welfare checks off", "无人体传感器：看护检查无法进行"),
        auto_resolve=True,
        welfare=False,
    ),
    "gateway_offline": Kind("high", Names("Gateway offline", "网关离线"), auto_resolve=True, welfare=False),
}

SEVERITY_NAMES: Final[Mapping[Severity, Names]] = {
    "low": Names("low", "低"),
    "medium": Names("medium", "中"),
    "high": Names("high", "高"),
    "critical": Names("critical", "紧急"),
}
STATUS_NAMES: Final[Mapping[Status, Names]] = {
    "pending": Names("Possible fall, waiting for the resident", "疑似跌倒，等待老人回应"),
    "open": Names("Open", "待处理"),
    "acknowledged": Names("Acknowledged", "处理中"),
    "resolved": Names("Resolved", "已解决"),
}
OUTCOME_NAMES: Final[Mapping[Outcome, Names]] = {
    "resident_ok": Names("Resident OK", "老人安好"),
    "visited": Names("Visited", "已上门"),
    "false_alarm": Names("False alarm", "误报"),
    "ambulance_called": Names("Ambulance called", "已叫救护车"),
    "hospitalised": Names("Hospitalised", "已送医"),
    "other": Names("Other", "其他"),
    "auto_resolved": Names("Resolved by the system", "系统自动解除"),
    "cancelled_by_resident": Names("Cancelled by the resident", "老人自行取消"),
    "resident_got_up": Names("The resident got up", "老人已起身活动"),
    "rolled_over_in_bed": Names("Turning over in bed", "床上翻身"),
}


def kind(name: str) -> Kind:
    """The catalogue entry of an alert kind; ValueError for a kind nobody declared."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown alert kind {name!r}") from None


def severity_rank(severity: str) -> int:
    """0 for the mildest severity, rising with urgency; ValueError for an unknown severity."""
    return SEVERITIES.index(severity)


def worst(first: Severity, second: Severity) -> Severity:
    return first if severity_rank(first) >= severity_rank(second) else second


def as_document() -> dict[str, Any]:
    """The whole catalogue as JSON-ready data, in display order (severities mildest first)."""
    return {
        "kinds": [
            {"key": key, "severity": k.severity, "auto_resolve": k.auto_resolve, **_names(k.names)} for key, k in KINDS.items()
        ],
        "severities": [{"key": s, "rank": severity_rank(s), **_names(SEVERITY_NAMES[s])} for s in SEVERITIES],
        "statuses": [{"key": s, **_names(STATUS_NAMES[s])} for s in STATUSES],
        "outcomes": [{"key": o, "staff": o in STAFF_OUTCOMES, **_names(n)} for o, n in OUTCOME_NAMES.items()],
    }


def _names(names: Names) -> dict[str, str]:
    return {"en": names.en, "zh": names.zh}
