"""A home's next moment of concern (alerts.deadlines), on pure snapshots.

The property that makes deadline-driven judging safe: between ``now`` and the deadline, with
nothing new arriving, judging the home gives what judging it at ``now`` gave, and at the deadline
itself the rule that comes due has turned. Each case below is a home where one rule is about to
turn; the judgement is sampled every 30 s (the old pass's grid) up to the deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.deadlines import RECHECK, Deadline, next_deadline
from alerts.inactivity import ActivityEvent
from alerts.meals import MealHabit
from alerts.presence import PresenceReport
from alerts.rules import DeviceInfo, HomeSnapshot, TemperatureWindow, evaluate_home
from eldercare.domain.rule_settings import DEFAULT_RULES, RuleSettings, lenient

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
HOLD = timedelta(minutes=5)
RECHECK_AFTER = timedelta(days=2)  # beyond every case: the rule, not the safety net, must come due


@dataclass
class State:
    armed: bool = True
    clear_since: datetime | None = None


def motion(at: datetime, room: str = "kitchen") -> ActivityEvent:
    return ActivityEvent(at, "motion", room)


def home(**kw: Any) -> HomeSnapshot:
    """A healthy home: gateway online, a motion sensor heard a minute ago, motion a minute ago."""
    values: dict[str, Any] = {
        "home_id": "h1",
        "zone": ZONE,
        "gateway_state": "online",
        "gateway_state_at": NOW - timedelta(days=1),
        "devices": [DeviceInfo("m1", "motion", "kitchen", NOW - timedelta(minutes=1), 90.0)],
        "events": [motion(NOW - timedelta(minutes=1))],
    }
    values.update(kw)
    return HomeSnapshot(**values)


def deadline(snapshot: HomeSnapshot, rules: RuleSettings = DEFAULT_RULES, **kw: Any) -> Deadline:
    states: Mapping[str, State] = kw.pop("states", {})
    return next_deadline(
        snapshot, rules, NOW, states=states, clear_hold=HOLD, relearn_at=kw.pop("relearn_at", None), recheck=RECHECK_AFTER
    )


def judged(snapshot: HomeSnapshot, rules: RuleSettings, at: datetime) -> dict[str, bool]:
    return {kind: found is not None for kind, found in evaluate_home(snapshot, rules, at).items()}


def assert_nothing_turns_before(snapshot: HomeSnapshot, rules: RuleSettings, due: Deadline) -> None:
    """Every 30 s from now until just before the deadline the judgement is the same as now."""
    before = judged(snapshot, rules, NOW)
    at = NOW + timedelta(seconds=30)
    while at < due.at:
        assert judged(snapshot, rules, at) == before, f"{at} changed before the deadline {due}"
        at += timedelta(seconds=30)
    assert judged(snapshot, rules, due.at - timedelta(microseconds=1)) == before


def rules(**groups: dict[str, Any]) -> RuleSettings:
    parsed, bad = lenient(groups)
    assert not bad
    return parsed


CASES: list[tuple[str, HomeSnapshot, RuleSettings, str, timedelta]] = [
    (
        "door left open",
        home(last_door_state="open", last_door_at=NOW - timedelta(minutes=10)),
        DEFAULT_RULES,
        "door_left_open",
        timedelta(minutes=5),
    ),
    (
        "a sensor falls silent",
        home(devices=[DeviceInfo("m1", "motion", "kitchen", NOW - timedelta(minutes=1), 90.0)]),
        rules(devices={"offline_after_s": 7200}, inactivity={"enabled": False}),
        "device_offline",
        timedelta(hours=27),  # no rhythm learned yet: its kind's default, capped (eldercare.domain.liveness)
    ),
    (
        "gateway offline",
        home(gateway_state="offline", gateway_state_at=NOW - timedelta(seconds=100)),
        DEFAULT_RULES,
        "gateway_offline",
        timedelta(seconds=200),
    ),
    (
        "bathroom",
        home(events=[motion(NOW - timedelta(minutes=2)), motion(NOW - timedelta(minutes=1), "bathroom")]),
        DEFAULT_RULES,
        "bathroom_dwell",
        timedelta(minutes=60),
    ),
    (
        "long lie",
        home(open_fall_at=NOW - timedelta(minutes=2), events=[motion(NOW - timedelta(minutes=3))]),
        DEFAULT_RULES,
        "long_lie",
        timedelta(minutes=10),
    ),
    (
        "cold window spans",
        home(temperatures=TemperatureWindow(NOW - timedelta(minutes=10), 14.0, 15.0)),
        rules(inactivity={"enabled": False}),
        "cold_home",
        timedelta(minutes=5),  # a window holding readings for half the hold (30 min) is enough
    ),
    (
        "absence begins",
        home(absences=[(NOW + timedelta(minutes=40), NOW + timedelta(days=2))]),
        DEFAULT_RULES,
        "absence",
        timedelta(minutes=40),
    ),
]


@pytest.mark.parametrize(("name", "snapshot", "settings", "kind", "within"), CASES, ids=[c[0] for c in CASES])
def test_nothing_turns_before_the_deadline_and_the_deadline_is_the_rule_that_comes_due(
    name: str, snapshot: HomeSnapshot, settings: RuleSettings, kind: str, within: timedelta
) -> None:
    due = deadline(snapshot, settings)
    assert due.kind == kind, due
    assert NOW < due.at <= NOW + within + timedelta(microseconds=1)
    assert_nothing_turns_before(snapshot, settings, due)
    if kind != "absence" and due.kind != RECHECK:
        assert judged(snapshot, settings, due.at).get(kind) is True, f"{kind} has not turned at {due.at}"


def test_the_silence_of_the_resident_comes_due_when_the_inactivity_rule_fires() -> None:
    """Untrained routine: its default limit by day; the deadline is the moment the rule fires."""
    snapshot = home(events=[motion(NOW - timedelta(minutes=1))], zone=ZoneInfo("UTC"))  # 14:00: day
    settings = rules(devices={"offline_after_s": 86_400})
    due = deadline(snapshot, settings)
    assert due.kind == "inactivity"
    assert due.at == NOW - timedelta(minutes=1) + timedelta(seconds=settings.inactivity.default_threshold_s)
    assert_nothing_turns_before(snapshot, settings, due)
    assert judged(snapshot, settings, due.at)["inactivity"]


def test_a_presence_radar_that_sees_someone_still_comes_due_as_still_present() -> None:
    radar = DeviceInfo("r1", "presence", "living_room", NOW - timedelta(minutes=1), None)
    snapshot = home(
        zone=ZoneInfo("UTC"),
        devices=[DeviceInfo("m1", "motion", "kitchen", NOW, 90.0), radar],
        presence=[PresenceReport("r1", "living_room", "detected", NOW - timedelta(minutes=1))],
        events=[motion(NOW - timedelta(minutes=1), "living_room")],
    )
    due = deadline(snapshot)
    assert due.kind in {"still_present", "inactivity"}  # the same moment: the radar turns it into stillness
    assert_nothing_turns_before(snapshot, DEFAULT_RULES, due)
    assert judged(snapshot, DEFAULT_RULES, due.at)["still_present"]


def test_a_missed_meal_comes_due_at_its_usual_time_plus_the_margin_then_at_midnight() -> None:
    breakfast = MealHabit("breakfast", 8 * 3600, 14, 14)
    local_morning = datetime(2026, 3, 2, 7, 0, tzinfo=ZONE)  # 07:00 local, nothing in the kitchen yet today
    snapshot = home(meal_habits=[breakfast], events=[motion(local_morning - timedelta(hours=8), "bedroom")])
    at_seven = next_deadline(
        snapshot, DEFAULT_RULES, local_morning, states={}, clear_hold=HOLD, relearn_at=None, recheck=timedelta(days=1)
    )
    margin = timedelta(seconds=DEFAULT_RULES.meals.margin_s)
    assert at_seven.kind in {"missed_meal", "not_up", "inactivity"}
    meal_due = local_morning.replace(hour=8) + margin
    assert at_seven.at <= meal_due
    after = next_deadline(
        snapshot, DEFAULT_RULES, meal_due, states={}, clear_hold=HOLD, relearn_at=None, recheck=timedelta(days=2)
    )
    assert after.at <= (local_morning + timedelta(days=1)).replace(hour=0), after  # at the latest the next midnight


def test_a_disarmed_rule_comes_due_when_it_may_re_arm_and_relearning_when_it_is_due() -> None:
    snapshot = home()
    rearm = deadline(snapshot, states={"door_left_open": State(armed=False, clear_since=NOW - timedelta(minutes=2))})
    assert (rearm.kind, rearm.at) == ("rearm", NOW + timedelta(minutes=3))
    relearn = deadline(snapshot, relearn_at=NOW + timedelta(minutes=7))
    assert relearn.kind == "relearn"
    assert relearn.at == NOW + timedelta(minutes=7)


def test_nothing_due_is_judged_again_after_the_recheck_at_the_latest() -> None:
    calm = home(devices=[], events=[], gateway_state=None, gateway_state_at=None)
    recheck = timedelta(hours=1)
    due = next_deadline(
        calm, rules(inactivity={"enabled": False}), NOW, states={}, clear_hold=HOLD, relearn_at=None, recheck=recheck
    )
    assert due == Deadline(NOW + recheck, RECHECK)
