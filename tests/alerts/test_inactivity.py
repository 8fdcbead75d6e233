"""The learned-routine inactivity rule on synthetic residents (tests/alerts/inactivity_homes.py)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.inactivity import (
    ActivityEvent,
    Context,
    InactivitySettings,
    RoutineModel,
    Tracker,
    alarm_due,
    evaluate_inactivity,
    format_duration_en,
    format_duration_zh,
    learn_routine,
)
from tests.alerts.inactivity_homes import TZ, Resident, at, door, motion

DAYS = 21
SETTINGS = InactivitySettings()


@pytest.fixture(scope="module")
def events() -> list[ActivityEvent]:
    """The learning history, then the next morning up to 09:00 (up and about, out at 10:00)."""
    return [e for e in Resident().history(DAYS + 1) if e.at < at(DAYS, 9)]


@pytest.fixture(scope="module")
def model(events: list[ActivityEvent]) -> RoutineModel:
    return learn_routine(events, TZ, now=at(DAYS, 0), settings=SETTINGS)


def test_the_fixture_morning_is_up(events: list[ActivityEvent], model: RoutineModel) -> None:
    assert _context_after(model, events).up(model.night)


def due_after(model: RoutineModel, stream: list[ActivityEvent]) -> datetime:
    tracker = Tracker(model.zone, model.tracker)
    for event in stream:
        tracker.push(event)
    due = alarm_due(model, tracker)
    assert due is not None
    return due.at


# --------------------------------------------------------------------------- learned limits


def test_busy_places_by_day_get_short_limits_and_the_tv_longer(events: list[ActivityEvent], model: RoutineModel) -> None:
    assert model.trusted
    assert model.days_of_history == DAYS
    kitchen = due_after(model, [*events, motion(at(DAYS, 14), "kitchen")]) - at(DAYS, 14)
    tv = due_after(model, [*events, motion(at(DAYS, 19, 30), "living_room")]) - at(DAYS, 19, 30)
    # Busy days (pauses of 1-8 min): only the learned floor is left; TV pauses are 20-50 min.
    assert timedelta(minutes=5) <= kitchen <= timedelta(minutes=30)
    assert timedelta(minutes=50) <= tv <= timedelta(hours=2)
    assert model.home is not None
    assert kitchen == timedelta(seconds=model.home.floors_s[0])


def test_fires_exactly_at_the_due_time(events: list[ActivityEvent], model: RoutineModel) -> None:
    stream = [*events, motion(at(DAYS, 14), "kitchen")]
    due = due_after(model, stream)
    assert evaluate_inactivity(model, stream, now=due - timedelta(seconds=1)) is None
    finding = evaluate_inactivity(model, stream, now=due)
    assert finding is not None
    assert finding.kind == "inactivity"
    assert finding.context == "kitchen"
    assert finding.since == at(DAYS, 14)
    assert finding.inactive_for == due - at(DAYS, 14) == finding.threshold
    assert finding.learned


@pytest.mark.slow  # 40 hypothesis examples, each learning a routine
@settings(max_examples=40, deadline=None)
@given(offset_s=st.integers(min_value=0, max_value=14 * 3600))
def test_evaluation_fires_if_and_only_if_the_due_time_has_come(offset_s: int) -> None:
    stream = [e for e in Resident().history(DAYS + 1) if e.at < at(DAYS, 9)]
    model = _shared_model()
    last = stream[-1].at
    now = last + timedelta(seconds=offset_s)
    assert (evaluate_inactivity(model, stream, now=now) is not None) == (now >= due_after(model, stream))


_MODEL: list[RoutineModel] = []


def _shared_model() -> RoutineModel:
    if not _MODEL:
        _MODEL.append(learn_routine(Resident().history(DAYS), TZ, now=at(DAYS, 0), settings=SETTINGS))
    return _MODEL[0]


def test_without_a_bed_sensor_the_night_is_one_context(events: list[ActivityEvent], model: RoutineModel) -> None:
    # After the bathroom at 03:15 the resident may walk back to bed unseen: any silence may be sleep,
    # so the night's longest silence is the limit; by day the same bathroom is a short limit.
    night = due_after(model, [*events, motion(at(DAYS + 1, 3, 15), "bathroom")]) - at(DAYS + 1, 3, 15)
    day = due_after(model, [*events, motion(at(DAYS, 14), "bathroom")]) - at(DAYS, 14)
    assert night >= timedelta(hours=3)
    assert day <= timedelta(minutes=30)
    night_limit = model.limits["home|night"]
    assert night_limit.usual_max_s >= 3 * 3600  # 23:00 to the bathroom trip about 03:15
    assert "No bed sensor: at night a collapse is noticed only by the not-up check" in " ".join(model.coverage.notes_en)


def test_default_limits_until_enough_history() -> None:
    young = [e for e in Resident().history(4) if e.at < at(3, 9)]
    model = learn_routine(young, TZ, now=at(3, 0), settings=SETTINGS)
    assert not model.trusted
    assert model.coverage.level == "untrained"
    stream = [*young, motion(at(3, 12), "kitchen")]
    limit = at(3, 12) + timedelta(seconds=SETTINGS.default_threshold_s)
    assert evaluate_inactivity(model, stream, now=limit - timedelta(minutes=1)) is None
    finding = evaluate_inactivity(model, stream, now=limit)
    assert finding is not None
    assert not finding.learned
    assert "default limit 3 h" in finding.explanation_en
    assert "默认上限 3 小时" in finding.explanation_zh


# --------------------------------------------------------------------------- uncertainty, weekly rhythm, calibration


def test_a_slot_seen_on_few_days_defers_to_broader_context() -> None:
    # TV at 15:00 only on two days: those two quiet spells are no "usual" for that slot.
    base = Resident().history(DAYS)
    extra = [motion(at(d, 15, 0), "living_room") for d in (5, 12)]
    quiet = [
        e
        for e in base
        if not (e.at.day in (at(5, 0).day, at(12, 0).day) and at(0, 15).hour == e.at.hour and e.area == "living_room")
    ]
    model = learn_routine(sorted(quiet + extra, key=ActivityEvent.order), TZ, now=at(DAYS, 0), settings=SETTINGS)
    limit = model.limit(_context_after(model, [*base, motion(at(DAYS, 15), "living_room")]))
    assert limit is not None
    assert limit.days >= 3  # the two-day slot is not what decides


def test_an_hour_of_the_clock_is_its_own_context_when_the_routine_keeps_to_it(
    events: list[ActivityEvent], model: RoutineModel
) -> None:
    # 18:00-19:00 the living room is one of three busy rooms (pauses of 1-8 min); from 19:00 it is
    # TV (20-50 min). Both are in the 18:00-21:00 band: the hour tells them apart.
    busy = due_after(model, [*events, motion(at(DAYS, 18, 10), "living_room")]) - at(DAYS, 18, 10)
    tv = due_after(model, [*events, motion(at(DAYS, 19, 30), "living_room")]) - at(DAYS, 19, 30)
    assert model.home is not None
    assert model.home.depth >= 5
    assert busy < timedelta(minutes=30) < tv
    limit = model.limit(_context_after(model, [*events, motion(at(DAYS, 18, 10), "living_room")]))
    assert limit is not None
    assert limit.key.endswith("|h18")


def test_the_weekly_rhythm_is_learned_when_the_history_shows_one() -> None:
    resident = Resident(weekend_lie_in=True)
    model = learn_routine(resident.history(DAYS), TZ, now=at(DAYS, 0), settings=SETTINGS)
    assert model.usual_wake_s["weekend"] - model.usual_wake_s["weekday"] >= 90 * 60
    saturday = next(d for d in range(DAYS, DAYS + 7) if at(d, 12).weekday() == 5)
    monday = next(d for d in range(DAYS, DAYS + 7) if at(d, 12).weekday() == 0)
    weekday_up = at(monday, 0) + timedelta(seconds=model.usual_wake_s["weekday"] + model.not_up_margin_s)
    history = resident.history(DAYS + 7)
    # Asleep until 09:10 on Saturday: the weekday's not-up time is no reason for an alarm.
    asleep = [e for e in history if e.at < at(saturday, 3, 30)]
    late = weekday_up.replace(year=at(saturday, 0).year, month=at(saturday, 0).month, day=at(saturday, 0).day)
    assert evaluate_inactivity(model, asleep, now=late + timedelta(minutes=5)) is None


def test_per_resident_calibration_widens_an_irregular_residents_limits() -> None:
    regular = learn_routine(Resident(tv_quiet_min=(25, 30)).history(DAYS), TZ, now=at(DAYS, 0), settings=SETTINGS)
    irregular = learn_routine(Resident(tv_quiet_min=(5, 110)).history(DAYS), TZ, now=at(DAYS, 0), settings=SETTINGS)
    tv_regular = due_after(regular, [*Resident().history(DAYS), motion(at(DAYS, 19, 30), "living_room")])
    tv_irregular = due_after(irregular, [*Resident().history(DAYS), motion(at(DAYS, 19, 30), "living_room")])
    assert tv_irregular - tv_regular >= timedelta(minutes=60)
    assert regular.home is not None
    assert irregular.home is not None
    assert regular.home.loo_false_alarms <= 1
    assert irregular.home.loo_false_alarms <= 1


def _context_after(model: RoutineModel, stream: list[ActivityEvent]) -> Context:
    tracker = Tracker(model.zone, model.tracker)
    for event in stream:
        tracker.push(event)
    return tracker.context


# --------------------------------------------------------------------------- away from home


def test_door_then_silence_is_out_and_judged_against_own_absences(events: list[ActivityEvent], model: RoutineModel) -> None:
    leave = at(DAYS, 14)
    stream = [
        *events,
        motion(leave, "kitchen"),
        motion(leave + timedelta(minutes=1), "entry"),
        *door(leave + timedelta(minutes=2)),
    ]
    assert evaluate_inactivity(model, stream, now=leave + timedelta(hours=1)) is None
    found = evaluate_inactivity(model, stream, now=leave + timedelta(hours=30))
    assert found is not None
    assert found.kind == "long_absence"
    assert "the longest absence in" in found.explanation_en
    assert "最长" in found.explanation_zh


def test_long_absences_are_learned_not_capped_at_a_day() -> None:
    resident = Resident(away_days=(8, 9))  # out from 09:30 on day 8 until 09:00 on day 10: 47.5 h
    model = learn_routine(resident.history(DAYS), TZ, now=at(DAYS, 0), settings=SETTINGS)
    history = resident.history(DAYS)
    leave = at(DAYS, 9, 30)
    stream = [*history, motion(at(DAYS, 9, 28), "entry"), *door(leave)]
    assert evaluate_inactivity(model, stream, now=leave + timedelta(hours=40)) is None
    assert evaluate_inactivity(model, stream, now=leave + timedelta(hours=60)) is not None


def test_a_lone_event_while_out_is_not_a_return(events: list[ActivityEvent], model: RoutineModel) -> None:
    # Out at 19:22; at 19:37 one closet PIR fires while nobody is in: still out, no inactivity alarm.
    leave = at(DAYS, 19, 22)
    stream = [*events, motion(leave - timedelta(minutes=1), "entry"), *door(leave), motion(at(DAYS, 19, 37), "bedroom", "closet")]
    context = _context_after(model, stream)
    assert context.group == "out"
    assert context.since == leave + timedelta(seconds=15)
    assert evaluate_inactivity(model, stream, now=at(DAYS, 20, 7)) is None  # the closet is no home silence
    # Out for longer than any of this resident's absences (about an hour, 10:00-11:00): long absence.
    found = evaluate_inactivity(model, stream, now=at(DAYS, 21, 10))
    assert found is not None
    assert found.kind == "long_absence"
    assert found.since == context.since


def test_a_return_through_a_back_door_without_a_contact_still_counts(events: list[ActivityEvent], model: RoutineModel) -> None:
    leave = at(DAYS, 14)
    back = at(DAYS, 15, 30)
    walk_in = [
        motion(back, "kitchen"),
        motion(back + timedelta(seconds=40), "kitchen"),
        motion(back + timedelta(minutes=2), "bathroom"),
    ]
    stream = [*events, motion(leave - timedelta(minutes=1), "entry"), *door(leave), *walk_in]
    context = _context_after(model, stream)
    assert context.group == "home"
    assert context.since == walk_in[-1].at
    found = evaluate_inactivity(model, stream, now=back + timedelta(hours=2))
    assert found is not None
    assert found.kind == "inactivity"


def test_the_door_then_a_room_inside_is_a_return_but_the_entry_sensor_is_not(
    events: list[ActivityEvent], model: RoutineModel
) -> None:
    leave = at(DAYS, 14)
    out = [*events, motion(leave - timedelta(minutes=1), "kitchen"), *door(leave)]
    # The PIR by the door sees the resident walk away: still leaving.
    assert _context_after(model, [*out, motion(leave + timedelta(seconds=30), "entry")]).group == "out"
    back = leave + timedelta(hours=1)
    returned = [*out, *door(back), motion(back + timedelta(minutes=2), "kitchen")]
    context = _context_after(model, returned)
    assert context.group == "home"
    assert context.since == back + timedelta(minutes=2)
    # Eleven minutes after the door, one kitchen event alone is no evidence of a return.
    late = [*out, motion(leave + timedelta(minutes=11), "kitchen")]
    assert _context_after(model, late).group == "out"


def test_silence_after_the_entry_may_be_an_absence_without_a_door_event(events: list[ActivityEvent], model: RoutineModel) -> None:
    stream = [*events, motion(at(DAYS, 14), "entry")]
    kitchen = due_after(model, [*events, motion(at(DAYS, 14), "kitchen")])
    assert due_after(model, stream) - at(DAYS, 14) >= timedelta(hours=1) > kitchen - at(DAYS, 14)


def test_absence_calendar_pauses_and_silence_counts_from_its_end(events: list[ActivityEvent], model: RoutineModel) -> None:
    stream = [*events, motion(at(DAYS, 9), "kitchen")]
    hospital = [(at(DAYS, 9, 30), at(DAYS + 2, 12))]
    assert evaluate_inactivity(model, stream, now=at(DAYS, 12), absences=hospital) is None
    assert evaluate_inactivity(model, stream, now=at(DAYS + 1, 12), absences=hospital) is None
    assert evaluate_inactivity(model, stream, now=at(DAYS + 2, 12, 5), absences=hospital) is None
    finding = evaluate_inactivity(model, stream, now=at(DAYS + 2, 15), absences=hospital)
    assert finding is not None
    assert finding.since == at(DAYS + 2, 12)


# --------------------------------------------------------------------------- the bed


@pytest.fixture(scope="module")
def bed_model() -> RoutineModel:
    return learn_routine(Resident(bed_sensor=True).history(DAYS), TZ, now=at(DAYS, 0), settings=SETTINGS)


def test_in_bed_and_silent_is_sleep(bed_model: RoutineModel) -> None:
    history = Resident(bed_sensor=True).history(DAYS)
    stream = [*history, ActivityEvent(at(DAYS, 23, 5), "bed_in", "bedroom", "mat")]
    assert _context_after(bed_model, stream).group == "in_bed"
    assert evaluate_inactivity(bed_model, stream, now=at(DAYS + 1, 3)) is None
    # However long the night: the not-up check is what judges a silence in bed.
    tracker = Tracker(bed_model.zone, bed_model.tracker)
    for event in stream:
        tracker.push(event)
    due = alarm_due(bed_model, tracker)
    assert due is not None
    assert due.kind == "not_up"
    assert due.at == at(DAYS + 1, 0) + timedelta(seconds=bed_model.usual_wake_s["weekday"] + bed_model.not_up_margin_s)
    # No not-up check that morning (say the usual get-up is late): the ceiling, and it says so.
    late = replace(bed_model, not_up_margin_s=12 * 3600)
    found = evaluate_inactivity(late, stream, now=at(DAYS, 23, 5) + timedelta(seconds=late.ceiling_s))
    assert found is not None
    assert found.kind == "inactivity"
    assert "in bed at night, an alarm only after 12 h" in found.explanation_en
    assert "夜间在床上，超过 12 小时 才报警" in found.explanation_zh
    assert bed_model.coverage.has_bed
    assert not any("No bed sensor" in n for n in bed_model.coverage.notes_en)


def test_out_of_bed_at_night_and_not_back_is_an_alarm_that_says_so(bed_model: RoutineModel) -> None:
    history = Resident(bed_sensor=True).history(DAYS)
    night = DAYS + 1
    up = at(night, 2, 14)
    stream = [
        *history,
        ActivityEvent(at(DAYS, 23, 5), "bed_in", "bedroom", "mat"),
        ActivityEvent(up, "bed_out", "bedroom", "mat"),
        motion(up + timedelta(minutes=2), "bathroom"),
    ]
    found = evaluate_inactivity(bed_model, stream, now=up + timedelta(hours=2))
    assert found is not None
    assert found.kind == "bed_exit"
    assert found.since == up + timedelta(minutes=2)
    assert found.inactive_for <= timedelta(hours=2)
    assert "Out of bed since 02:14" in found.explanation_en
    assert "usually back in bed within" in found.explanation_en
    assert "自 02:14 起离床" in found.explanation_zh
    assert "内回到床上" in found.explanation_zh


def test_getting_up_for_the_day_is_no_bed_exit_even_within_the_night(bed_model: RoutineModel) -> None:
    # Up early, moving around four rooms: a silence then is inactivity, not "out of bed, not back".
    history = Resident(bed_sensor=True).history(DAYS)
    day = DAYS + 1
    up = at(day, 5, 0)
    walk = [
        motion(up + timedelta(minutes=2 * i), room) for i, room in enumerate(["bedroom", "bathroom", "kitchen", "living_room"])
    ]
    stream = [
        *history,
        ActivityEvent(at(DAYS, 23, 5), "bed_in", "bedroom", "mat"),
        ActivityEvent(up, "bed_out", "bedroom", "mat"),
        *walk,
    ]
    assert bed_model.night.start_s > 12 * 3600 > bed_model.night.end_s > 5 * 3600  # 05:00 is in the night
    found = evaluate_inactivity(bed_model, stream, now=up + timedelta(hours=3))
    assert found is not None
    assert found.kind == "inactivity"
    assert "Out of bed since" not in found.explanation_en


def test_motion_elsewhere_while_the_mat_says_in_bed_means_up() -> None:
    tracker = Tracker(TZ, SETTINGS.tracker)
    tracker.push(ActivityEvent(at(0, 23), "bed_in", "bedroom", "mat"))
    tracker.push(motion(at(1, 2), "bedroom"))
    restless = tracker.context.group
    tracker.push(motion(at(1, 3), "kitchen"))
    assert (restless, tracker.context.group) == ("in_bed", "up")


# --------------------------------------------------------------------------- not up


def test_not_up_fires_past_the_usual_time_plus_margin(events: list[ActivityEvent], model: RoutineModel) -> None:
    usual = model.usual_wake_s["weekday"]
    day = next(d for d in range(DAYS, DAYS + 7) if at(d, 12).weekday() < 5)
    limit = at(day, 0) + timedelta(seconds=usual + model.not_up_margin_s)
    previous = [e for e in Resident().history(day + 1) if e.at < at(day, 3, 30)]
    # A restless sleeper: the bedroom sensor saw someone 25 minutes ago, nobody moved around.
    stream = [*previous, motion(limit - timedelta(minutes=25), "bedroom")]
    assert evaluate_inactivity(model, stream, now=limit - timedelta(minutes=1)) is None
    finding = evaluate_inactivity(model, stream, now=limit + timedelta(minutes=1))
    assert finding is not None
    assert finding.kind == "not_up"
    assert finding.usual_up_by is not None
    assert f"usually up by {finding.usual_up_by}" in finding.explanation_en
    assert f"通常 {finding.usual_up_by} 前已起床" in finding.explanation_zh


def test_a_history_that_begins_after_the_wake_up_learns_no_late_wake_up() -> None:
    # The engine learns from now - learn_days: the first morning is cut at the time of day of `now`.
    full = Resident().history(9)
    noon = [motion(at(0, 12, 2 * i), area) for i, area in enumerate(["bedroom", "bathroom", "kitchen", "living_room"])]
    cut = sorted([e for e in full if e.at >= at(0, 9)] + noon, key=ActivityEvent.order)
    model = learn_routine(cut, TZ, now=at(9, 6), settings=SETTINGS)
    whole_days = learn_routine([e for e in full if e.at >= at(1, 0)], TZ, now=at(9, 6), settings=SETTINGS)
    assert model.usual_wake_s == whole_days.usual_wake_s
    assert 7 * 3600 <= model.usual_wake_s["weekday"] <= 7 * 3600 + 20 * 60


# --------------------------------------------------------------------------- coverage


def test_a_home_without_a_living_room_sensor_says_its_checks_are_slow() -> None:
    model = learn_routine(Resident(rooms=("kitchen", "bathroom")).history(DAYS), TZ, now=at(DAYS, 0), settings=SETTINGS)
    assert model.coverage.level == "slow"
    assert "Welfare checks are slow here: no sensor in the living room." in model.coverage.notes_en
    assert "此处安全检查较慢：客厅没有传感器。" in model.coverage.notes_zh


def test_a_home_without_a_door_contact_says_absences_look_like_silence() -> None:
    events = [e for e in Resident().history(DAYS) if not e.kind.startswith("door")]
    model = learn_routine(events, TZ, now=at(DAYS, 0), settings=SETTINGS)
    assert not model.coverage.has_door
    assert any("No door contact" in n for n in model.coverage.notes_en)


# --------------------------------------------------------------------------- explanations, storage, inputs


def test_explanations_carry_the_learned_figures_in_both_languages(events: list[ActivityEvent], model: RoutineModel) -> None:
    stream = [*events, motion(at(DAYS, 12, 20), "kitchen")]
    finding = evaluate_inactivity(model, stream, now=at(DAYS, 15))
    assert finding is not None
    assert finding.inactive_for == timedelta(hours=2, minutes=40)
    days = finding.to_dict()["limit_days"]
    assert "No movement for 2 h 40 min since 12:20 (last: the kitchen)." in finding.explanation_en
    assert f"the longest silence in {days} days was {format_duration_en(finding.usual_max)}" in finding.explanation_en
    assert "自 12:20 起已 2 小时 40 分钟无活动（最后在厨房）。" in finding.explanation_zh
    assert f"过去 {days} 天中" in finding.explanation_zh
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


def test_model_round_trips_through_json(model: RoutineModel, bed_model: RoutineModel) -> None:
    for learned in (model, bed_model):
        restored = RoutineModel.from_dict(json.loads(json.dumps(learned.to_dict())))
        assert restored == learned
        assert restored.zone == TZ


def test_an_older_model_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported routine model version"):
        RoutineModel.from_dict({"version": 1})


def test_learning_is_recomputable(events: list[ActivityEvent], model: RoutineModel) -> None:
    shuffled = list(events)
    random.Random(1).shuffle(shuffled)
    assert learn_routine(shuffled, TZ, now=at(DAYS, 0), settings=SETTINGS) == model


def test_bad_inputs_are_rejected(events: list[ActivityEvent], model: RoutineModel) -> None:
    naive = datetime(2024, 3, 21, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_inactivity(model, events, now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        learn_routine([*events, motion(naive, "kitchen")], TZ, now=at(DAYS, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        learn_routine(events, TZ, now=naive)
    tracker = Tracker(TZ, SETTINGS.tracker)
    tracker.push(motion(at(0, 12), "kitchen"))
    with pytest.raises(ValueError, match="time order"):
        tracker.push(motion(at(0, 11), "kitchen"))


@pytest.mark.parametrize(
    ("key", "en"),
    [
        ("up|day|living_room|2", "after the living room between"),
        ("up|day|living_room|h9", "after the living room between 09:00–10:00"),
        ("up|day|living_room|2|weekend", "on weekends"),
    ],
)
def test_every_kind_of_learned_context_is_explained(model: RoutineModel, key: str, en: str) -> None:
    """A limit learned for an hour of the clock ("h9") is explained too (a replay once found it
    raising ValueError, so the inactivity alert of such a context was never raised)."""
    from alerts.inactivity.explain import _scope
    from alerts.inactivity.model import Limit

    scope_en, scope_zh = _scope(Limit(key, 3600, 7, 5400), model)
    assert en in scope_en
    assert scope_zh
