"""When the rule fires: the due time of the home's silence, and the finding at ``now``.

:func:`alarm_due` answers "if nothing else happens, when does an alarm come, and which?" from the
folded state of the home. :func:`evaluate_inactivity` (what the engine calls at every pass) fires
exactly when ``now`` has reached that time, and the benchmark measures latency and false alarms
with the same function, so what is measured is what runs.

- at home: silence since the last event longer than the limit learned for its context; when the
  bed mat says the resident got up in the night, that is "out of bed, not back" (``bed_exit``);
  in bed at night, silence is sleep: only the not-up check judges it;
- not up: past the usual get-up time plus a margin (per day type) the resident has not moved
  around the home since the morning search opened;
- out (door, then no evidence of a return): an absence longer than the resident's own absences
  starting at that time of day.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from alerts.inactivity.events import (
    Absence,
    ActivityEvent,
    in_calendar_absence,
    in_window,
    is_weekend,
    require_aware,
    seconds_of_day,
)
from alerts.inactivity.explain import Explanation, explain
from alerts.inactivity.model import Limit, RoutineModel
from alerts.inactivity.tracker import Context, Tracker

FindingKind = Literal["inactivity", "bed_exit", "not_up", "long_absence"]


@dataclass(frozen=True)
class Due:
    """The alarm the home's silence leads to if nothing else happens."""

    at: datetime
    kind: FindingKind
    context: Context
    since: datetime
    threshold: timedelta
    limit: Limit | None  # the learned limit that decided (None: a default, or not up)
    usual_up_s: int | None  # not up: the usual get-up time


def threshold_s(model: RoutineModel, context: Context) -> tuple[int, Limit | None]:
    """The alarm threshold for a context, and the learned limit it comes from."""
    limit = model.limit(context)
    if context.group == "out":
        low = model.floor_s(context)
        raw = limit.threshold_s if limit else model.default_absence_threshold_s
        return min(model.absence_ceiling_s, max(low, raw)), limit
    if context.group == "in_bed" and context.period(model.night) and model.usual_wake_s:
        # In bed at night and silent is sleep, however long: the not-up check judges it in the
        # morning (Ordonez A slept 10 h once in its test days, longer than any learned night).
        return model.ceiling_s, None
    if limit is None or model.home is None:
        return _default_threshold_s(model, context), None
    threshold = min(model.ceiling_s, max(model.floor_s(context), limit.threshold_s))
    if context.last.room in model.tracker.entry_areas:
        # Maybe out without a door event: never stricter than an absence starting now.
        out = replace(context, group="out", bed_since=None)
        threshold = max(threshold, threshold_s(model, out)[0])
    return threshold, limit


def night_bed_exit(model: RoutineModel, context: Context) -> bool:
    """Out of bed after getting up within the resident's night, still in the night and not up for
    the day (moving around the home in the morning is getting up): "out of bed, not back"."""
    bed_since = context.bed_since
    night = model.night
    if context.group != "up" or bed_since is None or not context.period(night) or context.up(night):
        return False
    return in_window(seconds_of_day(bed_since, model.zone), model.night_start_s, model.night_end_s)


def _default_threshold_s(model: RoutineModel, context: Context) -> int:
    return model.default_night_threshold_s if context.period(model.night) else model.default_threshold_s


def alarm_due(model: RoutineModel, tracker: Tracker, absences: Sequence[Absence] = ()) -> Due | None:
    """When the home's silence becomes an alarm, if no event comes first (None: never)."""
    context = tracker.context
    threshold, limit = threshold_s(model, context)
    since = _after_calendar(context.since, absences)
    kind: FindingKind = (
        "long_absence" if context.group == "out" else "bed_exit" if night_bed_exit(model, context) else "inactivity"
    )
    due = Due(since + timedelta(seconds=threshold), kind, context, since, timedelta(seconds=threshold), limit, None)
    if context.group != "out" and since == context.since:
        not_up = _not_up_due(model, tracker, context)
        if not_up is not None and not_up.at < due.at:
            return not_up
    return due


def _after_calendar(since: datetime, absences: Sequence[Absence]) -> datetime:
    """Silence is counted from the end of a calendar absence after the last event: the absence
    explains the silence before it (the engine loads the absences begun by ``now``)."""
    for _, end in sorted(absences):
        if end > since:
            since = end
    return since


