"""Inactivity against the resident's own learned routine: pure logic, no I/O.

The alert engine loads events from the database, calls these functions and stores what they
return; nothing here reads a clock, a file or the environment.

Public API::

    ActivityEvent(at, kind, area=None)          one sensor event; `at` timezone-aware
    InactivitySettings(...)                     knobs, every duration in seconds (`*_s`)
    learn_routine(events, tz, *, now, settings=InactivitySettings(), absences=()) -> RoutineModel
    RoutineModel.to_dict() / RoutineModel.from_dict(data)   JSON-able, for storage
    evaluate_inactivity(model, events, *, now, absences=()) -> InactivityFinding | None
    InactivityFinding.to_dict()                 evidence to store with the alert
    format_duration_en(d) / format_duration_zh(d)

How it decides. The home's state at `now` is described by the last event before `now`:

- its *context*: the area of the last motion ("bedroom", "kitchen", ...); a door event means
  the resident went out ("out"); motion in an entry area (``settings.entry_areas``) may be an
  absence the door contact missed, so it gets at least the absence threshold.
- the *time of day* of `now`, in 15-minute slots of the resident's local time.

`learn_routine` replays the history and records, for every (context, slot), the longest
inactivity that was ever still going on in that slot after an event in that context ("after
motion in the bedroom, at 03:00, this person has been inactive for at most 4 h 30 min"). The
maximum is taken over a window of neighbouring slots, because tomorrow's nap is not exactly at
today's time, but it is capped by the maximum over all areas in the same two-hour period of the
clock (``pool_s``), which has more data behind it. An (area, slot) seen on fewer than
``min_context_days`` days uses that all-areas maximum. The alarm threshold is ``usual max * margin_factor + margin_s``,
clamped to ``[floor_s, ceiling_s]``. Until ``min_history_days`` days exist, fixed day/night
defaults apply.

A separate "not up" finding fires when, past the usual time of getting up plus a margin, no
moving around (motion in several areas within ``wake_window_s``) has happened since
the morning search window opened. While the resident is out, no inactivity or not-up finding
is raised; a "long_absence" finding fires when an absence lasts longer than any learned one
(with a margin). An absence calendar (hospital stay, holiday) pauses everything, and silence is
counted from the end of the last calendar absence.

Evaluation is stateless given (model, events, now), costs a binary search plus a scan of the
morning's events, and needs only the events of the last 24 hours (more is harmless; events
after `now` are ignored). Events must be sorted by time.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

EventKind = Literal["motion", "door_open", "door_close"]
FindingKind = Literal["inactivity", "not_up", "long_absence"]
Absence = tuple[datetime, datetime]

OUT = "out"  # context of a gap that started with a door event
ANY = "*"  # context of the per-slot fallback over all areas
UNKNOWN_AREA = "unknown"
_DAY_S = 86_400
_MODEL_VERSION = 1


@dataclass(frozen=True)
class ActivityEvent:
    """One sensor event. `area` is a room name such as "bedroom", "bathroom", "entry"."""

    at: datetime
    kind: EventKind
    area: str | None = None


@dataclass(frozen=True)
class InactivitySettings:
    """Knobs of learning; every duration is in seconds, every time of day in seconds after
    local midnight."""

    slot_s: int = 900
    # Smoothing, pooling and margin were chosen together on the first 15 CASAS days (learn on
    # 7-10, validate on the rest; bench/inactivity.py): wider windows mean fewer independent
    # maxima to be beaten by tomorrow's longest silence, which let the margin shrink.
    smoothing_window_s: int = 7200
    # An area's usual maximum is capped by the maximum over all areas in the same clock period.
    pool_s: int = 7200
    min_history_days: int = 7
    # An (area, slot) needs data from this many distinct days before its own maximum is used.
    min_context_days: int = 3
    default_threshold_s: int = 3 * 3600
    default_night_threshold_s: int = 10 * 3600
    night_start_s: int = 22 * 3600
    night_end_s: int = 8 * 3600
    margin_factor: float = 1.1
    margin_s: int = 600
    floor_s: int = 1800
    ceiling_s: int = 12 * 3600
    entry_areas: tuple[str, ...] = ("entry",)
    default_absence_threshold_s: int = 12 * 3600
    absence_floor_s: int = 4 * 3600
    absence_ceiling_s: int = 24 * 3600
    wake_search_start_s: int = 4 * 3600
    wake_search_end_s: int = 13 * 3600
    # "Up" means motion in wake_min_areas distinct areas within wake_window_s (capped at the
    # number of areas the home has, minus one, so small homes can still be "up").
    wake_window_s: int = 1800
    wake_min_areas: int = 4
    wake_quantile: float = 0.9
    not_up_margin_s: int = 3600

    def __post_init__(self) -> None:
        if self.slot_s <= 0 or _DAY_S % self.slot_s:
            raise ValueError("slot_s must divide a day")
        if not 0.0 <= self.wake_quantile <= 1.0:
            raise ValueError("wake_quantile must be within [0, 1]")


@dataclass(frozen=True)
class RoutineModel:
    """What was learned from one resident's history; store it with `to_dict`."""

    tz: str
    learned_at: datetime
    days_of_history: int
    trusted: bool
    slot_s: int
    # context -> per-slot seconds; `usual_max_s` is what was observed, `threshold_s` the limit.
    usual_max_s: Mapping[str, tuple[int, ...]]
    threshold_s: Mapping[str, tuple[int, ...]]
    entry_areas: tuple[str, ...]
    absence_usual_max_s: int | None
    absence_threshold_s: int
    usual_wake_s: int | None
    not_up_after_s: int | None
    wake_search_start_s: int
    wake_search_end_s: int
    wake_window_s: int
    wake_min_areas: int
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _require_aware(self.learned_at, "learned_at")
        object.__setattr__(self, "zone", ZoneInfo(self.tz))

    def limits(self, context: str, slot: int) -> tuple[int, int]:
        """(usual max, threshold) in seconds for a context at a slot; unknown areas use ANY."""
        key = context if context in self.threshold_s else ANY
        threshold = self.threshold_s[key][slot]
        usual = self.usual_max_s.get(key)
        return (usual[slot] if usual else threshold), threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": _MODEL_VERSION,
            "tz": self.tz,
            "learned_at": self.learned_at.isoformat(),
            "days_of_history": self.days_of_history,
            "trusted": self.trusted,
            "slot_s": self.slot_s,
            "usual_max_s": {k: list(v) for k, v in self.usual_max_s.items()},
            "threshold_s": {k: list(v) for k, v in self.threshold_s.items()},
            "entry_areas": list(self.entry_areas),
            "absence_usual_max_s": self.absence_usual_max_s,
            "absence_threshold_s": self.absence_threshold_s,
            "usual_wake_s": self.usual_wake_s,
            "not_up_after_s": self.not_up_after_s,
            "wake_search_start_s": self.wake_search_start_s,
            "wake_search_end_s": self.wake_search_end_s,
            "wake_window_s": self.wake_window_s,
            "wake_min_areas": self.wake_min_areas,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutineModel:
        if data.get("version") != _MODEL_VERSION:
            raise ValueError(f"unsupported routine model version: {data.get('version')!r}")
        fields = dict(data)
        del fields["version"]
        fields["learned_at"] = datetime.fromisoformat(data["learned_at"])
        for name in ("usual_max_s", "threshold_s"):
            fields[name] = {k: tuple(int(x) for x in v) for k, v in data[name].items()}
        fields["entry_areas"] = tuple(data["entry_areas"])
        return cls(**fields)


