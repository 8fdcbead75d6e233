"""Learning a resident's routine from their history (pure; the engine runs it off the event loop).

The history is folded through the same :class:`~alerts.inactivity.tracker.Tracker` the engine
evaluates with. Every silence is recorded with its context: at home, the time from an event to
the next one; out, the time from the last door event to the next door event or to the evidence of
a return. Calibration (``calibration.py``) turns them into limits. Silences overlapping a calendar
absence teach nothing and are left out; so is the silence still going on at ``now`` (it may be
the emergency).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.inactivity.calibration import Choices, Silences, calibrate
from alerts.inactivity.coverage import UNTRAINED, assess_coverage
from alerts.inactivity.events import (
    DOOR_KINDS,
    Absence,
    ActivityEvent,
    in_calendar_absence,
    is_weekend,
    require_aware,
    seconds_of_day,
)
from alerts.inactivity.model import Calibration, InactivitySettings, Limit, RoutineModel
from alerts.inactivity.tracker import MAX_WAKE_AREAS, Context, Night, Tracker

_BIN_S = 600  # one collapse per 10-minute bin with activity, as the bench samples them
_NIGHT_RETURN_WITHIN_S = 4 * 3600


@dataclass
class _Observed:
    home: list[tuple[Context, float]] = field(default_factory=list)
    out: list[tuple[Context, float]] = field(default_factory=list)
    # local day -> reached[k-1]: when the resident first moved around k rooms that morning
    mornings: dict[int, list[datetime | None]] = field(default_factory=dict)
    night_bed_returns: list[float] = field(default_factory=list)
    rooms: set[str] = field(default_factory=set)
    has_door: bool = False
    has_bed: bool = False


def learn_routine(
    events: Sequence[ActivityEvent],
    tz: ZoneInfo,
    *,
    now: datetime,
    settings: InactivitySettings | None = None,
    absences: Sequence[Absence] = (),
) -> RoutineModel:
    """Learn the routine from the history before ``now`` (events in any order)."""
    cfg = settings or InactivitySettings()
    require_aware(now, "now")
    for event in events:
        require_aware(event.at, "event.at")
    history = sorted((e for e in events if e.at <= now and not in_calendar_absence(e.at, absences)), key=ActivityEvent.order)
    observed = _observe(history, tz, cfg, absences)
    days = {e.at.astimezone(tz).toordinal() for e in history}
    trusted = len(days) >= cfg.min_history_days
    # Up = moving around this many rooms: capped at the rooms the home has, minus one, so that
    # small homes can still be up (and a one-room home with its one room).
    rooms = len(observed.rooms)
    min_areas = min(rooms, max(2, min(cfg.wake_min_areas, rooms - 1))) if rooms else 1
    wake = _usual_wake(observed, history, tz, cfg, min_areas) if trusted else {}
    start, end = _night(wake, cfg) if trusted else (cfg.night_start_s, cfg.night_end_s)
    night = Night(start, end, min_areas if wake else 0)
    home, out, limits = _calibrated(observed, tz, night, cfg) if trusted else (None, None, {})
    returns = observed.night_bed_returns
    model = RoutineModel(
        tz=tz.key,
        learned_at=now,
        days_of_history=len(days),
        trusted=trusted,
        tracker=cfg.tracker,
        home=home,
        out=out,
        limits=limits,
        ceiling_s=cfg.ceiling_s,
        default_threshold_s=cfg.default_threshold_s,
        default_night_threshold_s=cfg.default_night_threshold_s,
        night_start_s=start,
        night_end_s=end,
        default_absence_threshold_s=cfg.default_absence_threshold_s,
        absence_ceiling_s=cfg.absence_ceiling_s,
        usual_wake_s=wake,
        not_up_margin_s=cfg.not_up_margin_s,
        wake_min_areas=min_areas,
        has_bed=observed.has_bed,
        has_door=observed.has_door,
        night_bed_return_s=math.ceil(max(returns)) if returns else None,
        night_bed_exits=len(returns),
        coverage=UNTRAINED,
    )
    return replace(model, coverage=assess_coverage(model, [ctx for ctx, _ in observed.home], cfg.min_history_days))


def _calibrated(
    observed: _Observed, tz: ZoneInfo, night: Night, cfg: InactivitySettings
) -> tuple[Calibration | None, Calibration | None, dict[str, Limit]]:
    """Limits at home and out, each calibrated on the resident's own silences."""
    home: Calibration | None = None
    out: Calibration | None = None
    limits: dict[str, Limit] = {}
    if observed.home:
        home, fitted = calibrate(_silences(observed.home, tz, night, cfg, judge_entry=False), _home_choices(cfg))
        limits |= fitted
    if observed.out:
        out, fitted = calibrate(_silences(observed.out, tz, night, cfg, judge_entry=True), _out_choices(cfg))
        limits |= fitted
    return home, out, limits


