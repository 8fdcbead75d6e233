"""Missed meals: the kitchen unused by the time the resident usually uses it (pure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.inactivity import ActivityEvent
from alerts.meals import MealHabit, learn_meals, missed_meal
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.alerts.support import add_motion, alerts_of, engine_for, healthy_home, seed_home, sql
from tests.alerts.test_engine import settings_for

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = datetime(2026, 3, 16, tzinfo=ZONE)
MARGIN_S = 5400


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return TODAY + timedelta(days=day, hours=hour, minutes=minute)


def weeks_of_breakfasts(days: int = 14) -> list[ActivityEvent]:
    """Breakfast in the kitchen between 07:30 and 08:30 every day; lunch on only a few days."""
    events = []
    for day in range(-days, 0):
        events.append(ActivityEvent(at(day, 7, 0), "motion", "bedroom", "pir-bedroom"))
        events.append(ActivityEvent(at(day, 7, 30 + (day * 7) % 60), "motion", "kitchen", "pir-kitchen"))
        events.append(ActivityEvent(at(day, 7, 31 + (day * 7) % 60), "appliance", "kitchen", "kettle"))
        if day % 4 == 0:
            events.append(ActivityEvent(at(day, 12, 10), "motion", "kitchen", "pir-kitchen"))
        events.append(ActivityEvent(at(day, 20, 0), "motion", "living_room", "pir-living"))
    return events


def test_the_usual_time_is_learned_only_for_meals_taken_on_most_days() -> None:
    habits = learn_meals(weeks_of_breakfasts(), ZONE, now=at(0, 6))
    assert [h.meal for h in habits] == ["breakfast"]
    (breakfast,) = habits
    assert timedelta(hours=8, minutes=15) <= timedelta(seconds=breakfast.usual_by_s) <= timedelta(hours=8, minutes=30)
    assert breakfast.days == 14
    assert learn_meals(weeks_of_breakfasts(days=3), ZONE, now=at(0, 6)) == [], "too few days to know a habit"
    assert MealHabit.from_dict(breakfast.to_dict()) == breakfast


def test_no_kitchen_by_the_usual_time_and_a_margin_is_a_missed_meal_explained() -> None:
    habits = learn_meals(weeks_of_breakfasts(), ZONE, now=at(0, 6))
    usual = TODAY + timedelta(seconds=habits[0].usual_by_s)
    today = [ActivityEvent(at(0, 7, 10), "motion", "bedroom", "pir-bedroom"), ActivityEvent(at(0, 9), "motion", "living_room")]
    due = usual + timedelta(seconds=MARGIN_S)
    assert missed_meal(habits, today, ZONE, now=due - timedelta(minutes=1), margin_s=MARGIN_S) is None
    found = missed_meal(habits, today, ZONE, now=due + timedelta(minutes=5), margin_s=MARGIN_S)
    assert found is not None
    assert (found.kind, found.severity) == ("missed_meal", "medium")
    assert f"usually uses the kitchen by {usual:%H:%M}" in found.explanation_en
    assert f"nothing today by {due + timedelta(minutes=5):%H:%M}" in found.explanation_en
    assert "厨房" in found.explanation_zh
    assert "早餐" in found.explanation_zh
    # The kettle this morning: she had breakfast.
    kettle = [*today, ActivityEvent(at(0, 8, 50), "appliance", "kitchen", "kettle")]
    assert missed_meal(habits, kettle, ZONE, now=due + timedelta(minutes=5), margin_s=MARGIN_S) is None


def test_a_resident_who_went_out_around_the_meal_is_not_judged() -> None:
    habits = learn_meals(weeks_of_breakfasts(), ZONE, now=at(0, 6))
    late = TODAY + timedelta(seconds=habits[0].usual_by_s + MARGIN_S + 600)
    out = [
        ActivityEvent(at(0, 7, 10), "motion", "bedroom"),
        ActivityEvent(at(0, 7, 20), "motion", "entry"),
        ActivityEvent(at(0, 7, 21), "door_open", "entry"),
        ActivityEvent(at(0, 7, 22), "door_close", "entry"),
    ]
    assert missed_meal(habits, out, ZONE, now=late, margin_s=MARGIN_S) is None
    # Back home at 09:00 and walking around, still no kitchen: she may have had breakfast out.
    back = [*out, ActivityEvent(at(0, 9), "door_open", "entry"), ActivityEvent(at(0, 9, 1), "motion", "hallway")]
    assert missed_meal(habits, back, ZONE, now=late, margin_s=MARGIN_S) is None


async def test_the_engine_learns_the_breakfast_habit_and_raises_a_missed_breakfast(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url, "h1")
    now = datetime(2026, 3, 16, 10, 45, tzinfo=UTC)
    healthy_home(db_url, "h1", now)
    day0 = datetime(2026, 3, 16, tzinfo=UTC)
    moments = []
    for day in range(-14, 1):
        base = day0 + timedelta(days=day)
        moments += [(base + timedelta(hours=7), "bedroom"), (base + timedelta(hours=7, minutes=10), "bathroom")]
        if day < 0:  # breakfast every day, not today
            moments += [(base + timedelta(hours=7, minutes=40 + m), "kitchen") for m in (0, 15, 30)]
            moments += [(base + timedelta(hours=h), "living_room") for h in range(9, 22)]
            moments.append((base + timedelta(hours=22), "bedroom"))
        else:
            moments += [
                (base + timedelta(hours=7, minutes=20), "living_room"),
                (base + timedelta(hours=10, minutes=30), "living_room"),
            ]
    for seq, (moment, room) in enumerate(moments):
        add_motion(db_url, "h1", moment, room, seq)
    async with engine_for(settings_for(make_settings), FixedClock(now)) as engine:
        await engine.evaluate_once()
    assert [a[1:3] for a in alerts_of(db_url, "h1")] == [("missed_meal", "medium")]
    (explanation,) = sql(db_url, "SELECT explanation_en FROM alerts WHERE home_id = 'h1'")[0]
    assert "usually uses the kitchen by 07:40 for breakfast (on 14 of 14 days); nothing today by 10:45" in explanation
