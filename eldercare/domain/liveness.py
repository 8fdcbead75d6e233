"""When a device is dead: from its own reporting rhythm, learned by ingest, and from zigbee2mqtt's
availability. Pure values and functions; ingest's SQL learns with these constants, the alert
engine judges with :func:`silence_limit_s`, and bench/liveness.py measures both.

Real zigbee devices do not report on a fixed clock. A battery device reports when its state
changes, plus a periodic report: Xiaomi/Aqara devices about every 50-60 min, devices that
zigbee2mqtt configures with zigbee-herdsman-converters' ``reporting.batteryPercentageRemaining``
at least every 62,000 s (17.2 h, ``repInterval.MAX``). A battery PIR in an unused room can therefore
be silent all night and all day and be perfectly alive; a mains plug reports its power at least
hourly. One fixed limit (2 h) calls the first dead every day and finds a dead plug late.

So each device's *usual longest silence* is learned from the gaps between its reports (ingest,
on every advance of ``devices.last_seen_at``), as a maximum that halves every week, so that a
device's rhythm is kept through a quiet week and a change of rhythm is followed within weeks. A gap
is not learned when it is beyond every report interval a zigbee device has (the device was away)
or, once the rhythm is known, more than three times the usual one (an outage, not the rhythm).
Until :data:`MIN_LEARNED_GAPS` gaps over :data:`MIN_HISTORY_S` are learned, the kind's default
stands in.

A device is offline when its silence exceeds ``2 x its usual longest silence + 15 min`` (never
less than the resident's ``devices.offline_after_s`` floor, never more than :data:`CAP_S`), or when
the gateway says zigbee2mqtt marked it offline (zigbee2mqtt's own availability check: 10 min for
mains devices, 25 h for battery devices by default). :class:`Heard` judges one device that way: the
alert engine (``device_offline``) and the API (a device's ``silent`` status, the board's count) both
ask it, so staff never see a device called silent that the engine thinks alive, or the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

#: zigbee-herdsman-converters' longest configured report interval (``repInterval.MAX``).
ZIGBEE_MAX_REPORT_S: Final = 62_000.0
#: A mains device (a router: plugs) reports its power at least hourly.
MAINS_MAX_REPORT_S: Final = 3_600.0
#: The usual longest silence per device kind until the device's own is learned.
KIND_DEFAULT_SILENCE_S: Final[dict[str, float]] = {"plug": MAINS_MAX_REPORT_S}
#: Margin over the usual longest silence learned: its nights vary (a longer night, a periodic report
#: that falls outside it this time), and the gateway's heartbeat (5 min) carries the report late.
#: bench/liveness.py: 1.5 left 14 false episodes in 50 homes over a week, all such nights.
FACTOR: Final = 2.0
SLACK_S: Final = 900.0
#: The longest any device may be silent and still be alive: its longest report interval, half as
#: long again and 15 min (1.5 x 17.2 h + 15 min = 26.1 h; zigbee2mqtt's own check waits 25 h).
CAP_S: Final = 1.5 * ZIGBEE_MAX_REPORT_S + SLACK_S
#: Gaps learned, and days of history, before a device's own rhythm replaces its kind's default (two
#: whole days hold its nights and its quiet rooms' longest silences, not only a busy afternoon).
MIN_LEARNED_GAPS: Final = 12
MIN_HISTORY_S: Final = 2 * 86_400.0
#: The learned maximum halves over this time (so a long silence is remembered for weeks, not forever).
HALF_LIFE_S: Final = 7 * 86_400.0
#: Once the rhythm is known, a gap longer than this many usual gaps is an outage, not learned.
OUTAGE_FACTOR: Final = 3.0
#: Never learned: longer than any zigbee device's report interval (ingest's SQL uses this too).
LONGEST_LEARNED_GAP_S: Final = 90_000.0


def default_silence_s(kind: str) -> float:
    """The usual longest silence of a device of ``kind`` before its own is learned."""
    return KIND_DEFAULT_SILENCE_S.get(kind, ZIGBEE_MAX_REPORT_S)


def learned(gaps_learned: int, history_s: float) -> bool:
    """Whether the device's own rhythm is known well enough to replace its kind's default."""
    return gaps_learned >= MIN_LEARNED_GAPS and history_s >= MIN_HISTORY_S


def usual_silence_s(kind: str, learned_s: float | None, gaps_learned: int, history_s: float) -> float:
    """The device's own usual longest silence once learned, else its kind's default."""
    if learned_s is not None and learned(gaps_learned, history_s):
        return learned_s
    return default_silence_s(kind)


def silence_limit_s(kind: str, learned_s: float | None, gaps_learned: int, history_s: float, *, floor_s: float) -> float:
    """How long this device may be silent before it is called offline (the detection bound)."""
    limit = FACTOR * usual_silence_s(kind, learned_s, gaps_learned, history_s) + SLACK_S
    return min(CAP_S, max(floor_s, limit))


def learn_gap(learned_s: float | None, gaps_learned: int, history_s: float, gap_s: float) -> tuple[float | None, int]:
    """One gap between two reports, ``history_s`` after the device's first report before the gap,
    folded into (usual longest silence, gaps learned).

    The same arithmetic as ingest's ``UPDATE_DEVICES`` (which runs it in SQL for a whole batch);
    tests/ingest/test_liveness.py checks that the two agree."""
    if gap_s <= 0 or gap_s > LONGEST_LEARNED_GAP_S:
        return learned_s, gaps_learned
    if learned_s is not None and learned(gaps_learned, history_s) and gap_s > OUTAGE_FACTOR * learned_s:
        return learned_s, gaps_learned
    decayed = (learned_s or 0.0) * 0.5 ** (gap_s / HALF_LIFE_S)
    return max(gap_s, decayed), gaps_learned + 1


@dataclass(frozen=True)
class Heard:
    """What the platform has heard of one device (its ``devices`` row), and the rule on it."""

    kind: str
    last_seen_at: datetime
    # Its usual longest silence between reports, learned by ingest from this many gaps since it was first seen.
    usual_gap_s: float | None = None
    gaps_learned: int = 0
    first_seen_at: datetime | None = None
    # What the gateway's device network (zigbee2mqtt) says of it, and when; None: not tracked.
    availability: str | None = None
    availability_at: datetime | None = None

    @property
    def history_s(self) -> float:
        return 0.0 if self.first_seen_at is None else (self.last_seen_at - self.first_seen_at).total_seconds()

    def silence_limit_s(self, floor_s: float) -> float:
        return silence_limit_s(self.kind, self.usual_gap_s, self.gaps_learned, self.history_s, floor_s=floor_s)

    def usual_silence_s(self) -> float:
        return usual_silence_s(self.kind, self.usual_gap_s, self.gaps_learned, self.history_s)

    def network_says_offline(self) -> bool:
        """zigbee2mqtt marked it offline, and it has not spoken since the gateway said so."""
        if self.availability != "offline":
            return False
        return self.availability_at is None or self.availability_at >= self.last_seen_at

    def offline(self, now: datetime, floor_s: float) -> bool:
        """Silent beyond what this device normally is (its own rhythm, or its kind's), or marked offline."""
        silence = (now - self.last_seen_at).total_seconds()
        return self.network_says_offline() or silence > self.silence_limit_s(floor_s)
