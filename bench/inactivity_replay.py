"""Replaying a home through the engine's own functions: the alarm due after every real event.

The engine fires when ``now`` reaches :func:`alerts.inactivity.alarm_due` of the folded home; the
replay computes that due time once after every event of the test period (under the model in force,
relearnt at every local midnight from the previous ``learn_days`` like the engine, switching model
at midnight if the silence runs into the next day). Everything else follows from those times:

- a false alarm is a due time before the next real event (the data holds no emergency), counted
  once per episode (a lone event while out leaves the due time, hence the episode, unchanged);
- an event-anchored collapse right after event ``i`` (every later event cut) is alarmed at its
  due time, so its latency is ``due_i - t_i``; one event is drawn at random per 10-minute bin with
  events, and the draw is repeated over many seeds at no cost;
- a clock-anchored collapse at ``p`` (the previous definition) is alarmed at the due time of the
  last event before ``p``, so its latency is that due time minus ``p`` (a tick if already due).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt

from alerts.inactivity import Context, InactivitySettings, RoutineModel, Tracker, alarm_due, learn_routine
from bench.inactivity_data import Home

FloatArray = npt.NDArray[np.float64]
NIGHT_START_H, NIGHT_END_H = 22, 8
BIN_S = 600


@dataclass(frozen=True)
class Replay:
    """One rule over one home's test period: per event (test period only) its due time and context."""

    home: Home
    start: int  # index of the first test event
    test_start: datetime
    test_end: datetime
    t: FloatArray  # epoch seconds of every event
    due: FloatArray  # epoch seconds; inf = never; nan before the test period
    kind: list[str]  # inactivity / not_up / long_absence per test event ("" before)
    contexts: list[Context]  # the context after every event (the whole recording)
    models: list[RoutineModel]

    def group(self, i: int) -> str:
        return self.contexts[i].group

    def after_night_bed_exit(self, i: int) -> bool:
        """Out of bed after getting up during the night (the bed mat says so)."""
        context = self.contexts[i]
        return context.group == "up" and context.bed_since is not None and is_night(context.bed_since, self.home)

    @property
    def days(self) -> float:
        return (self.test_end - self.test_start) / timedelta(days=1)


def local_midnight(day: date, home: Home) -> datetime:
    return datetime.combine(day, time(0), tzinfo=home.tz)


def replay(home: Home, settings: InactivitySettings, *, learn_window_days: int = 28) -> Replay:
    events = home.events
    first_day = events[0].at.astimezone(home.tz).date()
    test_start = local_midnight(first_day + timedelta(days=home.learn_days), home)
    test_end = events[-1].at
    midnights = []
    day = test_start.date()
    while local_midnight(day, home) <= test_end:
        midnights.append(local_midnight(day, home))
        day += timedelta(days=1)
    times = [e.at for e in events]
    models = []
    for midnight in midnights:
        lo = bisect_right(times, midnight - timedelta(days=learn_window_days))
        hi = bisect_right(times, midnight)
        models.append(learn_routine(events[lo:hi], home.tz, now=midnight, settings=settings))
    t = np.array([x.timestamp() for x in times])
    n = len(events)
    due = np.full(n, np.nan)
    kind = [""] * n
    contexts = []
    start = bisect_right(times, test_start - timedelta(microseconds=1))
    tracker = Tracker(home.tz, settings.tracker)
    switch = [m.timestamp() for m in midnights]
    for i, event in enumerate(events):
        tracker.push(event)
        contexts.append(tracker.context)
        if i < start:
            continue
        k = bisect_right(switch, t[i]) - 1
        found = alarm_due(models[k], tracker)
        at = found.at.timestamp() if found else math.inf
        while k + 1 < len(models) and at > switch[k + 1]:
            k += 1
            found = alarm_due(models[k], tracker)
            at = max(found.at.timestamp(), switch[k]) if found else math.inf
        due[i] = at
        kind[i] = found.kind if found else ""
    return Replay(home, start, test_start, test_end, t, due, kind, contexts, models)


def is_night(moment: datetime, home: Home) -> bool:
    hour = moment.astimezone(home.tz).hour
    return hour >= NIGHT_START_H or hour < NIGHT_END_H


# --------------------------------------------------------------------------- false alarms


@dataclass(frozen=True)
class FalseAlarm:
    at: datetime
    kind: str
    event: int


def false_alarms(run: Replay) -> list[FalseAlarm]:
    """One per episode: the due time comes before the next real event (or the end of the data)."""
    found = []
    firing_before, due_before = False, math.nan
    end = run.test_end.timestamp()
    for i in range(run.start, len(run.t)):
        nxt = run.t[i + 1] if i + 1 < len(run.t) else end
        firing = bool(run.due[i] < nxt)
        if firing and not (firing_before and run.due[i] == due_before):
            found.append(FalseAlarm(datetime.fromtimestamp(run.due[i], run.home.tz), run.kind[i], i))
        firing_before, due_before = firing, run.due[i]
    return found


# --------------------------------------------------------------------------- collapses


def bins_of(run: Replay) -> npt.NDArray[np.int64]:
    return ((run.t[run.start :] - run.test_start.timestamp()) // BIN_S).astype(np.int64)


def draw(run: Replay, seed: int) -> npt.NDArray[np.int64]:
    """One event chosen at random in every 10-minute bin with events (indices into the home)."""
    bins = bins_of(run)
    r = np.random.default_rng(seed).random(len(bins))
    order = np.lexsort((r, bins))  # by bin, then by the random key
    last_of_bin = np.r_[bins[order][1:] != bins[order][:-1], True]
    return np.sort(order[last_of_bin]) + run.start


def event_latencies(run: Replay, chosen: Sequence[int] | npt.NDArray[np.int64]) -> FloatArray:
    idx = np.asarray(chosen, dtype=np.int64)
    return np.asarray((run.due[idx] - run.t[idx]) / 60.0, dtype=np.float64)


def clock_points(run: Replay, every: timedelta) -> list[datetime]:
    points, moment = [], run.test_start + timedelta(minutes=7)  # off the hour and slot edges
    while moment < run.test_end:
        points.append(moment)
        moment += every
    return points


def clock_latencies(run: Replay, points: Sequence[datetime], tick_s: float = 60.0) -> tuple[FloatArray, list[int]]:
    """Latency from each clock point (minutes), and the index of the last event before it."""
    times = run.t
    last = [int(np.searchsorted(times, p.timestamp(), side="right")) - 1 for p in points]
    latency = [max(run.due[i] - p.timestamp(), tick_s) / 60.0 for i, p in zip(last, points, strict=True)]
    return np.array(latency, dtype=np.float64), last
