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
Action = Literal["opened", "confirmed", "updated", "acknowledged", "commented", "assigned", "escalated", "attempted", "resolved"]
# The care centre's protocol for an alarm, in the order the incident view guides staff through it:
# call the resident, call the emergency contacts in their order, send someone.
Step = Literal["call_resident", "call_contact", "dispatch"]
# What came of one attempt at a step (each is one "attempted" history row).
AttemptResult = Literal["answered_ok", "answered_needs_help", "no_answer", "busy", "wrong_number", "dispatched", "on_site"]

# The one severity order, mildest first: a severity's rank is its index here.
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
STATUSES: Final[tuple[Status, ...]] = get_args(Status)
STAFF_OUTCOMES: Final[tuple[StaffOutcome, ...]] = get_args(StaffOutcome)
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
STEPS: Final[tuple[Step, ...]] = get_args(Step)
ATTEMPT_RESULTS: Final[tuple[AttemptResult, ...]] = get_args(AttemptResult)
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
    # Notified at once though not critical: never held back by quiet hours (a leak at 3 am floods
    # the flat below by the morning shift). Critical alerts always are.
    immediate: bool = False


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
    # A presence radar sees someone in the home, and nothing has moved for longer than the resident's
    # own longest stillness there (the inactivity limit of that context): present, but maybe unable to
    # move. Not "no activity" (someone is there) and not "out" (the radar sees her).
    "still_present": Kind(
        "high", Names("Present but not moving for too long", "有人在但长时间不动"), auto_resolve=False, welfare=True
    ),
    # No kitchen activity by the resident's usual time for a meal (alerts.meals): clears itself once
    # the kitchen is used (she ate late) or the day is over.
    "missed_meal": Kind(
        "medium", Names("No kitchen activity by the usual meal time", "未按时用餐（厨房无活动）"), auto_resolve=True, welfare=True
    ),
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
    # Home-safety alarms, raised the moment the alarm reports (alerts.event_rules), whoever is home:
    # a fire in an empty flat still spreads to the neighbours. Only staff resolve them: an alarm
    # that stops sounding may mean the battery or the sensor burnt, not that the danger is gone.
    "smoke": Kind("critical", Names("Smoke alarm", "烟雾报警"), auto_resolve=False, welfare=False),
    "gas": Kind("critical", Names("Gas leak alarm", "燃气泄漏报警"), auto_resolve=False, welfare=False),
    "co": Kind("critical", Names("Carbon monoxide alarm", "一氧化碳报警"), auto_resolve=False, welfare=False),
    "water_leak": Kind("high", Names("Water leak", "漏水报警"), auto_resolve=False, welfare=False, immediate=True),
    # The device's own tamper switch: its cover is open or it was taken off the wall.
    "device_tampered": Kind("medium", Names("Sensor tampered with", "传感器被拆动"), auto_resolve=True, welfare=False),
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

ACTION_NAMES: Final[Mapping[Action, Names]] = {
    "opened": Names("Opened", "警报产生"),
    "confirmed": Names("Raised after the wait", "等待后确认报警"),
    "updated": Names("Updated", "警报更新"),
    "acknowledged": Names("Claimed", "已认领"),
    "commented": Names("Note", "备注"),
    "assigned": Names("Assigned", "已指派"),
    "escalated": Names("Escalated", "已升级"),
    "attempted": Names("Protocol step", "处置步骤"),
    "resolved": Names("Resolved", "已解决"),
}
STEP_NAMES: Final[Mapping[Step, Names]] = {
    "call_resident": Names("Call the resident", "致电老人"),
    "call_contact": Names("Call an emergency contact", "致电紧急联系人"),
    "dispatch": Names("Send someone to the home", "派人上门"),
}
ATTEMPT_RESULT_NAMES: Final[Mapping[AttemptResult, Names]] = {
    "answered_ok": Names("Answered: all right", "已接通：安好"),
    "answered_needs_help": Names("Answered: needs help", "已接通：需要帮助"),
    "no_answer": Names("No answer", "无人接听"),
    "busy": Names("Busy", "占线"),
    "wrong_number": Names("Wrong or missing number", "号码错误或缺失"),
    "dispatched": Names("On the way", "已出发"),
    "on_site": Names("Arrived at the home", "已到达"),
}
# A resolution of an alert this severe must say what happened (the shift report and the family read it).
NOTE_REQUIRED_FROM: Final[Severity] = "critical"


def kind(name: str) -> Kind:
    """The catalogue entry of an alert kind; ValueError for a kind nobody declared."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown alert kind {name!r}") from None


def held_by_quiet_hours(kind_name: str, severity: str) -> bool:
    """Whether notifications of an alert wait for the end of the centre's quiet hours: only
    non-critical ones of kinds that are not ``immediate``."""
    return severity != "critical" and not kind(kind_name).immediate


def severity_rank(severity: str) -> int:
    """0 for the mildest severity, rising with urgency; ValueError for an unknown severity."""
    return SEVERITIES.index(severity)


def worst(first: Severity, second: Severity) -> Severity:
    return first if severity_rank(first) >= severity_rank(second) else second


def resolution_needs_note(severity: str) -> bool:
    """Staff must write a note to resolve an alert of ``severity`` (a fall closed in one click hides what happened)."""
    return severity_rank(severity) >= severity_rank(NOTE_REQUIRED_FROM)


def as_document() -> dict[str, Any]:
    """The whole catalogue as JSON-ready data, in display order (severities mildest first)."""
    return {
        "kinds": [
            {"key": key, "severity": k.severity, "auto_resolve": k.auto_resolve, **_names(k.names)} for key, k in KINDS.items()
        ],
        "severities": [
            {"key": s, "rank": severity_rank(s), "note_required": resolution_needs_note(s), **_names(SEVERITY_NAMES[s])}
            for s in SEVERITIES
        ],
        "statuses": [{"key": s, **_names(STATUS_NAMES[s])} for s in STATUSES],
        "outcomes": [{"key": o, "staff": o in STAFF_OUTCOMES, **_names(n)} for o, n in OUTCOME_NAMES.items()],
        "actions": [{"key": a, **_names(ACTION_NAMES[a])} for a in ACTIONS],
        "steps": [{"key": s, **_names(STEP_NAMES[s])} for s in STEPS],
        "attempt_results": [{"key": r, **_names(ATTEMPT_RESULT_NAMES[r])} for r in ATTEMPT_RESULTS],
    }


def _names(names: Names) -> dict[str, str]:
    return {"en": names.en, "zh": names.zh}
