"""Per-resident calibration: how much to trust a context seen on few days, and the floor.

A context (say "up, kitchen, 12:00-15:00, weekend") has a longest silence ``M`` seen on ``n``
distinct days. Its limit is ``M x (1 + u / n)``, and only when ``n >= min_days``; otherwise the
broader contexts speak for it (the place at any hour, the whole home). The limit used is the
tightest among the context's levels, never below the floor. So a slot seen on one or two days
cannot be trusted as typical: its uncertainty makes it looser than the hour or the area, and the
broader context wins.

``u`` (one for the levels of who and where, one for the levels of the clock), ``min_days``, how
deep the context goes (the place; its band of the clock; the hour; weekday or weekend within the
band), and a floor for the day and one for the night are chosen for each resident by leave-one-day-out
on their own history: for every day, limits learned from the other
days must not have fired on it (at most ``false_alarms_per_day`` x days, rounded down). Among the
choices that pass, the one with the shortest limits wins (weighted mean of log limits, one weight
per 10-minute bin with activity: the moments a collapse could follow). A resident with a regular
routine gets tight limits, an irregular one wider ones, the clock is trusted only where the
routine keeps to it (and with its own uncertainty: a resident can keep to their places more
closely than to their clock), and a weekly rhythm is used only when the history shows one (splitting by day
type then passes leave-one-day-out with shorter limits).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerts.inactivity.model import Calibration, Limit


@dataclass(frozen=True)
class Silences:
    """Observed silences of one kind of context: each with its keys (broadest first; the day type
    last), the local day it started on, its length, and its weight in the objective. Silences
    with ``judged`` False are fitted but not counted by calibration (the entry area, judged
    against absences)."""

    keys: Sequence[Sequence[str]]
    day: Sequence[int]
    length_s: Sequence[float]
    weight: Sequence[float]
    judged: Sequence[bool]
    period: Sequence[int]  # 0 day, 1 night: each learns its own floor


@dataclass(frozen=True)
class Choices:
    depths: Sequence[int]  # how many of the keys (broadest first) may be used
    uncertainty: Sequence[float]
    min_days: Sequence[int]
    floors_s: Sequence[int]
    ceiling_s: int
    false_alarms_per_day: float
    floor_margin_steps: int = 1
    # The first keys say who and where; the deeper ones add the clock (band, hour, day type), whose
    # uncertainty is calibrated apart: a routine can keep to its places and not to its clock.
    place_levels: int = 3


_FloatArray = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _Table:
    """Per key: daily maxima, and the leave-one-day-out view of each silence's keys."""

    vocabulary: list[str]
    key_level: _IntArray  # key -> its level in the chain
    levels: _IntArray  # silence x level -> key index
    day: _IntArray  # silence -> day index
    daily_max: _FloatArray  # key x day
    seen: npt.NDArray[np.bool_]  # key x day
    days: int


def _table(silences: Silences) -> _Table:
    vocabulary: dict[str, int] = {}
    width = max(len(k) for k in silences.keys)
    levels = np.full((len(silences.keys), width), -1, dtype=np.int64)
    key_level: dict[int, int] = {}
    for r, keys in enumerate(silences.keys):
        for level, key in enumerate(keys):
            levels[r, level] = k = vocabulary.setdefault(key, len(vocabulary))
            key_level.setdefault(k, level)
    ordinals = sorted(set(silences.day))
    index = {d: i for i, d in enumerate(ordinals)}
    day = np.array([index[d] for d in silences.day], dtype=np.int64)
    length = np.asarray(silences.length_s, dtype=np.float64)
    daily_max = np.zeros((len(vocabulary), len(ordinals)))
    seen = np.zeros((len(vocabulary), len(ordinals)), dtype=np.bool_)
    for level in range(width):
        present = levels[:, level] >= 0
        np.maximum.at(daily_max, (levels[present, level], day[present]), length[present])
        seen[levels[present, level], day[present]] = True
    key_levels = np.array([key_level[k] for k in range(len(vocabulary))], dtype=np.int64)
    return _Table(list(vocabulary), key_levels, levels, day, daily_max, seen, len(ordinals))


