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

Collapse points are every `--collapse-every-min` minutes of the test days, whatever the resident
was doing; latency is measured from the collapse point, as the issue defines it. A collapse at
03:00 into a sleep that has been silent since 23:00 therefore counts from 03:00: the rule has
nothing to see but the silence, which started before the collapse.

Below the two rules the bench prints the frontier (false alarms against latency as the margin
factor of each rule moves) and two bounds that no retuning can pass:

- hindsight: the same rule with its thresholds set from the whole recording, test days
  included (longest silence per area and 15-minute slot, no margin, no smoothing): zero false
  alarms by construction, so its latency is the best an area x time-of-day threshold can do;
- hindsight knowing the activity: thresholds set the same way from the whole recording, keyed
  on the annotated activity label of the last event (ground truth no sensor rule has: "Sleep",
  "Cook_Dinner", "Toilet"...), its area and a 5-minute slot. It stands for any silence-threshold
  rule with a perfect activity recogniser behind it;
- next event: minutes from each collapse to the next real event. A rule that fires before the
  next event fires in the real data too, so a rule without false alarms can never beat this.

Tune on the first 15 days only, e.g. `--learn-days 9 --test-days 6` (learn on 9, validate on 6).
"""

from __future__ import annotations

import argparse
import math
import sys
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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


def baseline_learner(factor: float = 1.25) -> Learner:
    """Per clock hour: `factor` x the longest inactivity seen in that hour (3 h if none)."""

    def learn(history: Sequence[ActivityEvent], now: datetime) -> Rule:
        return _baseline_rule(history, factor)

    return learn


def _baseline_rule(history: Sequence[ActivityEvent], factor: float) -> Rule:
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
    limits = [factor * x if x else 3 * 3600.0 for x in longest]

    def fires(events: Sequence[ActivityEvent], at: datetime) -> bool:
        end = bisect_right(events, at, key=lambda e: e.at)
        if end == 0 or events[end - 1].kind != "motion":
            return False
        return (at - events[end - 1].at).total_seconds() > limits[at.astimezone(TZ).hour]

    return fires


def hindsight_learner(recording: Sequence[ActivityEvent]) -> Learner:
    """A bound, not a rule: thresholds learnt from the whole recording, test days included, with
    no margin and no smoothing (the not-up finding is pushed out of the way)."""
    settings = InactivitySettings(
        margin_factor=1.0, margin_s=0, floor_s=60, smoothing_window_s=0, min_context_days=1, not_up_margin_s=12 * 3600
    )
    model = learn_routine(recording, TZ, now=recording[-1].at, settings=settings)

    def learn(history: Sequence[ActivityEvent], now: datetime) -> Rule:
        return lambda events, at: evaluate_inactivity(model, events, now=at) is not None

    return learn


def labelled_hindsight_learner(recording: Recording, slot_s: int = 300) -> Learner:
    """A bound, not a rule: the longest silence ever seen after an event with the same annotated
    activity, in the same area, still going on in the same `slot_s` of the day (whole recording,
    no margin), so it raises no false alarm by construction."""
    events, labels = recording.events, recording.labels
    step = timedelta(seconds=60)

    def key(i: int, moment: datetime) -> tuple[str, str | None, int]:
        local = moment.astimezone(TZ)
        return labels[i], events[i].area, (local.hour * 3600 + local.minute * 60) // slot_s

    longest: dict[tuple[str, str | None, int], float] = {}
    for i, (before, after) in enumerate(pairwise(events)):
        if before.kind != "motion":
            continue  # out: not inactivity
        moment = before.at
        while moment < after.at:
            moment = min(after.at, moment + step)
            k = key(i, moment)
            longest[k] = max(longest.get(k, 0.0), (moment - before.at).total_seconds())

    def fires(cut: Sequence[ActivityEvent], at: datetime) -> bool:
        # `cut` is a prefix of the recording, so its indices are the recording's.
        end = bisect_right(cut, at, key=lambda e: e.at)
        if end == 0 or cut[end - 1].kind != "motion":
            return False
        return (at - cut[end - 1].at).total_seconds() > longest.get(key(end - 1, at), 0.0)

    return lambda history, now: fires


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


def next_event_minutes(events: list[ActivityEvent], points: Sequence[datetime], tick: timedelta) -> list[float]:
    """Minutes from each collapse to the next real event (at least one tick)."""
    minutes = []
    for collapse in points:
        i = bisect_right(events, collapse, key=lambda e: e.at)
        wait = events[i].at - collapse if i < len(events) else timedelta(0)
        minutes.append(max(tick, wait) / timedelta(minutes=1))
    return minutes


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

FRONTIER_FACTORS = (1.0, 1.1, 1.25, 1.5)


@dataclass(frozen=True)
class Replay:
    """The test period and its collapse points, shared by every rule of one run."""

    events: list[ActivityEvent]
    split: Split
    tick: timedelta
    horizon: timedelta
    home: list[datetime]
    away: list[datetime]
    days: float


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="folder holding CASAS data.txt")
    parser.add_argument("--learn-days", type=int, default=15)
    parser.add_argument("--test-days", type=float, default=15.0)
    parser.add_argument("--relearn", choices=("daily", "never"), default="daily")
    parser.add_argument("--tick-s", type=int, default=60)
    parser.add_argument("--collapse-every-min", type=int, default=40)
    parser.add_argument("--horizon-h", type=float, default=12.0)
    parser.add_argument("--frontier", action=argparse.BooleanOptionalAction, default=True, help="margin sweep and bounds")
    args = parser.parse_args(argv)
    data = args.dataset / "data.txt"
    if not data.is_file():
        print(f"dataset not found, skipping ({data})")
        return 0
    recording = load(data)
    replay = _replay(recording, args)
    _header(replay, args)
    print_table_head()
    settings = InactivitySettings()
    for name, learner in (
        ("learned routine (alerts.inactivity)", routine_learner(settings)),
        ("baseline per-hour max x1.25", baseline_learner(1.25)),
    ):
        episodes, lat = measure(replay, learner, replay.home)
        print_row(name, replay, episodes, lat)
        away = measure(replay, learner, replay.away)[1]
        print(f"{'':<4}while out {len(replay.away)}: {sum(not math.isinf(x) for x in away)} alarmed within horizon")
    if args.frontier:
        _frontier(replay, recording, settings)
    return 0


def _replay(recording: Recording, args: argparse.Namespace) -> Replay:
    events = recording.events
    first = events[0].at.replace(hour=0, minute=0, second=0, microsecond=0)
    test_start = first + timedelta(days=args.learn_days)
    test_end = min(events[-1].at, test_start + timedelta(days=args.test_days))
    split = Split(test_start, test_end, args.relearn == "daily")
    points = collapse_points(split, timedelta(minutes=args.collapse_every_min))
    return Replay(
        events=events,
        split=split,
        tick=timedelta(seconds=args.tick_s),
        horizon=timedelta(hours=args.horizon_h),
        home=[p for p in points if not is_away(recording, p)],
        away=[p for p in points if is_away(recording, p)],
        days=(test_end - test_start) / timedelta(days=1),
    )


def _header(replay: Replay, args: argparse.Namespace) -> None:
    split = replay.split
    print(
        f"CASAS replay: {len(replay.events)} events, learn {args.learn_days} d, test {replay.days:.1f} d "
        f"({split.test_start:%Y-%m-%d} to {split.test_end:%Y-%m-%d %H:%M}), relearn {args.relearn}, tick {args.tick_s} s"
    )
    print(
        f"collapses: {len(replay.home) + len(replay.away)} points every {args.collapse_every_min} min, "
        f"{len(replay.home)} at home ({sum(map(_is_night, replay.home))} at night, {NIGHT_START_H}-{NIGHT_END_H} h), "
        f"{len(replay.away)} while out (reported apart), horizon {args.horizon_h:g} h"
    )
    print()
    print(f"target: <= {TARGET_FA_PER_DAY} false alarms per day and <= {TARGET_MEDIAN_MIN:.0f} min median collapse-to-alarm")
    print("latency over at-home collapses, from the collapse point; 'never' = no alarm within the horizon (infinite)")


def measure(replay: Replay, learner: Learner, points: Sequence[datetime]) -> tuple[int, list[float]]:
    rules = Rules(learner, replay.events, replay.split)
    episodes = false_alarm_episodes(rules, replay.events, replay.split, replay.tick)
    return episodes, collapse_latencies(rules, replay.events, points, replay.tick, replay.horizon)


def print_table_head() -> None:
    print(
        f"{'rule':<38}{'FA/day':>7}{'episodes':>9}{'median':>9}{'p90':>9}{'never':>6}"
        f"{'day med':>10}{'day p90':>9}{'night med':>11}{'night p90':>10}"
    )


def print_row(name: str, replay: Replay, episodes: int, lat: Sequence[float], *, verdict: bool = True) -> None:
    day = [x for p, x in zip(replay.home, lat, strict=True) if not _is_night(p)]
    night = [x for p, x in zip(replay.home, lat, strict=True) if _is_night(p)]
    median = _quantile(lat, 0.5)
    met = episodes / replay.days <= TARGET_FA_PER_DAY and median <= TARGET_MEDIAN_MIN
    print(
        f"{name:<38}{episodes / replay.days:>7.2f}{episodes:>9}{_minutes(median):>9}{_minutes(_quantile(lat, 0.9)):>9}"
        f"{sum(math.isinf(x) for x in lat):>6}{_minutes(_quantile(day, 0.5)):>10}{_minutes(_quantile(day, 0.9)):>9}"
        f"{_minutes(_quantile(night, 0.5)):>11}{_minutes(_quantile(night, 0.9)):>10}"
        + (f"   target {'met' if met else 'MISSED'}" if verdict else "")
    )


def _frontier(replay: Replay, recording: Recording, settings: InactivitySettings) -> None:
    print()
    print("frontier: the margin factor of each rule moved (learned routine keeps margin_s, floor and the rest)")
    print_table_head()
    for factor in FRONTIER_FACTORS:
        learner = routine_learner(replace(settings, margin_factor=factor))
        print_row(f"learned routine x{factor:.2f}", replay, *measure(replay, learner, replay.home))
    for factor in FRONTIER_FACTORS:
        print_row(f"baseline per-hour max x{factor:.2f}", replay, *measure(replay, baseline_learner(factor), replay.home))
    print()
    print("bounds (not rules: they look at the test days)")
    print_table_head()
    episodes, lat = measure(replay, hindsight_learner(recording.events), replay.home)
    print_row("hindsight area x 15-min slot max", replay, episodes, lat, verdict=False)
    episodes, lat = measure(replay, labelled_hindsight_learner(recording), replay.home)
    print_row("hindsight activity x area x 5-min", replay, episodes, lat, verdict=False)
    waits = next_event_minutes(replay.events, replay.home, replay.tick)
    print_row("next real event (any 0-FA rule)", replay, 0, waits, verdict=False)


def collapse_points(split: Split, every: timedelta) -> list[datetime]:
    points, moment = [], split.test_start + timedelta(minutes=7)  # off the hour and slot edges
    while moment < split.test_end:
        points.append(moment)
        moment += every
    return points


def _is_night(moment: datetime) -> bool:
    hour = moment.astimezone(TZ).hour
    return hour >= NIGHT_START_H or hour < NIGHT_END_H


if __name__ == "__main__":
    sys.exit(main())
