"""The rules: pure functions of a home's stored state and ``now``. No I/O, no clock.

``evaluate_home`` returns, per alert kind it could judge, a Finding (the condition holds) or None
(it is clear). A kind missing from the result could not be judged this time (sensors offline,
absence calendar, too little data, readings in the hysteresis band): its state must not change.

Sensor health comes first: when the gateway or a motion sensor is offline, staff get a
device/gateway alert and the welfare rules (inactivity, not up, wandering, bathroom, long lie)
are not judged at all, so a dead sensor never looks like an inactive person. A home whose gateway
is online but which has no motion sensor at all gets a ``no_motion_sensor`` alert: its welfare
checks cannot run, and staff must know rather than trust a silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.findings import Finding, clock_text, finding, minutes_en, minutes_zh, room_en, room_zh
from alerts.inactivity import ActivityEvent, InactivitySettings, RoutineModel, evaluate_inactivity, learn_routine
from alerts.meals import MealHabit, missed_meal
from alerts.presence import PresenceReport, left_the_room, still_present
from eldercare.domain import liveness
from eldercare.domain.rule_settings import InactivityRule, RuleSettings

# Motion sensors fire as a person walks to the door and for a while after (PIR hold time): motion
# this soon after a door opening or a fall is the same person leaving or falling, not a return
# or a recovery.
SAME_MOVEMENT_GRACE_S = 90
FALL_KIND_PREFIX = "fall"
# The devices the welfare checks watch a person with: PIRs, and presence radars (which report motion
# while the person moves, and presence while she is still).
WATCHING_KINDS = frozenset({"motion", "presence"})
Absence = tuple[datetime, datetime]


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    kind: str
    room: str | None
    last_seen_at: datetime
    battery_pct: float | None
    # The device's own flags (zigbee IAS zone status); None when it never reported them.
    battery_low: bool | None = None
    tamper: bool | None = None
    # What the gateway's device network (zigbee2mqtt) says of it, and when; None: not tracked.
    availability: str | None = None
    availability_at: datetime | None = None
    # Its usual longest silence between reports, learned by ingest from this many gaps since it was first seen.
    usual_gap_s: float | None = None
    gaps_learned: int = 0
    first_seen_at: datetime | None = None

    @property
    def heard(self) -> liveness.Heard:
        return liveness.Heard(
            self.kind,
            self.last_seen_at,
            self.usual_gap_s,
            self.gaps_learned,
            self.first_seen_at,
            self.availability,
            self.availability_at,
        )

    def silence_limit_s(self, floor_s: float) -> float:
        return self.heard.silence_limit_s(floor_s)

    def usual_silence_s(self) -> float:
        return self.heard.usual_silence_s()

    def network_says_offline(self) -> bool:
        return self.heard.network_says_offline()

    def offline(self, now: datetime, floor_s: float) -> bool:
        """Silent beyond what this device normally is (eldercare.domain.liveness), or marked offline."""
        return self.heard.offline(now, floor_s)


@dataclass(frozen=True)
class TemperatureWindow:
    """The home's temperature readings within the cold rule's window, summarised by the database."""

    first_at: datetime
    min_c: float
    max_c: float


@dataclass(frozen=True)
class HomeSnapshot:
    """Everything the periodic rules read about one home, loaded in one transaction."""

    home_id: str
    zone: ZoneInfo
    gateway_state: str | None = None
    gateway_state_at: datetime | None = None
    last_door_at: datetime | None = None
    last_door_state: str | None = None
    devices: Sequence[DeviceInfo] = ()
    # motion (with area), door_open and door_close, sorted by time, the last day or more
    events: Sequence[ActivityEvent] = ()
    # every thermometer's readings over the cold rule's window (None: no reading in it)
    temperatures: TemperatureWindow | None = None
    # when the fall of the still-unresolved fall alert happened
    open_fall_at: datetime | None = None
    absences: Sequence[Absence] = ()
    routine: RoutineModel | None = None
    # every presence radar's latest presence event (alerts.presence)
    presence: Sequence[PresenceReport] = ()
    # the meals the resident regularly takes at home (alerts.meals), learned with the routine
    meal_habits: Sequence[MealHabit] = ()
    extra: dict[str, Any] = field(default_factory=dict)


Result = dict[str, Finding | None]


def evaluate_home(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> Result:
    result: Result = {}
    sensors_ok = _device_health(home, rules, now, result)
    _door_left_open(home, rules, now, result)
    _cold_home(home, rules, now, result)
    _low_battery(home, rules, result)
    _tampered(home, rules, result)
    if sensors_ok and rules.fall.enabled:
        result["long_lie"] = long_lie(home, rules, now)
    if not sensors_ok or any(start <= now < end for start, end in home.absences):
        return result
    _welfare(home, rules, now, result)
    return result


def _welfare(home: HomeSnapshot, rules: RuleSettings, now: datetime, result: Result) -> None:
    kinds = ("inactivity", "bed_exit", "not_up", "long_absence")
    # A radar that is alive and sees someone: the home is occupied (alerts.presence).
    present = present_radars(home, rules, now)
    result["bathroom_dwell"] = bathroom_dwell(home, rules, now) if rules.bathroom.enabled else None
    if rules.inactivity.enabled:
        found = inactivity(home, rules, now)
        for kind in kinds:
            result[kind] = found if found is not None and found.kind == kind and not (present and kind != "not_up") else None
        still = (
            still_present(routine_of(home, rules, now), home.events, present, now=now, absences=home.absences)
            if present
            else None
        )
        result["still_present"] = None if result["bathroom_dwell"] is not None else still
    else:
        result.update(dict.fromkeys((*kinds, "still_present")))
    wandering = rules.night_wandering.enabled and not present
    result["night_wandering"] = night_wandering(home, rules, now) if wandering else None
    meals = rules.meals
    result["missed_meal"] = (
        missed_meal(home.meal_habits, home.events, home.zone, now=now, margin_s=meals.margin_s) if meals.enabled else None
    )


def present_radars(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> list[PresenceReport]:
    """The radars reporting presence now: the last word of a dead radar is nobody's presence."""
    alive = {d.id for d in home.devices if not d.offline(now, rules.devices.offline_after_s)}
    return [r for r in home.presence if r.state == "detected" and r.device_id in alive and r.at <= now]


