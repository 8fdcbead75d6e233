"""The learned-routine inactivity rule on a synthetic resident (seeded, so failures reproduce)."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.inactivity import (
    ActivityEvent,
    InactivitySettings,
    RoutineModel,
    evaluate_inactivity,
    format_duration_en,
    format_duration_zh,
    learn_routine,
)

TZ = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2024, 3, 1)
SETTINGS = InactivitySettings()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Local time on the `day`-th day of the synthetic history."""
    d = FIRST_DAY + timedelta(days=day)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=TZ)


def motion(moment: datetime, area: str) -> ActivityEvent:
    return ActivityEvent(moment, "motion", area)


def one_day(rng: random.Random, day: int) -> list[ActivityEvent]:
    """Up about 07:00, out 10:00-11:00, kitchen and living room by day, TV at 19:00, bed at 23:00."""
    events = [motion(at(day, 0, 30), "bedroom"), motion(at(day, 3, rng.randint(0, 20)), "bathroom")]
    events += [motion(at(day, 3, 25), "bedroom"), motion(at(day, 5, rng.randint(0, 40)), "bedroom")]
    wake = at(day, 7, rng.randint(0, 20))
    for i, area in enumerate(["bedroom", "bathroom", "kitchen", "living_room", "kitchen"]):
        events.append(motion(wake + timedelta(minutes=4 * i), area))
    moment = wake + timedelta(minutes=25)
    while moment < at(day, 23):
        hour = moment.hour
        if hour == 10:
            events += [motion(moment, "entry"), ActivityEvent(moment, "door_open", "entry")]
            events.append(ActivityEvent(moment + timedelta(seconds=20), "door_close", "entry"))
            moment = at(day, 11, rng.randint(0, 10))
            events.append(ActivityEvent(moment, "door_open", "entry"))
            continue
        area = "living_room" if hour in (19, 20) else rng.choice(["kitchen", "living_room", "bathroom"])
        events.append(motion(moment, area))
        # Quiet TV evenings, busy days: the learned limit must differ between them.
        moment += timedelta(minutes=rng.randint(20, 50) if hour in (19, 20) else rng.randint(1, 8))
    events.append(motion(at(day, 23, rng.randint(0, 10)), "bedroom"))
    return sorted(events, key=lambda e: e.at)


def history(days: int, seed: int = 7) -> list[ActivityEvent]:
    rng = random.Random(seed)
    return [event for day in range(days) for event in one_day(rng, day)]


@pytest.fixture(scope="module")
def events() -> list[ActivityEvent]:
    return history(20)


@pytest.fixture(scope="module")
def model(events: list[ActivityEvent]) -> RoutineModel:
    return learn_routine(events, TZ, now=at(20, 0), settings=SETTINGS)


def slot(moment: datetime) -> int:
    return (moment.hour * 3600 + moment.minute * 60) // SETTINGS.slot_s


# --------------------------------------------------------------------------- inactivity


def test_learned_thresholds_follow_the_routine(model: RoutineModel) -> None:
    assert model.trusted
    assert model.days_of_history == 20
    _, kitchen_day = model.limits("kitchen", slot(at(0, 14)))
    _, bedroom_night = model.limits("bedroom", slot(at(0, 2)))
    assert kitchen_day == SETTINGS.floor_s  # busy days: only the floor is left
    assert bedroom_night > 2 * 3600  # sleep is long silence


def test_fires_just_over_the_learned_threshold_and_not_just_under(events: list[ActivityEvent], model: RoutineModel) -> None:
    today = [*events, motion(at(20, 14), "kitchen")]
    _, threshold_s = model.limits("kitchen", slot(at(20, 14)))
    # The threshold must hold around both evaluation times for the test to mean anything.
    assert model.limits("kitchen", slot(at(20, 14) + timedelta(seconds=threshold_s)))[1] == threshold_s
    limit = at(20, 14) + timedelta(seconds=threshold_s)

    assert evaluate_inactivity(model, today, now=limit - timedelta(minutes=1)) is None
    finding = evaluate_inactivity(model, today, now=limit + timedelta(minutes=1))
    assert finding is not None
    assert finding.kind == "inactivity"
    assert finding.context == "kitchen"
    assert finding.inactive_for == timedelta(seconds=threshold_s, minutes=1)
    assert finding.learned


def test_the_same_silence_is_normal_at_night_in_the_bedroom(events: list[ActivityEvent], model: RoutineModel) -> None:
    today = [*events, motion(at(20, 0, 30), "bedroom")]
    assert evaluate_inactivity(model, today, now=at(20, 2, 30)) is None
    kitchen = [*events, motion(at(20, 14), "kitchen")]
    assert evaluate_inactivity(model, kitchen, now=at(20, 16)) is not None


