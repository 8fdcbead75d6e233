"""Commit acknowledgement: ingest tells a home which of its readings and events are safe.

A broker's PUBACK only says the broker took a message; brokers restart, fail over and drop queues
(Mosquitto 2.0.11 loses what is published to a shared subscription between its restart and the
subscriber's return). So after a batch commits, ingest publishes one ``ack`` message per home in the
batch: per device, the ranges of ``seq`` now stored (new, or stored before: a resend) and those
dead-lettered, with the reason. A gateway that keeps every message until all of its numbers are
acknowledged, and sends it again otherwise, loses nothing whatever the broker does; ingest's
idempotency on (device, seq, ts) absorbs the resends. Several ingest copies acknowledge
independently, in any order: an acknowledgement only ever removes numbers from what a gateway
waits for.

Both sides live here: :func:`commit_acks` builds them (ingest), :class:`Awaiting` applies them (the
edge agent's uplink).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pydantic_core

from eldercare.contracts.codec import MAX_PAYLOAD_BYTES
from eldercare.contracts.payloads import (
    MAX_ACK_RANGES,
    CommitAck,
    DeadLetteredRange,
    EventBatch,
    Message,
    ReadingBatch,
    SeqRange,
)
from eldercare.contracts.topics import Topic, TopicError, valid_home_id

Number = tuple[str, int]  # (device, seq)
Range = tuple[str, int, int]  # (device, first, last), inclusive
_MAX_SEQ = 2**63 - 1


def numbers_of(message: Message) -> list[Number]:
    """The (device, seq) of every reading or event in a decoded message (none for other kinds)."""
    if isinstance(message, ReadingBatch):
        return [(reading.device, reading.seq) for reading in message.readings]
    if isinstance(message, EventBatch):
        return [(event.device, event.seq) for event in message.events]
    return []


def salvage_numbers(payload: bytes) -> list[Number]:
    """The (device, seq) pairs a rejected payload still names, so its sender can be told; never raises.

    Read leniently with the same bounded parser as the codec (depth, number length): a message
    refused for a timestamp, an unknown field or a wrong value usually still says which numbers it
    carried. Whatever cannot be read yields nothing (its sender is not told, and the message is
    in the dead-letter table all the same).
    """
    if not payload or len(payload) > MAX_PAYLOAD_BYTES:
        return []
    try:
        data = pydantic_core.from_json(payload)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    found: list[Number] = []
    for key in ("readings", "events"):
        items = data.get(key)
        if isinstance(items, list):
            found.extend(number for item in items if (number := _number(item)) is not None)
    return found


def _number(item: Any) -> Number | None:
    if not isinstance(item, dict):
        return None
    device, seq = item.get("device"), item.get("seq")
    if isinstance(device, str) and type(seq) is int and 0 <= seq <= _MAX_SEQ and 0 < len(device) <= 64:
        return device, seq
    return None


def publisher_home(topic: str) -> str | None:
    """The home a topic names at its fixed level (the publisher, under per-home ACLs), when valid."""
    try:
        return Topic.parse(topic).home_id
    except TopicError as exc:
        return exc.home_id if exc.home_id is not None and valid_home_id(exc.home_id) else None


def ranges(numbers: Iterable[Number]) -> list[Range]:
    """Per device, consecutive numbers merged into inclusive ranges; devices and numbers in order."""
    by_device: defaultdict[str, set[int]] = defaultdict(set)
    for device, seq in numbers:
        by_device[device].add(seq)
    merged: list[Range] = []
    for device in sorted(by_device):
        ordered = sorted(by_device[device])
        first = previous = ordered[0]
        for seq in ordered[1:]:
            if seq != previous + 1:
                merged.append((device, first, previous))
                first = seq
            previous = seq
        merged.append((device, first, previous))
    return merged


@dataclass
class HomeOutcome:
    """What one batch did with one home's numbers."""

    committed: set[Number] = field(default_factory=set)
    dead: defaultdict[str, set[Number]] = field(default_factory=lambda: defaultdict(set))  # reason -> numbers


def commit_acks(home_id: str, ts: datetime, outcome: HomeOutcome) -> list[CommitAck]:
    """The acknowledgements of one home for one batch, split so each list stays within MAX_ACK_RANGES."""
    committed = [SeqRange(device=d, first=a, last=b) for d, a, b in ranges(outcome.committed)]
    dead = [
        DeadLetteredRange(device=d, first=a, last=b, reason=reason)
        for reason in sorted(outcome.dead)
        for d, a, b in ranges(outcome.dead[reason])
    ]
    acks = []
    for start in range(0, max(len(committed), len(dead)), MAX_ACK_RANGES):
        end = start + MAX_ACK_RANGES
        acks.append(CommitAck(home_id=home_id, ts=ts, committed=committed[start:end], dead_lettered=dead[start:end]))
    return acks


@dataclass
class _Waiting:
    key: int  # the caller's handle of the message (the gateway's queue id)
    left: int  # ranges not yet acknowledged
    reasons: list[str] = field(default_factory=list)