# --------------------------------------------------------------------------- sensor health


def _device_health(home: HomeSnapshot, rules: RuleSettings, now: datetime, result: Result) -> bool:
    """Fill gateway_offline and device_offline; True when the welfare rules can be trusted."""
    cfg = rules.devices
    gateway = gateway_offline(home, cfg.gateway_offline_after_s, now)
    stale = [d for d in home.devices if d.offline(now, cfg.offline_after_s)]
    if cfg.enabled:
        result["gateway_offline"] = gateway
        offline = _device_offline_finding(home, stale, now, cfg.offline_after_s) if stale and gateway is None else None
        result["device_offline"] = offline
    motion = [d for d in home.devices if d.kind in WATCHING_KINDS]
    if cfg.enabled:
        result["no_motion_sensor"] = None if motion else no_motion_sensor(home, cfg.offline_after_s, now)
    # Judged even when the alert is disabled: offline sensors must never raise a false inactivity.
    gateway_down = home.gateway_state == "offline"
    return bool(motion) and not gateway_down and not any(d.kind in WATCHING_KINDS for d in stale)


def gateway_offline(home: HomeSnapshot, after_s: int, now: datetime) -> Finding | None:
    if home.gateway_state != "offline" or home.gateway_state_at is None:
        return None
    down = (now - home.gateway_state_at).total_seconds()
    if down < after_s:
        return None
    since = clock_text(home.gateway_state_at, home.zone)
    return finding(
        "gateway_offline",
        f"The home gateway has been offline since {since} ({minutes_en(down)}); no sensor data is arriving.",
        f"家庭网关自 {since} 起离线（{minutes_zh(down)}），传感器数据无法上传。",
        {"offline_since": home.gateway_state_at.isoformat()},
    )