def test_the_same_silence_is_normal_in_front_of_the_tv_but_not_in_the_kitchen(
    events: list[ActivityEvent], model: RoutineModel
) -> None:
    start = at(20, 18, 15)
    _, tv_s = model.limits("living_room", slot(start))
    _, kitchen_s = model.limits("kitchen", slot(start))
    assert kitchen_s == SETTINGS.floor_s < tv_s  # 20-50 min TV pauses are learned, the kitchen is busy
    assert model.limits("living_room", slot(start + timedelta(seconds=tv_s)))[1] == tv_s
    tv = [*events, motion(start, "living_room")]
    kitchen = [*events, motion(start, "kitchen")]
    between = start + timedelta(seconds=(tv_s + kitchen_s) // 2)
    assert evaluate_inactivity(model, tv, now=between) is None
    assert evaluate_inactivity(model, kitchen, now=between) is not None
    assert evaluate_inactivity(model, tv, now=start + timedelta(seconds=tv_s - 60)) is None
    assert evaluate_inactivity(model, tv, now=start + timedelta(seconds=tv_s + 60)) is not None


def test_thresholds_are_the_pooled_usual_maximum_plus_margin(model: RoutineModel) -> None:
    pooled = model.usual_max_s["*"]
    for context, usual in model.usual_max_s.items():
        for k, usual_s in enumerate(usual):
            # No area is allowed a longer silence than all areas together showed at that time.
            assert usual_s <= pooled[k]
            expected = int(usual_s * SETTINGS.margin_factor + SETTINGS.margin_s)
            assert model.threshold_s[context][k] == min(SETTINGS.ceiling_s, max(SETTINGS.floor_s, expected))


def test_default_threshold_until_enough_history() -> None:
    young = history(3)
    model = learn_routine(young, TZ, now=at(3, 0), settings=SETTINGS)
    assert not model.trusted
    assert model.not_up_after_s is None
    today = [*young, motion(at(3, 12), "kitchen")]
    limit = at(3, 12) + timedelta(seconds=SETTINGS.default_threshold_s)
    assert evaluate_inactivity(model, today, now=limit - timedelta(minutes=1)) is None
    finding = evaluate_inactivity(model, today, now=limit + timedelta(minutes=1))
    assert finding is not None
    assert not finding.learned
    assert finding.threshold == timedelta(seconds=SETTINGS.default_threshold_s)
    assert "default limit 3 h" in finding.explanation_en
    assert "默认上限 3 小时" in finding.explanation_zh


# --------------------------------------------------------------------------- not up


def test_not_up_fires_past_the_usual_time_plus_margin(events: list[ActivityEvent], model: RoutineModel) -> None:
    assert model.not_up_after_s is not None
    limit = at(20, 0) + timedelta(seconds=model.not_up_after_s)
    # A restless sleeper: the bedroom sensor saw someone 25 minutes ago, nobody moved around.
    stream = [e for e in events if e.at < at(19, 23)] + [
        motion(at(19, 23), "bedroom"),
        motion(at(20, 2), "bedroom"),
        motion(limit - timedelta(minutes=25), "bedroom"),
    ]
    assert evaluate_inactivity(model, stream, now=limit - timedelta(minutes=1)) is None
    finding = evaluate_inactivity(model, stream, now=limit + timedelta(minutes=1))
    assert finding is not None
    assert finding.kind == "not_up"
    assert finding.usual_up_by is not None
    assert f"usually up by {finding.usual_up_by:%H:%M}" in finding.explanation_en
    assert f"通常 {finding.usual_up_by:%H:%M} 前已起床" in finding.explanation_zh


def test_not_up_is_quiet_once_the_resident_moved_around(events: list[ActivityEvent], model: RoutineModel) -> None:
    assert model.not_up_after_s is not None
    late = at(20, 0) + timedelta(seconds=model.not_up_after_s + 600)
    morning = [motion(at(20, 7, 2 * i), area) for i, area in enumerate(["bedroom", "bathroom", "kitchen", "living_room"])]
    stream = [e for e in events if e.at < at(19, 23)] + [
        motion(at(19, 23), "bedroom"),
        *morning,
        motion(late - timedelta(minutes=20), "living_room"),
    ]
    assert evaluate_inactivity(model, stream, now=late) is None


def test_a_history_that_begins_after_the_wake_up_learns_no_late_wake_up() -> None:
    # The engine learns from now - learn_days: the first morning is cut at the time of day of
    # `now`. Moving around after the cut (here 09:00; up at 07:00-07:20 every day) is no wake-up
    # time, and with a week of history one such day is the 90th percentile: "not up" would come
    # after 13:00, when the morning search has closed, i.e. never.
    full = history(8)
    noon = [motion(at(0, 12, 2 * i), area) for i, area in enumerate(["bedroom", "bathroom", "kitchen", "living_room"])]
    cut = sorted([e for e in full if e.at >= at(0, 9)] + noon, key=lambda e: e.at)
    model = learn_routine(cut, TZ, now=at(8, 6), settings=SETTINGS)
    whole_days = learn_routine([e for e in full if e.at >= at(1, 0)], TZ, now=at(8, 6), settings=SETTINGS)
    assert model.trusted
    assert model.usual_wake_s == whole_days.usual_wake_s
    assert model.usual_wake_s is not None
    assert 7 * 3600 <= model.usual_wake_s <= 7 * 3600 + 20 * 60


# --------------------------------------------------------------------------- away from home


def test_door_then_silence_is_out_not_inactive(events: list[ActivityEvent], model: RoutineModel) -> None:
    leave = at(20, 14)
    stream = [
        *events,
        motion(leave, "kitchen"),
        motion(leave + timedelta(minutes=1), "entry"),
        ActivityEvent(leave + timedelta(minutes=2), "door_open", "entry"),
        ActivityEvent(leave + timedelta(minutes=2, seconds=10), "door_close", "entry"),
    ]
    assert evaluate_inactivity(model, stream, now=leave + timedelta(hours=3)) is None
    # Far beyond any learned absence, a separate long-absence finding.
    finding = evaluate_inactivity(model, stream, now=leave + timedelta(hours=30))
    assert finding is not None
    assert finding.kind == "long_absence"


def test_silence_after_the_entry_may_be_an_absence_without_door_event(events: list[ActivityEvent], model: RoutineModel) -> None:
    stream = [*events, motion(at(20, 14), "entry")]
    assert evaluate_inactivity(model, stream, now=at(20, 14) + timedelta(seconds=model.absence_threshold_s - 60)) is None
    assert evaluate_inactivity(model, stream, now=at(20, 14) + timedelta(seconds=model.absence_threshold_s + 60)) is not None


def test_absence_calendar_pauses_and_silence_counts_from_its_end(events: list[ActivityEvent], model: RoutineModel) -> None:
    stream = [*events, motion(at(20, 9), "kitchen")]
    hospital = [(at(20, 9, 30), at(22, 12))]
    assert evaluate_inactivity(model, stream, now=at(20, 12), absences=hospital) is None
    assert evaluate_inactivity(model, stream, now=at(21, 12), absences=hospital) is None
    assert evaluate_inactivity(model, stream, now=at(22, 12, 10), absences=hospital) is None
    finding = evaluate_inactivity(model, stream, now=at(22, 15), absences=hospital)
    assert finding is not None
    assert finding.since == at(22, 12)
    assert finding.inactive_for == timedelta(hours=3)


# --------------------------------------------------------------------------- explanations, storage, inputs


def test_explanations_carry_the_durations_in_both_languages(events: list[ActivityEvent], model: RoutineModel) -> None:
    stream = [*events, motion(at(20, 12, 20), "kitchen")]
    finding = evaluate_inactivity(model, stream, now=at(20, 15))
    assert finding is not None
    assert finding.inactive_for == timedelta(hours=2, minutes=40)
    assert "no movement for 2 h 40 min" in finding.explanation_en
    assert f"usually at most {format_duration_en(finding.usual_max)}" in finding.explanation_en
    assert "已 2 小时 40 分钟无活动" in finding.explanation_zh
    assert f"此时段通常最多 {format_duration_zh(finding.usual_max)}" in finding.explanation_zh
    assert json.loads(json.dumps(finding.to_dict()))["inactive_for_s"] == 9600


@pytest.mark.parametrize(
    ("duration", "en", "zh"),
    [
        (timedelta(hours=2, minutes=40, seconds=59), "2 h 40 min", "2 小时 40 分钟"),
        (timedelta(minutes=45), "45 min", "45 分钟"),
        (timedelta(hours=3), "3 h", "3 小时"),
    ],
)
def test_duration_formats(duration: timedelta, en: str, zh: str) -> None:
    assert format_duration_en(duration) == en
    assert format_duration_zh(duration) == zh


def test_model_round_trips_through_json(model: RoutineModel) -> None:
    restored = RoutineModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored == model
    assert restored.zone == TZ


def test_learning_is_recomputable(events: list[ActivityEvent], model: RoutineModel) -> None:
    shuffled = list(events)
    random.Random(1).shuffle(shuffled)
    assert learn_routine(shuffled, TZ, now=at(20, 0), settings=SETTINGS) == model


def test_naive_datetimes_are_rejected(events: list[ActivityEvent], model: RoutineModel) -> None:
    naive = datetime(2024, 3, 21, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_inactivity(model, events, now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        learn_routine([*events, motion(naive, "kitchen")], TZ, now=at(21, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        learn_routine(events, TZ, now=naive)