def _observe(history: Sequence[ActivityEvent], tz: ZoneInfo, cfg: InactivitySettings, absences: Sequence[Absence]) -> _Observed:
    observed = _Observed()
    tracker = Tracker(tz, cfg.tracker)
    open_context: Context | None = None
    bed_exit: datetime | None = None
    for event in history:
        day_before = tracker.search_day
        reached_before = tracker.reached
        tracker.push(event)
        if day_before is not None and tracker.search_day != day_before:
            observed.mornings[day_before] = reached_before
        context = tracker.context
        if open_context is not None and (context.since != open_context.since or context.group != open_context.group):
            if not any(open_context.since < end and start < event.at for start, end in absences):
                length = (event.at - open_context.since).total_seconds()
                (observed.out if open_context.group == "out" else observed.home).append((open_context, length))
            open_context = context
        elif open_context is None:
            open_context = context
        bed_exit = _note_bed_return(observed, event, bed_exit, tz, cfg)
        _note_sensors(observed, event)
    if tracker.search_day is not None:
        observed.mornings[tracker.search_day] = tracker.reached
    return observed


def _note_bed_return(
    observed: _Observed, event: ActivityEvent, bed_exit: datetime | None, tz: ZoneInfo, cfg: InactivitySettings
) -> datetime | None:
    """Night-time bed exits and how long until back in bed (for the alarm's explanation)."""
    if event.kind == "bed_out":
        sod = seconds_of_day(event.at, tz)
        at_night = sod >= cfg.night_start_s or sod < cfg.night_end_s
        return event.at if at_night else None
    if event.kind == "bed_in" and bed_exit is not None:
        away = (event.at - bed_exit).total_seconds()
        if away <= _NIGHT_RETURN_WITHIN_S:
            observed.night_bed_returns.append(away)
        return None
    return bed_exit


def _note_sensors(observed: _Observed, event: ActivityEvent) -> None:
    if event.kind in DOOR_KINDS:
        observed.has_door = True
        return
    observed.rooms.add(event.room)
    if event.kind in ("bed_in", "bed_out"):
        observed.has_bed = True


def _silences(
    observed: list[tuple[Context, float]], tz: ZoneInfo, night: Night, cfg: InactivitySettings, *, judge_entry: bool
) -> Silences:
    bins = Counter(int(ctx.since.timestamp()) // _BIN_S for ctx, _ in observed)
    return Silences(
        keys=[ctx.keys(night) for ctx, _ in observed],
        day=[ctx.since.astimezone(tz).toordinal() for ctx, _ in observed],
        length_s=[length for _, length in observed],
        weight=[1.0 / bins[int(ctx.since.timestamp()) // _BIN_S] for ctx, _ in observed],
        judged=[judge_entry or ctx.last.room not in cfg.tracker.entry_areas for ctx, _ in observed],
        period=[ctx.period(night) for ctx, _ in observed],
    )


def _home_choices(cfg: InactivitySettings) -> Choices:
    floors = sorted({f for f in cfg.floor_choices_s if f >= cfg.floor_s} | {cfg.floor_s})
    return Choices((3, 4, 5, 6), cfg.uncertainty_choices, cfg.min_days_choices, floors, cfg.ceiling_s, cfg.false_alarms_per_day)


def _out_choices(cfg: InactivitySettings) -> Choices:
    floors, ceiling = cfg.absence_floor_choices_s, cfg.absence_ceiling_s
    return Choices(
        (1, 2, 3), cfg.uncertainty_choices, cfg.min_days_choices, floors, ceiling, cfg.false_alarms_per_day, place_levels=1
    )


def _usual_wake(
    observed: _Observed, history: Sequence[ActivityEvent], tz: ZoneInfo, cfg: InactivitySettings, min_areas: int
) -> dict[str, int]:
    """The ``wake_quantile`` of the daily get-up times, per day type once seen on enough days."""
    mornings = dict(observed.mornings)
    if history and seconds_of_day(history[0].at, tz) > cfg.tracker.wake_search_start_s:
        # The history begins after that morning's search opened (the learning window starts at
        # the time of day of `now`): the resident may have been up before it, and the first
        # moving around after it (lunch, say) would pass for a very late wake-up.
        mornings.pop(history[0].at.astimezone(tz).toordinal(), None)
    by_type: dict[str, list[int]] = defaultdict(list)
    for reached in mornings.values():
        up = reached[min(min_areas, MAX_WAKE_AREAS) - 1]
        if up is not None:
            by_type["weekend" if is_weekend(up, tz) else "weekday"].append(seconds_of_day(up, tz))
    everyone = sorted(by_type["weekday"] + by_type["weekend"])
    if not everyone:
        return {}
    wake = {}
    for daytype in ("weekday", "weekend"):
        own = sorted(by_type[daytype])
        wake[daytype] = _quantile(own if len(own) >= cfg.min_daytype_days else everyone, cfg.wake_quantile)
    return wake


def _night(wake: dict[str, int], cfg: InactivitySettings) -> tuple[int, int]:
    """The resident's night: the ``night_length_s`` before their usual get-up time (weekdays).

    Anchored on getting up, which the morning's moving around shows clearly; falling asleep does
    not show as clearly without a bed sensor (a resident who sleeps in 2-3 hour segments has
    evening TV silences as long as any of them)."""
    usual = wake.get("weekday")
    if usual is None:
        return cfg.night_start_s, cfg.night_end_s
    return (usual - cfg.night_length_s) % 86_400, usual


def _quantile(ordered: Sequence[int], q: float) -> int:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
