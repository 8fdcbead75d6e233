"""Figures of the inactivity bench: latency statistics over collapse draws, by group, and tables."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.inactivity_replay import FloatArray, Replay, draw, is_night

IntArray = npt.NDArray[np.int64]
SHARES = (30, 60, 120)
LONG_MIN = 12 * 60  # beyond this a latency is reported as "> 12 h"


@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    p90: float
    within: tuple[float, ...]  # share alarmed within SHARES minutes


def stats(latencies: FloatArray) -> Stats:
    if len(latencies) == 0:
        return Stats(0, math.nan, math.nan, tuple(math.nan for _ in SHARES))
    ordered = np.sort(latencies)

    def rank(p: float) -> float:  # nearest rank
        return float(ordered[max(0, math.ceil(p * len(ordered)) - 1)])

    return Stats(len(ordered), rank(0.5), rank(0.9), tuple(float(np.mean(ordered <= s)) for s in SHARES))


def minutes(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "> 12 h" if value > LONG_MIN else f"{value:.0f}"


def share(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.0f} %"


# --------------------------------------------------------------------------- groups of collapses

Group = Callable[[Replay, int], bool]


def groups(run: Replay) -> dict[str, Group]:
    """Who collapsed when: every at-home collapse, by day and at night, and with a bed mat at night
    in bed, out of bed, and after getting out of bed during the night."""
    found: dict[str, Group] = {
        "all at home": lambda r, i: True,
        "day 08-22": lambda r, i: not is_night(r.home.events[i].at, r.home),
        "night 22-08": lambda r, i: is_night(r.home.events[i].at, r.home),
        # The definition: a collapse happens while the person is up. A drawn event the
        # annotators labelled as sleep (a PIR seeing the sleeper turn over) is no such moment.
        "up (label not sleep)": lambda r, i: not asleep(r, i),
        "night 22-08, up": lambda r, i: is_night(r.home.events[i].at, r.home) and not asleep(r, i),
    }
    if run.models[-1].has_bed:
        found["night, in bed"] = lambda r, i: is_night(r.home.events[i].at, r.home) and r.group(i) == "in_bed"
        found["night, out of bed"] = lambda r, i: is_night(r.home.events[i].at, r.home) and r.group(i) != "in_bed"
        found["night, after a bed exit"] = lambda r, i: is_night(r.home.events[i].at, r.home) and r.after_night_bed_exit(i)
    return found


def asleep(run: Replay, i: int) -> bool:
    """The annotators' label says asleep (CASAS "Sleep", Ordonez "Sleeping")."""
    return run.home.labels[i].startswith("Sleep")


def at_home_draw(run: Replay, seed: int) -> IntArray:
    chosen = draw(run, seed)
    away = np.asarray(run.home.away, dtype=np.bool_)
    return chosen[~away[chosen]]


def latency_of(run: Replay, due: FloatArray, chosen: IntArray) -> FloatArray:
    return np.asarray((due[chosen] - run.t[chosen]) / 60.0, dtype=np.float64)


@dataclass(frozen=True)
class Spread:
    """One rule's statistics per group: seed 0, and every seed."""

    fixed: dict[str, Stats]
    seeds: dict[str, list[Stats]]


def group_masks(run: Replay) -> dict[str, npt.NDArray[np.bool_]]:
    """Every group as a mask over the home's events (test events evaluated, the rest False)."""
    masks = {}
    for name, member in groups(run).items():
        mask = np.zeros(len(run.t), dtype=np.bool_)
        mask[run.start :] = [member(run, i) for i in range(run.start, len(run.t))]
        masks[name] = mask
    return masks


def spread(run: Replay, due: FloatArray, seeds: int, masks: dict[str, npt.NDArray[np.bool_]]) -> Spread:
    by_seed: dict[str, list[Stats]] = defaultdict(list)
    for seed in range(seeds):
        chosen = at_home_draw(run, seed)
        latency = latency_of(run, due, chosen)
        for name, mask in masks.items():
            by_seed[name].append(stats(latency[mask[chosen]]))
    return Spread({name: values[0] for name, values in by_seed.items()}, dict(by_seed))


def _range(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "-"
    low, high = np.percentile(finite, [5, 95])
    return f"{fmt(float(low))}-{fmt(float(high))}"


def print_spread(title: str, result: Spread) -> None:
    print(title)
    print(
        f"  {'collapses':<26}{'n':>5}{'median':>8}{'p90':>8}{'<=30':>7}{'<=60':>7}{'<=120':>7}"
        f"   {'median, 200 seeds p5-p95':>25}{'<=60, p5-p95':>16}"
    )
    for name, fixed in result.fixed.items():
        runs = result.seeds[name]
        print(
            f"  {name:<26}{fixed.n:>5}{minutes(fixed.median):>8}{minutes(fixed.p90):>8}"
            + "".join(f"{share(w):>7}" for w in fixed.within)
            + f"   {_range([s.median for s in runs], minutes):>25}{_range([s.within[1] for s in runs], share):>16}"
        )


def print_compact(rows: Sequence[tuple[str, int, float, Spread]]) -> None:
    """One line per rule or bound: false alarms, and the seed-0 figures that the targets name."""
    print(
        f"  {'rule / bound':<42}{'FA':>4}{'FA/day':>8}{'median':>8}{'<=60':>7}"
        f"{'day med':>9}{'day p90':>9}{'night med':>11}{'night p90':>11}"
    )
    for name, episodes, days, result in rows:
        every, day, night = result.fixed["all at home"], result.fixed["day 08-22"], result.fixed["night 22-08"]
        print(
            f"  {name:<42}{episodes:>4}{episodes / days:>8.2f}{minutes(every.median):>8}{share(every.within[1]):>7}"
            f"{minutes(day.median):>9}{minutes(day.p90):>9}{minutes(night.median):>11}{minutes(night.p90):>11}"
        )


def episodes(run: Replay, due: FloatArray) -> int:
    """False alarm episodes of any due-time array over the test period (see replay.false_alarms)."""
    count, firing_before, due_before = 0, False, math.nan
    end = run.test_end.timestamp()
    for i in range(run.start, len(run.t)):
        nxt = run.t[i + 1] if i + 1 < len(run.t) else end
        firing = bool(due[i] < nxt)
        count += firing and not (firing_before and due[i] == due_before)
        firing_before, due_before = firing, due[i]
    return count


def print_labels(run: Replay, due: FloatArray, seeds: int, top: int = 14) -> None:
    """Per activity label of the last event, pooled over the seeds' draws."""
    pooled: dict[str, list[float]] = defaultdict(list)
    for seed in range(seeds):
        chosen = at_home_draw(run, seed)
        for i, latency in zip(chosen, latency_of(run, due, chosen), strict=True):
            pooled[run.home.labels[int(i)] or "(none)"].append(float(latency))
    print(f"  {'activity of the last event':<28}{'n/draw':>8}{'median':>8}{'p90':>8}{'<=60':>7}")
    for label, values in sorted(pooled.items(), key=lambda kv: -len(kv[1]))[:top]:
        s = stats(np.asarray(values))
        print(f"  {label:<28}{len(values) / seeds:>8.1f}{minutes(s.median):>8}{minutes(s.p90):>8}{share(s.within[1]):>7}")
