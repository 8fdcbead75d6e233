"""The accepted timestamp window, relative to when the platform receives a message.

A reading dated 1900 or ten years ahead is a gateway's clock talking, not a measurement: stored,
a future motion would make the home look active until that date and silence the inactivity rule.
So every ``ts`` of a message must lie in ``[received - max_age_s, received + max_ahead_s]``, or the
message is refused (``ts_too_old`` / ``ts_in_future``). Two exceptions, both about safety:

- an ``events`` message carrying a ``sos``, ``fall`` or ``hazard`` is never refused for its timestamps
  (a wrong clock must not silence a call for help or a fire); it is stored as sent, and flagged so that the receiver
  counts it;
- a ``status`` last will (``connection_lost``) carries its session's start and is dated by its
  arrival anyway, so only the future bound applies to it;
- a ``heartbeat`` is never refused for its timestamps: it is how the platform measures a gateway's
  clock (``home_state.clock_offset_s``); its ``ts`` and its devices' ``last_seen`` count no later
  than its arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from operator import attrgetter

from eldercare.contracts.payloads import ALARM_EVENTS, EventBatch, GatewayStatus, Message, ReadingBatch

_TS = attrgetter("ts")


class Verdict(StrEnum):
    TOO_OLD = "ts_too_old"
    IN_FUTURE = "ts_in_future"
    ALARM_OUTSIDE = "alarm_outside_window"  # accepted all the same (see the module doc)


@dataclass(frozen=True)
class TimeWindow:
    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, received: datetime, *, max_age_s: float, max_ahead_s: float) -> TimeWindow:
        return cls(received - timedelta(seconds=max_age_s), received + timedelta(seconds=max_ahead_s))

    def judge(self, message: Message) -> tuple[Verdict, str] | None:
        """None when every timestamp is inside; else the verdict and a detail naming the worst one."""
        old, new = _bounds(message)
        problem = self._problem(old, new)
        alarm = isinstance(message, EventBatch) and any(event.type in ALARM_EVENTS for event in message.events)
        if problem is not None and alarm:
            return Verdict.ALARM_OUTSIDE, problem[1]
        return problem

    def _problem(self, old: datetime | None, new: datetime | None) -> tuple[Verdict, str] | None:
        if new is not None and new > self.latest:
            return Verdict.IN_FUTURE, f"ts {new.isoformat()} is after the accepted window (ends {self.latest.isoformat()})"
        if old is not None and old < self.earliest:
            return Verdict.TOO_OLD, f"ts {old.isoformat()} is before the accepted window (starts {self.earliest.isoformat()})"
        return None


def _bounds(message: Message) -> tuple[datetime | None, datetime | None]:
    """The oldest timestamp the past bound applies to, and the newest of all."""
    if isinstance(message, ReadingBatch):
        return min(message.readings, key=_TS).ts, max(message.readings, key=_TS).ts
    if isinstance(message, EventBatch):
        return min(message.events, key=_TS).ts, max(message.events, key=_TS).ts
    if isinstance(message, GatewayStatus):
        return (None if message.reason == "connection_lost" else message.ts), message.ts
    return None, None  # heartbeat (see the module doc), config (the platform's own)
