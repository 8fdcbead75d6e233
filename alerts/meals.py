"""Missed meals: no kitchen activity by the time the resident usually uses the kitchen for a meal.

Community meal-aid programmes and elder-care peers (GrandCare, Canary) watch the kitchen: a resident
who stops eating is one of the first signs of illness, low mood or confusion. Kitchen activity is
any sign of someone in the kitchen (alerts.snapshot): its PIR, the fridge-door contact, the kettle
or cooker plug switching on.

Learning (from the same weeks of history as the inactivity routine): for each meal's window of the
local clock, each day's first kitchen activity in it. A meal is a *habit* when the kitchen was used
in its window on at least :data:`REGULAR_SHARE` of the days with any activity (and on at least
:data:`MIN_DAYS` days); its usual time is the 90th percentile of those first uses ("usually by
08:30"). Days inside a calendar absence are not learned from.

Judging (every pass): past a habit's usual time plus the margin, with no kitchen activity today
since its window opened, the finding is ``missed_meal`` (medium). Not judged while the resident is
out, or when she went out after the window opened (she may have eaten out); the absence calendar
pauses it with every welfare rule. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from alerts.findings import Finding, finding
from alerts.inactivity import ActivityEvent, Tracker, TrackerSettings
from alerts.inactivity.events import DOOR_KINDS, Absence, in_calendar_absence, seconds_of_day

KITCHEN: Final = "kitchen"
#: meal -> (window start, window end) in seconds after local midnight, and its names.
MEALS: Final[Mapping[str, tuple[int, int, str, str]]] = {
    "breakfast": (4 * 3600, 11 * 3600, "breakfast", "早餐"),
    "lunch": (11 * 3600, 15 * 3600, "lunch", "午餐"),
    "dinner": (16 * 3600, 21 * 3600, "dinner", "晚餐"),
}
MIN_DAYS: Final = 5
REGULAR_SHARE: Final = 0.8
PERCENTILE: Final = 0.9


@dataclass(frozen=True)
class MealHabit:
    meal: str
    usual_by_s: int  # seconds after local midnight by which the kitchen is usually used
    days: int  # days learned from
    used_days: int  # of which the kitchen was used in the meal's window

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MealHabit:
        return cls(str(data["meal"]), int(data["usual_by_s"]), int(data["days"]), int(data["used_days"]))


def _kitchen(event: ActivityEvent) -> bool:
    return event.area == KITCHEN and event.kind in ("motion", "appliance")


def learn_meals(
    events: Sequence[ActivityEvent], zone: ZoneInfo, *, now: datetime, absences: Sequence[Absence] = ()
) -> list[MealHabit]:
    """The meals the resident regularly takes at home, with their usual time; whole days before today only."""
    today = now.astimezone(zone).toordinal()
    active: set[int] = set()
    first: dict[tuple[str, int], int] = {}
    for event in events:
        day = event.at.astimezone(zone).toordinal()
        if day >= today or in_calendar_absence(event.at, absences):
            continue
        active.add(day)
        if not _kitchen(event):
            continue
        sod = seconds_of_day(event.at, zone)
        for meal, (start, end, _, _) in MEALS.items():
            if start <= sod < end:
                first[meal, day] = min(first.get((meal, day), sod), sod)
    habits = []
    for meal in MEALS:
        times = sorted(sod for (name, day), sod in first.items() if name == meal and day in active)
        if len(times) >= MIN_DAYS and len(times) >= REGULAR_SHARE * len(active):
            usual = times[math.ceil(PERCENTILE * len(times)) - 1]
            habits.append(MealHabit(meal, usual, len(active), len(times)))
    return habits


def missed_meal(
    habits: Sequence[MealHabit], events: Sequence[ActivityEvent], zone: ZoneInfo, *, now: datetime, margin_s: int
) -> Finding | None:
    """The latest meal of the day whose usual time plus ``margin_s`` has passed with the kitchen unused."""
    local = now.astimezone(zone)
    sod = seconds_of_day(now, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    seen = sorted((e for e in events if e.at <= now), key=ActivityEvent.order)
    if _out(seen, zone):
        return None
    missed: Finding | None = None
    for habit in habits:
        start = midnight + timedelta(seconds=MEALS[habit.meal][0])
        if sod < habit.usual_by_s + margin_s:
            continue
        today = [e for e in seen if e.at >= start]
        if any(_kitchen(e) for e in today) or any(e.kind in DOOR_KINDS for e in today):
            continue  # she ate, or went out after the window opened (she may have eaten out)
        missed = _finding(habit, local, zone)
    return missed


def _out(events: Sequence[ActivityEvent], zone: ZoneInfo) -> bool:
    tracker = Tracker(zone, TrackerSettings())
    for event in events:
        tracker.push(event)
    return tracker.out


def _finding(habit: MealHabit, local: datetime, zone: ZoneInfo) -> Finding:
    _, _, en, zh = MEALS[habit.meal]
    usual = f"{habit.usual_by_s // 3600:02d}:{habit.usual_by_s // 60 % 60:02d}"
    now = f"{local:%H:%M}"
    return finding(
        "missed_meal",
        f"No kitchen activity today: she usually uses the kitchen by {usual} for {en} (on {habit.used_days} of "
        f"{habit.days} days); nothing today by {now}. Call to ask whether she has eaten and feels well.",
        f"今天厨房无任何活动：老人平时 {usual} 前会使用厨房（{zh}，{habit.days} 天中有 {habit.used_days} 天）；"
        f"今天到 {now} 仍无活动。请致电询问是否已用餐、身体是否不适。",
        {"meal": habit.meal, "usual_by": usual, "days": habit.days, "used_days": habit.used_days, "zone": str(zone)},
    )