def no_motion_sensor(home: HomeSnapshot, after_s: int, now: datetime) -> Finding | None:
    """The gateway has been online for ``after_s`` (time to pair the sensors) and no motion sensor
    has ever reported; None when the gateway is not online (gateway_offline speaks for it)."""
    if home.gateway_state != "online" or home.gateway_state_at is None:
        return None
    if (now - home.gateway_state_at).total_seconds() < after_s:
        return None
    others = len(home.devices)
    return finding(
        "no_motion_sensor",
        f"No motion sensor has reported from this home ({others} other device(s) do): inactivity, "
        "not-up, night-wandering and bathroom checks cannot run. Pair or replace a motion sensor.",
        f"该住户没有任何人体移动传感器上报数据（其他设备 {others} 个）：无活动、未起床、夜间外出和卫生间停留检查均无法进行。"
        "请配对或更换人体移动传感器。",
        {"devices": [{"id": d.id, "kind": d.kind} for d in home.devices]},
    )


def _device_offline_finding(home: HomeSnapshot, stale: Sequence[DeviceInfo], now: datetime, floor_s: float) -> Finding:
    names_en = ", ".join(f"{d.kind} ({room_en(d.room)}) {_why_en(d, now, floor_s)}" for d in stale)
    names_zh = "、".join(f"{room_zh(d.room)}的{d.kind}传感器{_why_zh(d, now, floor_s)}" for d in stale)
    return finding(
        "device_offline",
        f"{len(stale)} sensor(s) offline: {names_en}. Inactivity is not judged until they are back.",
        f"{len(stale)} 个传感器已离线：{names_zh}。恢复前暂停无活动判断。",
        {
            "devices": [
                {
                    "id": d.id,
                    "kind": d.kind,
                    "last_seen_at": d.last_seen_at.isoformat(),
                    "limit_s": round(d.silence_limit_s(floor_s)),
                    "network_offline": d.network_says_offline(),
                }
                for d in stale
            ]
        },
    )


def _why_en(device: DeviceInfo, now: datetime, floor_s: float) -> str:
    if device.network_says_offline():
        return "marked offline by the gateway's zigbee network"
    silent = minutes_en((now - device.last_seen_at).total_seconds())
    usual = minutes_en(device.usual_silence_s())
    return f"silent for {silent}, beyond its limit of {minutes_en(device.silence_limit_s(floor_s))} (it reports within {usual})"


def _why_zh(device: DeviceInfo, now: datetime, floor_s: float) -> str:
    if device.network_says_offline():
        return "（网关的 Zigbee 网络报告其离线）"
    silent = minutes_zh((now - device.last_seen_at).total_seconds())
    usual = minutes_zh(device.usual_silence_s())
    return f"（已 {silent} 无上报，超过其上限 {minutes_zh(device.silence_limit_s(floor_s))}；平时 {usual} 内必有上报）"


# --------------------------------------------------------------------------- home safety


def _door_left_open(home: HomeSnapshot, rules: RuleSettings, now: datetime, result: Result) -> None:
    cfg = rules.door_open
    if not cfg.enabled:
        result["door_left_open"] = None
        return
    if home.last_door_state != "open" or home.last_door_at is None:
        result["door_left_open"] = None
        return
    open_s = (now - home.last_door_at).total_seconds()
    if open_s <= cfg.max_open_s:
        result["door_left_open"] = None
        return
    since = clock_text(home.last_door_at, home.zone)
    result["door_left_open"] = finding(
        "door_left_open",
        f"The front door has been open since {since} ({minutes_en(open_s)}).",
        f"大门自 {since} 起一直开着（{minutes_zh(open_s)}）。",
        {"open_since": home.last_door_at.isoformat()},
    )


