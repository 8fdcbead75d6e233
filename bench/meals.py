"""Missed meals over ordinary simulated weeks: false ``missed_meal`` alerts, and how soon a skipped
breakfast is found.

    python -m bench.meals [--homes 50] [--days 7] [--seed 1]

Each home's resident lives the simulator's routine (simulator.routine: breakfast after getting up,
lunch about 12:00, dinner about 18:00, outings on some mornings and afternoons). Her meal habits
are learned from the 28 days before the measured week (alerts.meals.learn_meals, as the engine
learns them with the routine); then every 5 min of the week :func:`alerts.meals.missed_meal` judges
the last 30 h of events, as each periodic pass does. A day on which it fires is a false alert (the
routine never skips a meal). Then on one day per home she skips breakfast (every kitchen event of
that morning removed): the bench reports whether, and how long after her usual time, it fired.
It prints the figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.inactivity import ActivityEvent
from alerts.meals import MEALS, MealHabit, learn_meals, missed_meal
from eldercare.domain.activity import PLUG_ACTIVITY_W
from eldercare.domain.rule_settings import DEFAULT_RULES
from simulator.routine import Bed, Door, Motion, Power, Profile, home_rng, routine

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 2, 2, 0, 0, tzinfo=ZONE)  # a Monday
LEARN_DAYS = 28
STEP = timedelta(minutes=5)
WINDOW = timedelta(hours=30)  # alerts.snapshot.EVENT_WINDOW
MARGIN_S = DEFAULT_RULES.meals.margin_s


def events_of(seed: int, index: int, end: datetime) -> list[ActivityEvent]:
    """What alerts.snapshot makes of the home's readings and events."""
    profile = Profile.draw(home_rng(seed, index, None, "profile"))
    events: list[ActivityEvent] = []
    for at, emission in routine(profile, seed, index, START, ZONE):
        if at >= end:
            break
        if isinstance(emission, Motion) and emission.on:
            events.append(ActivityEvent(at, "motion", emission.room.value, f"pir-{emission.room.value}"))
        elif isinstance(emission, Door):
            events.append(ActivityEvent(at, "door_open" if emission.open else "door_close", "entry", "door-entry"))
        elif isinstance(emission, Bed):
            events.append(ActivityEvent(at, "bed_in" if emission.occupied else "bed_out", "bedroom", "bed-1"))
        elif isinstance(emission, Power) and emission.watts > PLUG_ACTIVITY_W:
            events.append(ActivityEvent(at, "appliance", "kitchen", "plug-kettle"))
    return events


def fired(events: list[ActivityEvent], habits: list[MealHabit], start: datetime, end: datetime) -> list[datetime]:
    found: list[datetime] = []
    at, first = start, 0
    while at < end:
        while first < len(events) and events[first].at < at - WINDOW:
            first += 1
        recent = [e for e in events[first:] if e.at <= at]
        if missed_meal(habits, recent, ZONE, now=at, margin_s=MARGIN_S) is not None:
            found.append(at)
        at += STEP
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    week = START + timedelta(days=LEARN_DAYS)
    end = week + timedelta(days=args.days)
    false_days, habits_count, missed = 0, 0, 0
    found: list[float] = []
    for index in range(args.homes):
        events = events_of(args.seed, index, end)
        habits = learn_meals([e for e in events if e.at < week], ZONE, now=week)
        habits_count += len(habits)
        false_days += len({at.astimezone(ZONE).date() for at in fired(events, habits, week, end)})
        breakfast = next((h for h in habits if h.meal == "breakfast"), None)
        if breakfast is None:
            continue
        day = week + timedelta(days=index % args.days)
        start, stop = day + timedelta(seconds=MEALS["breakfast"][0]), day + timedelta(seconds=MEALS["breakfast"][1])
        skipped = [e for e in events if not (start <= e.at < stop and e.area == "kitchen")]
        hits = fired(skipped, habits, day, day + timedelta(days=1))
        if hits:
            found.append((hits[0] - (day + timedelta(seconds=breakfast.usual_by_s))).total_seconds() / 60)
        else:
            missed += 1
    print(f"{args.homes} homes, {args.days} ordinary days each after {LEARN_DAYS} days of learning, judged every 5 min")
    print(f"meal habits learned: {habits_count} ({habits_count / args.homes:.1f} per home)")
    print(f"false missed_meal: {false_days} home-days with an alert out of {args.homes * args.days}")
    if found:
        print(
            f"skipped breakfast: found {len(found)}/{len(found) + missed}, after her usual time by "
            f"{statistics.median(found):.0f} min median, {max(found):.0f} min max (margin {MARGIN_S // 60} min)"
        )
    else:
        print(f"skipped breakfast: found 0/{missed}")


if __name__ == "__main__":
    main()