@dataclass(frozen=True)
class InactivityFinding:
    """Why the rule fires now. `usual_max` is the learned normal (or the default limit)."""

    kind: FindingKind
    now: datetime
    since: datetime
    inactive_for: timedelta
    usual_max: timedelta
    threshold: timedelta
    context: str
    learned: bool
    usual_up_by: time | None
    explanation_en: str
    explanation_zh: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "now": self.now.isoformat(),
            "since": self.since.isoformat(),
            "inactive_for_s": int(self.inactive_for.total_seconds()),
            "usual_max_s": int(self.usual_max.total_seconds()),
            "threshold_s": int(self.threshold.total_seconds()),
            "context": self.context,
            "learned": self.learned,
            "usual_up_by": self.usual_up_by.isoformat("minutes") if self.usual_up_by else None,
            "explanation_en": self.explanation_en,
            "explanation_zh": self.explanation_zh,
        }


# --------------------------------------------------------------------------- helpers


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _seconds_of_day(moment: datetime, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    return local.hour * 3600 + local.minute * 60 + local.second


def _context(event: ActivityEvent) -> str:
    if event.kind != "motion":
        return OUT
    return event.area if event.area is not None else UNKNOWN_AREA


def _absence_at(moment: datetime, absences: Sequence[Absence]) -> bool:
    return any(start <= moment < end for start, end in absences)


def _silence_start(last: datetime, now: datetime, absences: Sequence[Absence]) -> datetime:
    """Silence is counted from the last event or the end of a calendar absence after it."""
    ends = [end for _, end in absences if last < end <= now]
    return max([last, *ends])


def format_duration_en(duration: timedelta) -> str:
    """'2 h 40 min', '45 min', '3 h' (minutes rounded down)."""
    hours, minutes = divmod(int(duration.total_seconds()) // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def format_duration_zh(duration: timedelta) -> str:
    """'2 小时 40 分钟', '45 分钟', '3 小时'."""
    hours, minutes = divmod(int(duration.total_seconds()) // 60, 60)
    if hours and minutes:
        return f"{hours} 小时 {minutes} 分钟"
    return f"{hours} 小时" if hours else f"{minutes} 分钟"


def _clock(seconds: int) -> time:
    seconds %= _DAY_S
    return time(seconds // 3600, seconds // 60 % 60)


# --------------------------------------------------------------------------- learning


@dataclass
class _Observed:
    """Per (context, slot): the longest inactivity still going on there, and on which days."""

    longest: dict[str, list[int]]
    days: dict[str, list[set[int]]]


def learn_routine(
    events: Sequence[ActivityEvent],
    tz: ZoneInfo,
    *,
    now: datetime,
    settings: InactivitySettings | None = None,
    absences: Sequence[Absence] = (),
) -> RoutineModel:
    """Learn the routine from the history before `now` (events in any order)."""
    cfg = settings or InactivitySettings()
    _require_aware(now, "now")
    for event in events:
        _require_aware(event.at, "event.at")
    # A total order, so events with equal timestamps learn the same model in any input order.
    history = sorted((e for e in events if e.at <= now), key=lambda e: (e.at, e.kind, e.area or ""))
    days = {e.at.astimezone(tz).date() for e in history if not _absence_at(e.at, absences)}
    observed, absence_max = _observe_gaps(history, tz, cfg, absences)
    areas = {e.area for e in history if e.kind == "motion" and e.area is not None}
    min_areas = max(2, min(cfg.wake_min_areas, len(areas) - 1))
    wake = _usual_wake(history, tz, cfg, min_areas)
    trusted = len(days) >= cfg.min_history_days
    usual, thresholds = _learned_limits(observed, cfg) if trusted else ({}, {ANY: _default_limits(cfg)})
    absence_threshold = (
        _clamp(absence_max, cfg, cfg.absence_floor_s, cfg.absence_ceiling_s)
        if trusted and absence_max is not None
        else cfg.default_absence_threshold_s
    )
    return RoutineModel(
        tz=tz.key,
        learned_at=now,
        days_of_history=len(days),
        trusted=trusted,
        slot_s=cfg.slot_s,
        usual_max_s=usual,
        threshold_s=thresholds,
        entry_areas=cfg.entry_areas,
        absence_usual_max_s=absence_max if trusted else None,
        absence_threshold_s=absence_threshold,
        usual_wake_s=wake if trusted else None,
        not_up_after_s=wake + cfg.not_up_margin_s if trusted and wake is not None else None,
        wake_search_start_s=cfg.wake_search_start_s,
        wake_search_end_s=cfg.wake_search_end_s,
        wake_window_s=cfg.wake_window_s,
        wake_min_areas=min_areas,
    )


def _observe_gaps(
    history: Sequence[ActivityEvent],
    tz: ZoneInfo,
    cfg: InactivitySettings,
    absences: Sequence[Absence],
) -> tuple[_Observed, int | None]:
    """Walk every gap between consecutive events; the ongoing gap at `now` is not learned
    (it may be the emergency)."""
    slots = _DAY_S // cfg.slot_s
    observed = _Observed(defaultdict(lambda: [0] * slots), defaultdict(lambda: [set() for _ in range(slots)]))
    absence_max: int | None = None
    for before, after in pairwise(history):
        if any(before.at < end and start < after.at for start, end in absences):
            continue  # a hospital stay or holiday says nothing about the routine
        context = _context(before)
        if context == OUT or context in cfg.entry_areas:
            # Silence after the door or the entry may be an absence: learn its length.
            length = int((after.at - before.at).total_seconds())
            absence_max = max(absence_max or 0, length)
            if context == OUT:
                continue
        _record_gap(observed, context, before.at, after.at, tz, cfg.slot_s)
    return observed, absence_max


def _record_gap(observed: _Observed, context: str, start: datetime, end: datetime, tz: ZoneInfo, slot_s: int) -> None:
    """For every slot the gap passes through, note how long the silence had lasted on leaving it."""
    longest, days = observed.longest[context], observed.days[context]
    moment = start
    while moment < end:
        local = moment.astimezone(tz)
        sod = local.hour * 3600 + local.minute * 60 + local.second
        slot = sod // slot_s
        leave = min(end, moment + timedelta(seconds=slot_s - sod % slot_s))
        longest[slot] = max(longest[slot], math.ceil((leave - start).total_seconds()))
        days[slot].add(local.toordinal())
        moment = leave


def _learned_limits(
    observed: _Observed, cfg: InactivitySettings
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    slots = _DAY_S // cfg.slot_s
    reach = cfg.smoothing_window_s // cfg.slot_s
    pooled = _pooled_max(observed, cfg)
    usual: dict[str, tuple[int, ...]] = {ANY: tuple(pooled)}
    for context, longest in observed.longest.items():
        days = observed.days[context]
        values = []
        for k in range(slots):
            own = _window_max(longest, days, [(k + w) % slots for w in range(-reach, reach + 1)], cfg.min_context_days)
            # Smoothing guards a sparse area against tomorrow's nap being a little later, but it
            # never needs to exceed what all areas together showed in this period of the day.
            values.append(pooled[k] if own is None else min(own, pooled[k]))
        usual[context] = tuple(values)
    thresholds = {c: tuple(_clamp(v, cfg, cfg.floor_s, cfg.ceiling_s) for v in vals) for c, vals in usual.items()}
    return usual, thresholds


def _pooled_max(observed: _Observed, cfg: InactivitySettings) -> list[int]:
    """Per slot, the longest inactivity after any area within the same `pool_s` period of the day
    (the default where nothing was ever observed, e.g. the resident is always out then)."""
    slots, per_pool = _DAY_S // cfg.slot_s, max(1, cfg.pool_s // cfg.slot_s)
    defaults = _default_limits(cfg)
    pooled = []
    for k in range(slots):
        first = k - k % per_pool
        seen = [v for longest in observed.longest.values() for v in longest[first : first + per_pool] if v]
        pooled.append(max(seen) if seen else defaults[k])
    return pooled


def _window_max(longest: Sequence[int], days: Sequence[set[int]], window: Sequence[int], min_days: int) -> int | None:
    seen: set[int] = set()
    for k in window:
        seen |= days[k]
    if len(seen) < min_days:
        return None  # too few days to trust this area at this time: use the slot's fallback
    return max(longest[k] for k in window)


def _clamp(usual_s: int, cfg: InactivitySettings, low: int, high: int) -> int:
    return int(min(high, max(low, usual_s * cfg.margin_factor + cfg.margin_s)))


def _default_limits(cfg: InactivitySettings) -> tuple[int, ...]:
    def at_night(sod: int) -> bool:
        if cfg.night_start_s <= cfg.night_end_s:
            return cfg.night_start_s <= sod < cfg.night_end_s
        return sod >= cfg.night_start_s or sod < cfg.night_end_s

    return tuple(
        cfg.default_night_threshold_s if at_night(k * cfg.slot_s) else cfg.default_threshold_s
        for k in range(_DAY_S // cfg.slot_s)
    )


def _usual_wake(history: Sequence[ActivityEvent], tz: ZoneInfo, cfg: InactivitySettings, min_areas: int) -> int | None:
    """The `wake_quantile` of the daily get-up times (seconds after local midnight)."""
    by_day: dict[int, list[ActivityEvent]] = defaultdict(list)
    for event in history:
        sod = _seconds_of_day(event.at, tz)
        if cfg.wake_search_start_s <= sod < cfg.wake_search_end_s:
            by_day[event.at.astimezone(tz).toordinal()].append(event)
    if history and _seconds_of_day(history[0].at, tz) > cfg.wake_search_start_s:
        # The history begins after that morning's search opened (the learning window starts at
        # the time of day of `now`): the resident may have been up before it, and the first
        # moving around after it (lunch, say) would pass for a very late wake-up.
        by_day.pop(history[0].at.astimezone(tz).toordinal(), None)
    wakes = sorted(
        _seconds_of_day(up, tz)
        for day_events in by_day.values()
        if (up := _first_up(day_events, cfg.wake_window_s, min_areas)) is not None
    )
    if not wakes:
        return None
    rank = max(0, math.ceil(cfg.wake_quantile * len(wakes)) - 1)
    return wakes[rank]


def _first_up(events: Sequence[ActivityEvent], window_s: int, min_areas: int) -> datetime | None:
    """Start of the first `window_s` window with motion in `min_areas` distinct areas.

    Moving around the home is what tells getting up from a night toilet trip (bedroom and
    bathroom) or restless sleep (bedroom only); a pause of 20 minutes does not."""
    counts: dict[str, int] = defaultdict(int)
    tail = 0
    for event in events:
        if event.kind != "motion" or event.area is None:
            continue
        counts[event.area] += 1
        while (event.at - events[tail].at).total_seconds() > window_s:
            _forget(counts, events[tail])
            tail += 1
        if len(counts) >= min_areas:
            return next(e.at for e in events[tail:] if e.kind == "motion" and e.area is not None)
    return None


def _forget(counts: dict[str, int], event: ActivityEvent) -> None:
    if event.kind != "motion" or event.area is None:
        return
    counts[event.area] -= 1
    if not counts[event.area]:
        del counts[event.area]


# --------------------------------------------------------------------------- evaluation


def evaluate_inactivity(
    model: RoutineModel,
    events: Sequence[ActivityEvent],
    *,
    now: datetime,
    absences: Sequence[Absence] = (),
) -> InactivityFinding | None:
    """The finding at `now`, or None. `events` sorted by time; later-than-now ones ignored."""
    _require_aware(now, "now")
    if _absence_at(now, absences):
        return None
    end = bisect_right(events, now, key=lambda e: e.at)
    if end == 0:
        return None  # nothing to measure silence from
    last = events[end - 1]
    _require_aware(last.at, "event.at")
    since = _silence_start(last.at, now, absences)
    context = _context(last)
    if context == OUT:
        return _long_absence(model, now, since)
    finding = _inactivity(model, context, now, since)
    if finding is None and since == last.at:
        finding = _not_up(model, events, end, context, now)
    return finding


def _inactivity(model: RoutineModel, context: str, now: datetime, since: datetime) -> InactivityFinding | None:
    slot = _seconds_of_day(now, model.zone) // model.slot_s
    usual_s, threshold_s = model.limits(context, slot)
    if context in model.entry_areas:
        # Maybe out without a door event: never stricter than the absence limit.
        usual_s = max(usual_s, model.absence_usual_max_s or 0)
        threshold_s = max(threshold_s, model.absence_threshold_s)
    inactive = now - since
    if inactive.total_seconds() <= threshold_s:
        return None
    usual, threshold = timedelta(seconds=usual_s), timedelta(seconds=threshold_s)
    if model.trusted:
        en = f"no movement for {format_duration_en(inactive)}; at this time of day usually at most {format_duration_en(usual)}"
        zh = f"已 {format_duration_zh(inactive)}无活动；此时段通常最多 {format_duration_zh(usual)}"
    else:
        en = (
            f"no movement for {format_duration_en(inactive)}; "
            f"routine not learned yet, default limit {format_duration_en(threshold)}"
        )
        zh = f"已 {format_duration_zh(inactive)}无活动；尚未学习作息，默认上限 {format_duration_zh(threshold)}"
    return InactivityFinding("inactivity", now, since, inactive, usual, threshold, context, model.trusted, None, en, zh)


def _long_absence(model: RoutineModel, now: datetime, since: datetime) -> InactivityFinding | None:
    away = now - since
    if away.total_seconds() <= model.absence_threshold_s:
        return None
    threshold = timedelta(seconds=model.absence_threshold_s)
    usual = timedelta(seconds=model.absence_usual_max_s) if model.absence_usual_max_s else threshold
    en = f"out for {format_duration_en(away)} since the front door; longest usual absence {format_duration_en(usual)}"
    zh = f"出门已 {format_duration_zh(away)}；通常外出最长 {format_duration_zh(usual)}"
    return InactivityFinding("long_absence", now, since, away, usual, threshold, OUT, model.trusted, None, en, zh)


def _not_up(
    model: RoutineModel, events: Sequence[ActivityEvent], end: int, context: str, now: datetime
) -> InactivityFinding | None:
    if model.not_up_after_s is None or model.usual_wake_s is None:
        return None
    local = now.astimezone(model.zone)
    sod = local.hour * 3600 + local.minute * 60 + local.second
    if not model.not_up_after_s <= sod < model.wake_search_end_s:
        return None
    last = events[end - 1].at
    if (now - last).total_seconds() <= model.wake_window_s / 2:
        return None  # moving right now: perhaps getting up at this very moment
    opened = (local - timedelta(seconds=sod - model.wake_search_start_s)).astimezone(now.tzinfo)
    start = bisect_right(events, opened, lo=0, hi=end, key=lambda e: e.at)
    if _first_up(events[start:end], model.wake_window_s, model.wake_min_areas) is not None:
        return None
    inactive = now - last
    usual_s, threshold_s = model.limits(context, sod // model.slot_s)
    up_by = _clock(model.usual_wake_s)
    since_clock = last.astimezone(model.zone).strftime("%H:%M")
    en = f"not up by the usual time: no activity since {since_clock}, usually up by {up_by:%H:%M}"
    zh = f"未按平时时间起床：自 {since_clock} 起无活动，通常 {up_by:%H:%M} 前已起床"
    return InactivityFinding(
        "not_up",
        now,
        last,
        inactive,
        timedelta(seconds=usual_s),
        timedelta(seconds=threshold_s),
        context,
        True,
        up_by,
        en,
        zh,
    )