class Awaiting:
    """The gateway side: messages sent and not yet acknowledged, found by their numbers.

    Each message is registered with its per-device ranges (a gateway numbers each device's readings
    of one message consecutively, so one range per device and message). An acknowledgement range
    settles every registered range inside it; a message is settled when all its ranges are, and then
    :meth:`apply` returns it with the dead-letter reasons it met (empty: all committed).
    """

    def __init__(self) -> None:
        self._starts: dict[str, list[int]] = {}  # device -> sorted first seqs of waiting ranges
        self._ranges: dict[tuple[str, int], tuple[int, _Waiting]] = {}  # (device, first) -> (last, message)
        self._messages: dict[int, _Waiting] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def __contains__(self, key: int) -> bool:
        return key in self._messages

    def add(self, key: int, numbers: Iterable[Number]) -> None:
        """Wait for ``numbers`` (those of one message); a message already waiting is left as it is."""
        if key in self._messages:
            return
        own = ranges(numbers)
        waiting = _Waiting(key, 0)
        for device, first, last in own:
            if (device, first) in self._ranges:
                continue  # the same numbers in another waiting message (a gateway bug): that one settles them
            self._ranges[(device, first)] = (last, waiting)
            bisect.insort(self._starts.setdefault(device, []), first)
            waiting.left += 1
        if waiting.left:
            self._messages[key] = waiting

    def discard(self, key: int) -> None:
        """Stop waiting for a message (the queue dropped it)."""
        waiting = self._messages.pop(key, None)
        if waiting is None:
            return
        for (device, first), (_, owner) in list(self._ranges.items()):
            if owner is waiting:
                self._forget(device, first)

    def apply(self, ack: CommitAck) -> list[tuple[int, list[str]]]:
        """Settle what ``ack`` covers; returns the messages now settled, each with its dead-letter reasons."""
        settled: list[tuple[int, list[str]]] = []
        for item in [*ack.committed, *ack.dead_lettered]:
            reason = item.reason if isinstance(item, DeadLetteredRange) else None
            for waiting in self._settle(item.device, item.first, item.last, reason):
                del self._messages[waiting.key]
                settled.append((waiting.key, waiting.reasons))
        return settled

    def _settle(self, device: str, first: int, last: int, reason: str | None) -> list[_Waiting]:
        starts = self._starts.get(device)
        if not starts:
            return []
        done = []
        index = bisect.bisect_left(starts, first)
        for start in starts[index : bisect.bisect_right(starts, last)]:
            end, waiting = self._ranges[(device, start)]
            if end > last:
                continue  # only part of this range is acknowledged: wait for the rest
            self._forget(device, start)
            if reason is not None:
                waiting.reasons.append(reason)
            waiting.left -= 1
            if waiting.left == 0:
                done.append(waiting)
        return done

    def _forget(self, device: str, first: int) -> None:
        del self._ranges[(device, first)]
        starts = self._starts[device]
        starts.pop(bisect.bisect_left(starts, first))
        if not starts:
            del self._starts[device]


PROTOCOL_SECTION = f"""## Commit acknowledgement

A PUBACK means the broker took the message, not that the platform stored it: brokers restart, fail
over and drop queues (Mosquitto 2.0.11 delivers what is published to a shared subscription between
its restart and the subscriber's return to no one, and acknowledges it all the same). So after each
database commit, ingest tells every home in the batch which of its readings and events are now safe,
on the home's `ack` topic (platform → gateway, QoS 0, not retained; a gateway may subscribe to it and
may not publish to it: the broker refuses that, and a publish that gets through is dead-lettered as
`wrong_direction`).

- One `ack` per home per committed batch, not per message: per device, inclusive ranges of `seq`
  that are stored (`committed`: new, or stored before, i.e. a resend) and ranges that were
  dead-lettered (`dead_lettered`, with the reason of the table below). At most {MAX_ACK_RANGES} ranges
  per list; a longer outcome comes as several `ack` messages.
- Several ingest copies acknowledge independently and in any order; an acknowledgement may come
  more than once, and before the PUBACK. Apply each one: it only ever removes numbers from what the
  gateway waits for.
- A message whose payload cannot be read (not JSON, no `device`/`seq` in it) is dead-lettered without
  an acknowledgement.
- Acknowledgements are optional for a gateway: one that ignores them works as before (QoS 1, keep
  each message until its PUBACK), and is exposed to broker losses as before.

Both sides are on by default (`ELDERCARE_INGEST__COMMIT_ACKS`, `ELDERCARE_EDGE__COMMIT_ACK`). A
platform that turns ingest's off must turn its agents' off too: an agent waiting for acknowledgements
that never come keeps every message on disk, sends events again every 10 s and readings with its
doubling timeout, and holds new readings back once 200 readings messages await one.

What the eldercare edge agent does, and what we recommend: keep every message on disk until all its
numbers are acknowledged (committed or dead-lettered), not merely PUBACKed; subscribe to `ack` before
replaying the queue; send a message again when it was PUBACKed but not acknowledged within a timeout
(the agent sends an event again every 10 s; readings after 60 s, doubling with each attempt up to
eight times that), and send the whole queue again after every reconnect. The platform's idempotency on
(`device`, `seq`, `ts`) makes every resend harmless. A dead-lettered message leaves the queue (sending
it again would be refused again) and is counted by its reason. Keep sending events (`sos`, `fall`)
whatever else waits, until they are acknowledged, through any outage.
"""