def _cold_home(home: HomeSnapshot, rules: RuleSettings, now: datetime, result: Result) -> None:
    cfg = rules.cold
    if not cfg.enabled:
        result["cold_home"] = None
        return
    window = home.temperatures
    if window is None:
        return  # no thermometer data: cannot judge
    spans_window = (now - window.first_at).total_seconds() >= cfg.hold_s / 2
    if window.max_c < cfg.below_c and spans_window:
        result["cold_home"] = finding(
            "cold_home",
            f"The home has been cold for {minutes_en(cfg.hold_s)}: at most {window.max_c:.1f} °C (limit {cfg.below_c:.1f} °C).",
            f"室内持续低温 {minutes_zh(cfg.hold_s)}：最高 {window.max_c:.1f} °C（下限 {cfg.below_c:.1f} °C）。",
            {"max_c": window.max_c, "below_c": cfg.below_c},
        )
    elif window.min_c >= cfg.below_c + cfg.clear_margin_c:
        result["cold_home"] = None


def _low_battery(home: HomeSnapshot, rules: RuleSettings, result: Result) -> None:
    """Below the threshold, or the device's own low-battery flag (alarms that report no percentage)."""
    cfg = rules.battery
    if not cfg.enabled:
        result["low_battery"] = None
        return
    known = [d for d in home.devices if d.battery_pct is not None]
    low = [d for d in home.devices if d.battery_low or (d.battery_pct is not None and d.battery_pct < cfg.below_pct)]
    if low:
        result["low_battery"] = finding(
            "low_battery",
            "Battery low: " + ", ".join(f"{d.kind} ({room_en(d.room)}) {_battery_en(d)}" for d in low) + ".",
            "电量低：" + "、".join(f"{room_zh(d.room)}的{d.kind} {_battery_zh(d)}" for d in low) + "。",
            {"devices": [{"id": d.id, "kind": d.kind, "battery_pct": d.battery_pct, "battery_low": d.battery_low} for d in low]},
        )
    elif all(d.battery_pct is not None and d.battery_pct >= cfg.clear_above_pct for d in known):
        result["low_battery"] = None


def _battery_en(device: DeviceInfo) -> str:
    return f"{device.battery_pct:.0f}%" if device.battery_pct is not None else "(reported by the device)"


def _battery_zh(device: DeviceInfo) -> str:
    return f"{device.battery_pct:.0f}%" if device.battery_pct is not None else "（设备自报）"


def _tampered(home: HomeSnapshot, rules: RuleSettings, result: Result) -> None:
    """A sensor whose tamper switch is open (cover off, taken down) watches nothing reliably."""
    tampered = [d for d in home.devices if d.tamper]
    if not rules.devices.enabled or not tampered:
        result["device_tampered"] = None
        return
    result["device_tampered"] = finding(
        "device_tampered",
        "Tamper switch open (cover off or taken down): "
        + ", ".join(f"{d.kind} ({room_en(d.room)})" for d in tampered)
        + ". Ask the resident or check on the next visit.",
        "传感器防拆开关被触发（外壳打开或被取下）："
        + "、".join(f"{room_zh(d.room)}的{d.kind}" for d in tampered)
        + "。请询问老人或下次上门时检查。",
        {"devices": [{"id": d.id, "kind": d.kind, "room": d.room} for d in tampered]},
    )


# --------------------------------------------------------------------------- welfare


def _moved_since(home: HomeSnapshot, moment: datetime, now: datetime) -> bool:
    """Motion after ``moment`` (past the grace in which the same movement still registers)."""
    after = moment + timedelta(seconds=SAME_MOVEMENT_GRACE_S)
    return any(e.kind == "motion" and after < e.at <= now for e in home.events)


