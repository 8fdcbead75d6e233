"""A home's next moment of concern: when, if nothing new arrives, a periodic rule could judge it
differently than it just did.

The periodic rules (alerts.rules) are pure functions of the stored state and ``now``. Between two
inputs (a reading, an event, a gateway status, a change of settings, calendar or alerts) only time
moves, and each rule changes its mind only at moments computable from what it already read: a
sensor's silence crossing its limit, the door open for too long, the resident's silence reaching
the limit learned for where she is (alerts.inactivity.inactivity_due), the usual get-up time, a
meal's usual time, the end of the night-wandering grace, a cold reading leaving the window, an
absence beginning or ending, a rule re-arming after the clear hold, the routine due to be
relearned. :func:`next_deadline` is the earliest of them after ``now``; the engine stores it and
judges the home again only then, or as soon as an input arrives (ingest marks the home, and
triggers mark it when settings, calendar, devices or alerts change). A quiet home that is fine
costs nothing between its events.

Each moment is the first instant at which the rule's comparison can turn: where a rule compares
strictly ("open for more than 15 min") one microsecond after the bound, so a home is never judged
a moment too early and then forgotten. None is later than ``recheck_s`` from now: a safety net that
bounds the cost of a moment this module does not know about (a defect), not a schedule the rules
rely on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from alerts.inactivity import inactivity_due
from alerts.meals import MEALS
from alerts.presence import still_due
from alerts.rules import WATCHING_KINDS, HomeSnapshot, bathroom_entered, night_door_opened, routine_of
from eldercare.domain.rule_settings import RuleSettings

# After a bound that a rule compares strictly: the first moment its comparison turns (the
# resolution of both Python's and PostgreSQL's timestamps).
TICK = timedelta(microseconds=1)
RECHECK = "recheck"


class Rearmable(Protocol):
    """A rule's hysteresis state (alerts.hysteresis.RuleState)."""

    armed: bool
    clear_since: datetime | None


@dataclass(frozen=True)
class Deadline:
    at: datetime
    kind: str  # the rule (or "relearn", "absence", "rearm", "recheck") that comes due


def next_deadline(
    home: HomeSnapshot,
    rules: RuleSettings,
    now: datetime,
    *,
    states: Mapping[str, Rearmable],
    clear_hold: timedelta,
    relearn_at: datetime | None,
    recheck: timedelta,
) -> Deadline:
    """The earliest moment after ``now`` at which judging ``home`` again could change a result,
    assuming nothing new arrives; at the latest ``now + recheck``."""
    best = Deadline(now + recheck, RECHECK)
    for kind, at in _moments(home, rules, now, states, clear_hold, relearn_at):
        if now < at < best.at:
            best = Deadline(at, kind)
    return best


def _moments(
    home: HomeSnapshot,
    rules: RuleSettings,
    now: datetime,
    states: Mapping[str, Rearmable],
    clear_hold: timedelta,
    relearn_at: datetime | None,
) -> Iterable[tuple[str, datetime]]:
    yield from _device_moments(home, rules)
    yield from _safety_moments(home, rules)
    for start, end in home.absences:
        yield "absence", start
        yield "absence", end
    yield from _welfare_moments(home, rules, now)
    for state in states.values():
        if not state.armed and state.clear_since is not None:
            yield "rearm", state.clear_since + clear_hold
    if relearn_at is not None:
        yield "relearn", relearn_at


def _device_moments(home: HomeSnapshot, rules: RuleSettings) -> Iterable[tuple[str, datetime]]:
    """Sensors going silent beyond their limit (judged even with the alert off: welfare needs it),
    the gateway offline for long enough, no motion sensor paired in time."""
    cfg = rules.devices
    for device in home.devices:
        if not device.network_says_offline():
            limit = timedelta(seconds=device.silence_limit_s(cfg.offline_after_s))
            yield "device_offline", device.last_seen_at + limit + TICK
    if home.gateway_state_at is None:
        return
    if home.gateway_state == "offline":
        yield "gateway_offline", home.gateway_state_at + timedelta(seconds=cfg.gateway_offline_after_s)
    elif home.gateway_state == "online" and not any(d.kind in WATCHING_KINDS for d in home.devices):
        yield "no_motion_sensor", home.gateway_state_at + timedelta(seconds=cfg.offline_after_s)


def _safety_moments(home: HomeSnapshot, rules: RuleSettings) -> Iterable[tuple[str, datetime]]:
    if rules.door_open.enabled and home.last_door_state == "open" and home.last_door_at is not None:
        yield "door_left_open", home.last_door_at + timedelta(seconds=rules.door_open.max_open_s) + TICK
    cold, window = rules.cold, home.temperatures
    if cold.enabled and window is not None and window.min_c < cold.below_c + cold.clear_margin_c:
        # The window spans long enough, and its first reading leaves it (the next one's turn comes
        # with the judgement then: the summary knows only the first).
        yield "cold_home", window.first_at + timedelta(seconds=cold.hold_s / 2)
        yield "cold_home", window.first_at + timedelta(seconds=cold.hold_s)
    if rules.fall.enabled and home.open_fall_at is not None:
        yield "long_lie", home.open_fall_at + timedelta(seconds=rules.fall.long_lie_s)


def _welfare_moments(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> Iterable[tuple[str, datetime]]:
    if rules.bathroom.enabled:
        entered = bathroom_entered(home, rules.bathroom.room, now)
        if entered is not None:
            yield "bathroom_dwell", entered + timedelta(seconds=rules.bathroom.max_dwell_s) + TICK
    if rules.inactivity.enabled:
        model = routine_of(home, rules, now)
        due = inactivity_due(model, home.events, now=now, absences=home.absences)
        if due is not None:
            yield due.kind, due.at
        if home.presence:
            still = still_due(model, home.events, now=now, absences=home.absences)
            if still is not None:
                yield "still_present", still
    if rules.night_wandering.enabled:
        opened = night_door_opened(home, rules, now)
        if opened is not None:
            yield "night_wandering", opened + timedelta(seconds=rules.night_wandering.return_within_s) + TICK
    if rules.meals.enabled and home.meal_habits:
        yield from _meal_moments(home, rules, now)


def _meal_moments(home: HomeSnapshot, rules: RuleSettings, now: datetime) -> Iterable[tuple[str, datetime]]:
    """Each habit's usual time plus the margin, today and tomorrow, and the next local midnight
    (a new day: yesterday's missed meal no longer holds). Local wall-clock times, so a change to or
    from daylight saving time moves them as the rule sees them."""
    local = now.astimezone(home.zone)
    for days in (0, 1):
        midnight = (local + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        if days:
            yield "missed_meal", midnight
        for habit in home.meal_habits:
            if habit.meal in MEALS:
                due_s = habit.usual_by_s + rules.meals.margin_s
                yield "missed_meal", midnight + timedelta(seconds=due_s)
