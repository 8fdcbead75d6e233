"""What the uplink sent and the platform has not yet committed: the gateway side of commit acknowledgement.

A broker's PUBACK says only that the broker took a message (brokers restart, fail over, drop queues),
so with commit acknowledgement on, a message stays in the disk queue until ingest's ``ack`` names all
of its numbers (eldercare/contracts/acks.py), committed or dead-lettered. One that was PUBACKed and
not acknowledged within a timeout is sent again (an event every ``events_timeout_s``, for as long as
it takes: they are few and someone may be waiting for help; readings after ``readings_timeout_s``,
doubling with each attempt up to eight times that), and ingest's idempotency absorbs the duplicate.
A dead-lettered message leaves the queue too, counted by its reason: sending it again would be
refused again.

This is one session's view, in memory: the disk queue is the durable state. After a reconnect or a
``kill -9`` everything still queued is sent again, and acknowledged then.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from edge.queue import DiskQueue, QueuedMessage
from eldercare.contracts.acks import Awaiting, salvage_numbers
from eldercare.contracts.payloads import CommitAck
from eldercare.contracts.topics import MessageKind

EVENTS = MessageKind.EVENTS.value
_BACKOFF_CAP = 8  # a readings message's timeout doubles per attempt up to this many times its base


@dataclass(slots=True)
class _Sent:
    first_sent: float  # monotonic; the first send of this session
    sent_at: float  # the latest send
    attempts: int
    event: bool
    pubacked: bool = False


@dataclass(frozen=True, slots=True)
class Settled:
    committed: int  # messages whose every number is stored
    dead_lettered: Counter[str]  # reason -> messages with a dead-lettered number


class CommitTracker:
    def __init__(
        self,
        queue: DiskQueue,
        *,
        events_timeout_s: float,
        readings_timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self._events_timeout_s = events_timeout_s
        self._readings_timeout_s = readings_timeout_s
        self._now = monotonic
        self._awaiting = Awaiting()
        self._sent: dict[int, _Sent] = {}
        self.committed = 0  # messages, since the agent started
        self.dead_lettered: Counter[str] = Counter()
        self.resent = 0  # sends after a timeout without acknowledgement

    def reset(self) -> None:
        """A new session: it sends the whole queue again, so nothing is awaited yet."""
        self._awaiting = Awaiting()
        self._sent.clear()

    def __len__(self) -> int:
        return len(self._sent)

    def __contains__(self, message_id: int) -> bool:
        return message_id in self._sent

    def awaiting_readings(self) -> int:
        return sum(1 for sent in self._sent.values() if not sent.event)

    def oldest_age_s(self) -> float:
        """Seconds since the first send of the oldest message still awaiting its acknowledgement (0: none)."""
        if not self._sent:
            return 0.0
        return max(0.0, self._now() - min(sent.first_sent for sent in self._sent.values()))

    def sending(self, message: QueuedMessage) -> None:
        """Registered before the publish, so an acknowledgement overtaking the PUBACK still counts."""
        now = self._now()
        sent = self._sent.get(message.id)
        if sent is None:
            self._sent[message.id] = _Sent(now, now, 1, message.kind == EVENTS)
            self._awaiting.add(message.id, salvage_numbers(message.payload))
            return
        sent.sent_at, sent.attempts, sent.pubacked = now, sent.attempts + 1, False

    def pubacked(self, message_id: int) -> None:
        sent = self._sent.get(message_id)
        if sent is not None:
            sent.sent_at, sent.pubacked = self._now(), True

    def forget(self, message_id: int) -> None:
        """Not sent after all (the broker refused it) or gone from the queue: await nothing for it."""
        if self._sent.pop(message_id, None) is not None:
            self._awaiting.discard(message_id)

    def apply(self, ack: CommitAck) -> Settled:
        """Remove from the queue every message ``ack`` settles; what it settled, by outcome."""
        settled = self._awaiting.apply(ack)
        if not settled:
            return Settled(0, Counter())
        ids = [key for key, _ in settled]
        for message_id in ids:
            del self._sent[message_id]
        self._queue.delete(ids)
        dead: Counter[str] = Counter(reasons[0] for _, reasons in settled if reasons)
        committed = len(settled) - sum(dead.values())
        self.committed += committed
        self.dead_lettered.update(dead)
        return Settled(committed, dead)

    def overdue(self) -> list[int]:
        """PUBACKed messages whose acknowledgement is late, events first, oldest first."""
        now = self._now()
        late = [(not sent.event, key) for key, sent in self._sent.items() if sent.pubacked and now >= self._due(sent)]
        return [message_id for _, message_id in sorted(late)]

    def _due(self, sent: _Sent) -> float:
        if sent.event:
            return sent.sent_at + self._events_timeout_s
        return sent.sent_at + self._readings_timeout_s * min(2.0 ** min(sent.attempts - 1, 8), _BACKOFF_CAP)

    def next_due_in_s(self) -> float | None:
        """Seconds until the next PUBACKed message is overdue; None when none is awaited."""
        dues = [self._due(sent) for sent in self._sent.values() if sent.pubacked]
        return max(0.0, min(dues) - self._now()) if dues else None