def calibrate(silences: Silences, choices: Choices) -> tuple[Calibration, dict[str, Limit]]:
    """Choose (depth, uncertainty, min_days) and a floor for day and night by leave-one-day-out;
    fit the limits."""
    table = _table(silences)
    length = np.asarray(silences.length_s, dtype=np.float64)
    weight = np.asarray(silences.weight, dtype=np.float64) * np.asarray(silences.judged, dtype=np.float64)
    judged = np.asarray(silences.judged, dtype=np.bool_)
    period = np.asarray(silences.period, dtype=np.int64)
    loo_max, loo_days = _leave_one_day_out(table)
    allowed = math.floor(choices.false_alarms_per_day * table.days + 1e-9)
    best: tuple[tuple[int, float], Calibration] | None = None
    clock = np.arange(loo_max.shape[1]) >= choices.place_levels
    for depth, u, u_clock, min_days in itertools.product(
        choices.depths, choices.uncertainty, choices.uncertainty, choices.min_days
    ):
        if depth <= choices.place_levels and u_clock != u:
            continue  # no clock level used: its uncertainty does not matter
        per_level = np.where(clock, u_clock, u)
        bound = np.where(loo_days >= min_days, loo_max * (1.0 + per_level / np.maximum(loo_days, 1)), np.inf)
        tightest = bound[:, :depth].min(axis=1)
        floors, false_alarms, objective = _floors(tightest, length, weight, judged, period, choices, allowed)
        score = (max(0, false_alarms - allowed), objective / max(float(weight.sum()), 1e-9))
        if best is None or score < best[0]:
            found = Calibration(u, min_days, floors, depth, false_alarms, table.days, u_clock, choices.place_levels)
            best = (score, found)
    assert best is not None
    calibration = best[1]
    return calibration, _fit(table, calibration)


def _floors(
    tightest: _FloatArray,
    length: _FloatArray,
    weight: _FloatArray,
    judged: npt.NDArray[np.bool_],
    period: _IntArray,
    choices: Choices,
    allowed: int,
) -> tuple[tuple[int, ...], int, float]:
    """A floor for the day and one for the night: the pair with the shortest limits among those
    within the allowed leave-one-day-out false alarms (else the fewest), then one step up."""
    count = len(choices.floors_s)
    alarms = np.zeros((count, 2), dtype=np.int64)
    cost = np.zeros((count, 2))
    for f, floor in enumerate(choices.floors_s):
        limit = np.minimum(np.maximum(tightest, floor), choices.ceiling_s)
        alarms[f] = np.bincount(period[judged & (length > limit)], minlength=2)
        cost[f] = np.bincount(period, weights=weight * np.log(limit), minlength=2)
    pairs = [
        (max(0, int(alarms[d, 0] + alarms[n, 1]) - allowed), float(cost[d, 0] + cost[n, 1]), d, n)
        for d in range(count)
        for n in range(count)
    ]
    _, _, day, night = min(pairs)
    # The pair that passed leave-one-day-out is the best of many tried: one step more, so that the
    # selection's optimism is not what tomorrow's first short pause meets.
    day, night = (min(f + choices.floor_margin_steps, count - 1) for f in (day, night))
    return (
        (choices.floors_s[day], choices.floors_s[night]),
        int(alarms[day, 0] + alarms[night, 1]),
        float(cost[day, 0] + cost[night, 1]),
    )


def _leave_one_day_out(table: _Table) -> tuple[_FloatArray, _FloatArray]:
    """Per silence and level: the key's longest silence and its days without the silence's day."""
    daily = table.daily_max
    top_day = daily.argmax(axis=1)
    top = daily.max(axis=1)
    rest = daily.copy()
    rest[np.arange(len(daily)), top_day] = -1.0
    second = rest.max(axis=1) if daily.shape[1] > 1 else np.zeros(len(daily))
    days_seen = table.seen.sum(axis=1)
    keys = np.where(table.levels >= 0, table.levels, 0)
    day = table.day[:, None]
    loo_max = np.where(top_day[keys] == day, second[keys], top[keys])
    loo_days = (days_seen[keys] - table.seen[keys, day]).astype(np.float64)
    loo_days[table.levels < 0] = 0.0  # no such level: never usable
    return loo_max, loo_days


def _fit(table: _Table, calibration: Calibration) -> dict[str, Limit]:
    used = set(np.unique(table.levels[:, : calibration.depth]).tolist()) - {-1}
    days_seen = table.seen.sum(axis=1)
    top = table.daily_max.max(axis=1)
    limits = {}
    for k in sorted(used):
        days = int(days_seen[k])
        if days >= calibration.min_days:
            key = table.vocabulary[k]
            usual = math.ceil(top[k])
            u = calibration.clock_uncertainty if table.key_level[k] >= calibration.place_levels else calibration.uncertainty
            limits[key] = Limit(key, usual, days, math.ceil(top[k] * (1.0 + u / days)))
    return limits
