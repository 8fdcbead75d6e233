"""Inactivity against the resident's own learned routine: pure logic, no I/O.

The alert engine loads events from the database, calls these functions and stores what they
return; nothing here reads a clock, a file or the environment. ``bench/inactivity.py`` measures
exactly these functions (:func:`alarm_due` is the seam both use).

Public API::

    ActivityEvent(at, kind, area=None, device=None)   one sensor event; `at` timezone-aware
    InactivitySettings(...)                            knobs of learning, every duration in seconds
    learn_routine(events, tz, *, now, settings, absences) -> RoutineModel
    RoutineModel.to_dict() / RoutineModel.from_dict(data)   JSON-able, for storage
    evaluate_inactivity(model, events, *, now, absences) -> InactivityFinding | None
    Tracker / alarm_due(model, tracker, absences) -> Due | None   when the silence becomes an alarm
    RoutineModel.coverage                              what the rule can see here, in words

How it decides (module docstrings say why):

- ``tracker``: the state of the home after each event: out (a door, and no evidence of a return
  yet: a lone event is not a return), in or out of bed, up this morning, and the *context* of the
  silence that follows (in bed / up / at home, the place of the last event, a 3-hour band of the
  clock, weekday or weekend);
- ``learning``: every silence of the history in its context, the usual get-up time per day
  type, night-time bed exits, which rooms have sensors;
- ``calibration``: a context's limit is its longest silence x (1 + u / days seen); a context seen
  on fewer than ``min_days`` days defers to broader ones (the place at any hour, the whole home);
  u, min_days, the depth (place / clock band / day type) and a floor per clock band are chosen
  per resident by leave-one-day-out;
- ``evaluation``: the alarm due time (inactivity, not up, long absence) and the finding;
- ``explain``: both languages, with the learned figures; ``coverage``: the resident page's note.
"""

from alerts.inactivity.evaluation import (
    Due,
    FindingKind,
    InactivityFinding,
    alarm_due,
    evaluate_inactivity,
    inactivity_due,
    threshold_s,
)
from alerts.inactivity.events import Absence, ActivityEvent, EventKind
from alerts.inactivity.explain import format_duration_en, format_duration_zh
from alerts.inactivity.learning import learn_routine
from alerts.inactivity.model import Calibration, Coverage, InactivitySettings, Limit, RoutineModel
from alerts.inactivity.tracker import Context, Tracker, TrackerSettings

__all__ = [
    "Absence",
    "ActivityEvent",
    "Calibration",
    "Context",
    "Coverage",
    "Due",
    "EventKind",
    "FindingKind",
    "InactivityFinding",
    "InactivitySettings",
    "Limit",
    "RoutineModel",
    "Tracker",
    "TrackerSettings",
    "alarm_due",
    "evaluate_inactivity",
    "format_duration_en",
    "format_duration_zh",
    "inactivity_due",
    "learn_routine",
    "threshold_s",
]
