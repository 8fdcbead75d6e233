"""Benchmark of the learned-routine inactivity rule on the CASAS smart-home recording.

    python -m bench.inactivity --dataset ../shared/datasets/casas_smarthome

Replays one resident's 30 days through `alerts.inactivity` (the functions the engine calls),
evaluated every simulated minute. The first `--learn-days` days are history only; on the
following days it counts (1) false alarms while replaying the real data (the data holds no
emergency, so every alarm episode, i.e. a contiguous run of firing ticks, is false) and
(2) time from an injected collapse (every later event cut off) to the first alarm.

Mapping of the data: PIR "ON" events are motion in their area (OutsideDoor's Entry sensor is
area "entry"); FrontDoor OPEN/CLOSE are door events; light-switch presses (ON and OFF) are
motion, since a person pressed them; PIR "OFF" events are ignored (they repeat the ON a
second later). Times are taken as America/Los_Angeles local time.

Collapses while the resident is out (by the data's Leave_Home/Enter_Home labels) are
reported apart: nobody can collapse at home then, and only the long-absence finding can
react. The model in force at the collapse stays in force until the alarm. With the default
`--relearn daily`, the model is relearnt at every local midnight from all history so far, as
the engine does; `--relearn never` keeps the model learnt on the first days.

The baseline is a per-hour threshold: 1.25 x the longest inactivity seen in that hour of the
day in the learning days, with the same door logic (door event then silence is "out").
"""

from __future__ import annotations

import argparse
import math
import sys
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.inactivity import (
    ActivityEvent,
    InactivitySettings,
    RoutineModel,
    evaluate_inactivity,
    learn_routine,
)

TZ = ZoneInfo("America/Los_Angeles")
AREAS = {"OutsideDoor": "entry", "LivingRoom": "living_room", "LoungeChair": "lounge_chair", "WorkArea": "work_area"}
NIGHT_START_H, NIGHT_END_H = 22, 8
TARGET_FA_PER_DAY, TARGET_MEDIAN_MIN = 0.05, 60.0

Rule = Callable[[Sequence[ActivityEvent], datetime], bool]
Learner = Callable[[Sequence[ActivityEvent], datetime], Rule]


@dataclass(frozen=True)
class Recording:
    events: list[ActivityEvent]
    labels: list[str]


def load(path: Path) -> Recording:
    """Parse data.txt leniently: malformed lines are skipped."""
    events: list[ActivityEvent] = []
    labels: list[str] = []
    with path.open(encoding="ascii", errors="replace") as lines:
        for line in lines:
            fields = line.split()
            if len(fields) < 5:
                continue
            try:
                at = datetime.fromisoformat(f"{fields[0]} {fields[1]}").replace(tzinfo=TZ)
            except ValueError:
                continue
            event = _event(at, fields[2], fields[3], fields[4])
            if event is not None:
                events.append(event)
                labels.append(fields[5] if len(fields) > 5 else "")
    order = sorted(range(len(events)), key=lambda i: events[i].at)
    return Recording([events[i] for i in order], [labels[i] for i in order])


def _event(at: datetime, area: str, sensor: str, value: str) -> ActivityEvent | None:
    if sensor == "FrontDoor":
        if value == "OPEN":
            return ActivityEvent(at, "door_open", "entry")
        return ActivityEvent(at, "door_close", "entry") if value == "CLOSE" else None
    if value == "ON" or (sensor.endswith("Light") and value == "OFF"):
        return ActivityEvent(at, "motion", AREAS.get(area, area.lower()))
    return None


# --------------------------------------------------------------------------- the two rules


def routine_learner(settings: InactivitySettings) -> Learner:
    def learn(history: Sequence[ActivityEvent], now: datetime) -> Rule:
        model = learn_routine(history, TZ, now=now, settings=settings)
        # What the engine stores and reloads, so the bench exercises the round trip too.
        model = RoutineModel.from_dict(model.to_dict())

        def fires(events: Sequence[ActivityEvent], at: datetime) -> bool:
            return evaluate_inactivity(model, events, now=at) is not None

        return fires

    return learn