def _not_up_due(model: RoutineModel, tracker: Tracker, context: Context) -> Due | None:
    if not model.usual_wake_s:
        return None
    cfg, zone, last = model.tracker, model.zone, context.last.at
    local = last.astimezone(zone)
    day = local.toordinal()
    if seconds_of_day(last, zone) >= cfg.wake_search_end_s or tracker.up_at(model.wake_min_areas, day) is not None:
        day += 1  # this morning is over or the resident was up: the next morning is what counts
    midnight = datetime.fromordinal(day).replace(tzinfo=zone)
    weekend = is_weekend(midnight, zone)
    after_s = model.not_up_after_s(weekend)
    if after_s is None or after_s >= cfg.wake_search_end_s:
        return None
    window_end = midnight + timedelta(seconds=cfg.wake_search_end_s)
    at = max(midnight + timedelta(seconds=after_s), last + timedelta(seconds=cfg.wake_window_s / 2))
    if at >= window_end:
        return None
    usual = model.usual_wake_s["weekend" if weekend else "weekday"]
    return Due(at.astimezone(last.tzinfo), "not_up", context, last, at - last, None, usual)


@dataclass(frozen=True)
class InactivityFinding:
    """Why the rule fires now. ``usual_max`` is the learned normal (or the default limit)."""

    kind: FindingKind
    now: datetime
    since: datetime
    inactive_for: timedelta
    usual_max: timedelta
    threshold: timedelta
    context: str
    learned: bool
    usual_up_by: str | None
    explanation: Explanation

    @property
    def explanation_en(self) -> str:
        return self.explanation.en

    @property
    def explanation_zh(self) -> str:
        return self.explanation.zh

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "now": self.now.isoformat(),
            "since": self.since.isoformat(),
            "inactive_for_s": int(self.inactive_for.total_seconds()),
            "usual_max_s": int(self.usual_max.total_seconds()),
            "threshold_s": int(self.threshold.total_seconds()),
            "context": self.context,
            "learned": self.learned,
            "usual_up_by": self.usual_up_by,
            **self.explanation.evidence,
            "explanation_en": self.explanation.en,
            "explanation_zh": self.explanation.zh,
        }


def evaluate_inactivity(
    model: RoutineModel,
    events: Sequence[ActivityEvent],
    *,
    now: datetime,
    absences: Sequence[Absence] = (),
) -> InactivityFinding | None:
    """The finding at ``now``, or None. ``events`` sorted by time; later-than-now ones ignored;
    events inside a calendar absence are not the resident's."""
    require_aware(now, "now")
    if in_calendar_absence(now, absences):
        return None
    due = inactivity_due(model, events, now=now, absences=absences)
    if due is None or now < due.at:
        return None
    return finding_for(model, due, now)


def inactivity_due(
    model: RoutineModel, events: Sequence[ActivityEvent], *, now: datetime, absences: Sequence[Absence] = ()
) -> Due | None:
    """The alarm the silence after the events up to ``now`` leads to (:func:`alarm_due`); None when
    there is nothing to measure silence from. The engine stores its time as the home's next moment
    of concern (alerts.deadlines): until then, or a new event, the rule cannot fire."""
    end = bisect_right(events, now, key=lambda e: e.at)
    if end == 0:
        return None  # nothing to measure silence from
    tracker = Tracker(model.zone, model.tracker)
    for event in events[:end]:
        require_aware(event.at, "event.at")
        if not in_calendar_absence(event.at, absences):
            tracker.push(event)
    if tracker.last is None:
        return None
    return alarm_due(model, tracker, absences)


def finding_for(model: RoutineModel, due: Due, now: datetime) -> InactivityFinding:
    """The finding of an alarm that is due at ``now``: the figures and their explanation."""
    text = explain(model, due, now)
    limit = due.limit
    usual = timedelta(seconds=limit.usual_max_s) if limit else due.threshold
    up_by = f"{due.usual_up_s // 3600:02d}:{due.usual_up_s // 60 % 60:02d}" if due.usual_up_s is not None else None
    context = "out" if due.context.group == "out" else due.context.place
    learned = model.trusted and (limit is not None or due.kind == "not_up")
    return InactivityFinding(due.kind, now, due.since, now - due.since, usual, due.threshold, context, learned, up_by, text)
