"""Bounds and a baseline for the inactivity bench, as due times per event (like the rule's).

Bounds look at the test days, so they are not rules: each sets, for every context, the longest
silence the *whole* recording shows there, with no margin, so it raises no false alarm by
construction and its latency is the best that context can give:

- **next event**: the alarm right at the next real event; a rule that fires earlier fires in the
  real data, so no rule without false alarms beats it;
- **own contexts**: the engine's own context chain (who, day or night, place, band, day type) with
  the whole recording's longest silences, no uncertainty, no floor: the best this rule can become
  with more data;
- **place x 15-min slot**: the place of the last event and the 15-minute slot of its time;
- **activity x place x 15-min slot**: keyed also on the annotated activity (Sleep, Cook_Dinner...),
  which no sensor gives: a rule with a perfect activity recogniser behind it.

Two rules for comparison: the place x 15-min slot bound learned on the days before only (no
hindsight), which shows what the bound's latency costs in false alarms; and the baseline, per
clock hour of the event, 1.25 x the longest silence after an event at home in that hour of the
learning days (a door event then silence is out, never alarmed).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable
from datetime import date

import numpy as np

from bench.inactivity_replay import FloatArray, Replay

Key = Callable[[int], Hashable]


def silences(run: Replay) -> FloatArray:
    """Seconds from each event to the next (the last one: never)."""
    return np.append(np.diff(run.t), np.inf)


def _at_home(run: Replay) -> list[int]:
    return [i for i, c in enumerate(run.contexts) if c.group != "out"]


def _hindsight(run: Replay, keys: Callable[[int], list[Hashable]]) -> FloatArray:
    gap = silences(run)
    home = _at_home(run)
    longest: dict[Hashable, float] = defaultdict(float)
    for i in home[:-1]:
        for key in keys(i):
            longest[key] = max(longest[key], float(gap[i]))
    due = np.full(len(run.t), np.inf)
    for i in home:
        due[i] = run.t[i] + min(longest[key] for key in keys(i))
    return due


def next_event(run: Replay) -> FloatArray:
    return run.t + silences(run)


def own_contexts(run: Replay) -> FloatArray:
    night = run.models[-1].night
    return _hindsight(run, lambda i: list(run.contexts[i].keys(night)))


def place_slot(run: Replay, *, labelled: bool) -> FloatArray:
    home = run.home

    def keys(i: int) -> list[Hashable]:
        local = home.events[i].at.astimezone(home.tz)
        slot = (local.hour * 60 + local.minute) // 15
        return [(home.labels[i] if labelled else "", home.events[i].place, slot)]

    return _hindsight(run, keys)


def place_slot_learned(run: Replay, factor: float = 1.0) -> FloatArray:
    """The place x 15-min slot bound turned into a rule: each slot's longest silence on the days
    before (x ``factor``), the place's at any time when the slot was never seen. What the hindsight
    bound would cost in false alarms without the test days' own silences."""
    home, gap = run.home, silences(run)
    slot: dict[Hashable, float] = defaultdict(float)
    place: dict[Hashable, float] = defaultdict(float)
    pending: list[int] = []
    due = np.full(len(run.t), np.inf)
    day: date | None = None
    for i in _at_home(run):
        local = home.events[i].at.astimezone(home.tz)
        if local.date() != day:
            day, midnight = local.date(), local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
            done = [j for j in pending if run.t[j] + gap[j] <= midnight]
            pending = [j for j in pending if run.t[j] + gap[j] > midnight]
            for j in done:
                key = _slot_key(run, j)
                slot[key] = max(slot[key], float(gap[j]))
                place[key[0]] = max(place[key[0]], float(gap[j]))
        key = _slot_key(run, i)
        if i >= run.start:
            longest = slot[key] if key in slot else place.get(key[0], math.inf)
            due[i] = run.t[i] + factor * longest
        if np.isfinite(gap[i]):
            pending.append(i)
    return due


def _slot_key(run: Replay, i: int) -> tuple[str, int]:
    local = run.home.events[i].at.astimezone(run.home.tz)
    return run.home.events[i].place, (local.hour * 60 + local.minute) // 15


def hourly_baseline(run: Replay, factor: float = 1.25) -> FloatArray:
    gap = silences(run)
    hours = np.array([e.at.astimezone(run.home.tz).hour for e in run.home.events])
    longest = np.zeros(24)
    for i in _at_home(run)[:-1]:
        if i < run.start:
            longest[hours[i]] = max(longest[hours[i]], gap[i])
    limit = np.where(longest > 0, factor * longest, 3 * 3600.0)
    due = np.full(len(run.t), np.inf)
    for i in _at_home(run):
        due[i] = run.t[i] + limit[hours[i]]
    return due