def baseline_learner(history: Sequence[ActivityEvent], now: datetime) -> Rule:
    longest = [0.0] * 24
    for before, after in pairwise(history):
        if before.kind != "motion":
            continue  # out: not inactivity
        moment = before.at
        while moment < after.at:
            local = moment.astimezone(TZ)
            leave = min(after.at, local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
            longest[local.hour] = max(longest[local.hour], (leave - before.at).total_seconds())
            moment = leave
    limits = [1.25 * x if x else 3 * 3600.0 for x in longest]

    def fires(events: Sequence[ActivityEvent], at: datetime) -> bool:
        end = bisect_right(events, at, key=lambda e: e.at)
        if end == 0 or events[end - 1].kind != "motion":
            return False
        return (at - events[end - 1].at).total_seconds() > limits[at.astimezone(TZ).hour]

    return fires


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Split:
    test_start: datetime
    test_end: datetime
    relearn_daily: bool

    def midnights(self) -> list[datetime]:
        days = math.ceil((self.test_end - self.test_start) / timedelta(days=1))
        return [self.test_start + timedelta(days=d) for d in range(days)] if self.relearn_daily else [self.test_start]


class Rules:
    """The rule in force at each moment of the test period (relearnt at local midnights)."""

    def __init__(self, learner: Learner, events: list[ActivityEvent], split: Split) -> None:
        self.starts = split.midnights()
        self.rules = [learner(events[: bisect_right(events, m, key=lambda e: e.at)], m) for m in self.starts]

    def at(self, moment: datetime) -> Rule:
        return self.rules[max(0, bisect_right(self.starts, moment) - 1)]


def false_alarm_episodes(rules: Rules, events: list[ActivityEvent], split: Split, tick: timedelta) -> int:
    episodes, firing, now = 0, False, split.test_start
    while now <= split.test_end:
        fires = rules.at(now)(events, now)
        episodes += fires and not firing
        firing, now = fires, now + tick
    return episodes


def collapse_latencies(
    rules: Rules, events: list[ActivityEvent], points: Sequence[datetime], tick: timedelta, horizon: timedelta
) -> list[float]:
    """Minutes from each collapse to the first alarm; inf if none within the horizon."""
    latencies = []
    for collapse in points:
        cut = events[: bisect_right(events, collapse, key=lambda e: e.at)]
        rule, now, found = rules.at(collapse), collapse + tick, math.inf
        while now <= collapse + horizon:
            if rule(cut, now):
                found = (now - collapse).total_seconds() / 60
                break
            now += tick
        latencies.append(found)
    return latencies


def is_away(recording: Recording, moment: datetime) -> bool:
    i = bisect_right(recording.events, moment, key=lambda e: e.at)
    before = recording.labels[i - 1] if i else ""
    after = recording.labels[i] if i < len(recording.labels) else ""
    return before == "Leave_Home" or after == "Enter_Home"


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def _minutes(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f} min"


# --------------------------------------------------------------------------- report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="folder holding CASAS data.txt")
    parser.add_argument("--learn-days", type=int, default=15)
    parser.add_argument("--test-days", type=float, default=15.0)
    parser.add_argument("--relearn", choices=("daily", "never"), default="daily")
    parser.add_argument("--tick-s", type=int, default=60)
    parser.add_argument("--collapse-every-min", type=int, default=40)
    parser.add_argument("--horizon-h", type=float, default=12.0)
    args = parser.parse_args(argv)
    data = args.dataset / "data.txt"
    if not data.is_file():
        print(f"dataset not found, skipping ({data})")
        return 0
    recording = load(data)
    events = recording.events
    first = events[0].at.replace(hour=0, minute=0, second=0, microsecond=0)
    test_start = first + timedelta(days=args.learn_days)
    test_end = min(events[-1].at, test_start + timedelta(days=args.test_days))
    split = Split(test_start, test_end, args.relearn == "daily")
    tick, horizon = timedelta(seconds=args.tick_s), timedelta(hours=args.horizon_h)
    points = _collapse_points(split, timedelta(minutes=args.collapse_every_min))
    home = [p for p in points if not is_away(recording, p)]
    away = [p for p in points if is_away(recording, p)]
    days = (test_end - test_start) / timedelta(days=1)
    print(
        f"CASAS replay: {len(events)} events, learn {args.learn_days} d, test {days:.1f} d "
        f"({test_start:%Y-%m-%d} to {test_end:%Y-%m-%d %H:%M}), relearn {args.relearn}, tick {args.tick_s} s"
    )
    print(
        f"collapses: {len(points)} points every {args.collapse_every_min} min, {len(home)} at home, "
        f"{len(away)} while out (reported apart), horizon {args.horizon_h:g} h"
    )
    print()
    print(f"target: <= {TARGET_FA_PER_DAY} false alarms per day and <= {TARGET_MEDIAN_MIN:.0f} min median collapse-to-alarm")
    print("latency over at-home collapses; 'never' = no alarm within the horizon (counted as infinite)")
    print(f"{'rule':<36}{'FA/day':>8}{'episodes':>10}{'median':>10}{'p90':>10}{'never':>8}")
    rules = {
        "learned routine (alerts.inactivity)": routine_learner(InactivitySettings()),
        "baseline per-hour max x1.25": baseline_learner,
    }
    for name, learner in rules.items():
        _report(name, Rules(learner, events, split), events, split, tick, horizon, home, away, days)
    return 0


def _collapse_points(split: Split, every: timedelta) -> list[datetime]:
    points, moment = [], split.test_start + timedelta(minutes=7)  # off the hour and slot edges
    while moment < split.test_end:
        points.append(moment)
        moment += every
    return points


def _report(
    name: str,
    rules: Rules,
    events: list[ActivityEvent],
    split: Split,
    tick: timedelta,
    horizon: timedelta,
    home: Sequence[datetime],
    away: Sequence[datetime],
    days: float,
) -> None:
    episodes = false_alarm_episodes(rules, events, split, tick)
    lat = collapse_latencies(rules, events, home, tick, horizon)
    never = sum(math.isinf(x) for x in lat)
    met = episodes / days <= TARGET_FA_PER_DAY and _quantile(lat, 0.5) <= TARGET_MEDIAN_MIN
    print(
        f"{name:<34}{episodes / days:>8.2f}{episodes:>10}{_minutes(_quantile(lat, 0.5)):>10}"
        f"{_minutes(_quantile(lat, 0.9)):>10}{never:>8}   target {'met' if met else 'MISSED'}"
    )
    night = [x for p, x in zip(home, lat, strict=True) if _is_night(p)]
    day = [x for p, x in zip(home, lat, strict=True) if not _is_night(p)]
    away_lat = collapse_latencies(rules, events, away, tick, horizon)
    print(
        f"{'':<4}day {len(day)}: median {_minutes(_quantile(day, 0.5))}, p90 {_minutes(_quantile(day, 0.9))}; "
        f"night ({NIGHT_START_H}-{NIGHT_END_H} h) {len(night)}: median {_minutes(_quantile(night, 0.5))}, "
        f"p90 {_minutes(_quantile(night, 0.9))}; while out {len(away)}: "
        f"{sum(not math.isinf(x) for x in away_lat)} alarmed within horizon"
    )


def _is_night(moment: datetime) -> bool:
    hour = moment.astimezone(TZ).hour
    return hour >= NIGHT_START_H or hour < NIGHT_END_H


if __name__ == "__main__":
    sys.exit(main())