def long_lie(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> Finding | None:
    fall_at = home.open_fall_at
    if fall_at is None:
        return None
    lying_s = (now - fall_at).total_seconds()
    if lying_s < rules.fall.long_lie_s:
        return None
    if _moved_since(home, fall_at, now):
        return None
    at = clock_text(fall_at, home.zone)
    return finding(
        "long_lie",
        f"No movement since the fall at {at} ({minutes_en(lying_s)}): the person may be unable to get up.",
        f"{at} 跌倒后已 {minutes_zh(lying_s)}无任何活动，老人可能无法自行起身。",
        {"fall_at": fall_at.isoformat(), "lying_s": int(lying_s)},
    )


def inactivity_settings(rule: InactivityRule) -> InactivitySettings:
    """The learning knobs a resident's inactivity settings choose (the rest keep the model's values)."""
    return InactivitySettings(
        min_history_days=rule.min_history_days,
        default_threshold_s=rule.default_threshold_s,
        default_night_threshold_s=rule.default_night_threshold_s,
        floor_s=rule.floor_s,
        ceiling_s=rule.ceiling_s,
    )


def inactivity(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> Finding | None:
    """The learned-routine rule; a conservative untrained model until enough days exist."""
    found = evaluate_inactivity(routine_of(home, rules, now), list(home.events), now=now, absences=list(home.absences))
    if found is None:
        return None
    return finding(found.kind, found.explanation_en, found.explanation_zh, found.to_dict())


def routine_of(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> RoutineModel:
    return home.routine or learn_routine([], home.zone, now=now, settings=inactivity_settings(rules.inactivity))


def _at_night(moment: datetime, zone: ZoneInfo, start: time, end: time) -> bool:
    local = moment.astimezone(zone).time()
    return start <= local < end if start <= end else local >= start or local < end


def night_wandering(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> Finding | None:
    cfg = rules.night_wandering
    opened = night_door_opened(home, rules, now)
    if opened is None:
        return None
    out_s = (now - opened).total_seconds()
    if out_s <= cfg.return_within_s:
        return None
    if _moved_since(home, opened, now):
        return None
    at = clock_text(opened, home.zone)
    return finding(
        "night_wandering",
        f"The front door opened at night ({at}) and nobody has been back inside for {minutes_en(out_s)}.",
        f"夜间 {at} 大门被打开，之后 {minutes_zh(out_s)}室内无人活动，老人可能夜间外出未归。",
        {"door_opened_at": opened.isoformat(), "out_s": int(out_s)},
    )


def bathroom_dwell(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> Finding | None:
    """Motion (or a radar's presence) in the bathroom and nowhere else since entering it, for too
    long; a radar in the bathroom that saw the person leave ends it."""
    room = rules.bathroom.room
    entered = bathroom_entered(home, room, now)
    if entered is None:
        return None
    dwell_s = (now - entered).total_seconds()
    if dwell_s <= rules.bathroom.max_dwell_s:
        return None
    at = clock_text(entered, home.zone)
    return finding(
        "bathroom_dwell",
        f"In the {room_en(room)} since {at} ({minutes_en(dwell_s)}), longer than {minutes_en(rules.bathroom.max_dwell_s)}.",
        f"自 {at} 起一直在{room_zh(room)}（{minutes_zh(dwell_s)}），超过 {minutes_zh(rules.bathroom.max_dwell_s)}。",
        {"entered_at": entered.isoformat(), "dwell_s": int(dwell_s)},
    )


def bathroom_entered(home: HomeSnapshot, room: str, now: datetime) -> datetime | None:
    """When the person went into ``room`` and has been nowhere else since (None: not there, or a
    radar in it saw her leave)."""
    entered: datetime | None = None
    for event in reversed([e for e in home.events if e.at <= now]):
        if event.kind != "motion" or event.area != room:
            break
        entered = event.at
    if entered is None or left_the_room(home.presence, room, entered):
        return None
    return entered


def night_door_opened(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> datetime | None:
    """The last time the front door opened, when that was at night (night wandering's start)."""
    cfg = rules.night_wandering
    doors = [e for e in home.events if e.kind == "door_open" and e.at <= now]
    if not doors or not _at_night(doors[-1].at, home.zone, cfg.night_start, cfg.night_end):
        return None
    return doors[-1].at
