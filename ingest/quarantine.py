"""Quarantine: a message that crashes ingest is dead-lettered after a few tries, never crash-looped.

The decoder never raises, and one message's failures are isolated in-process (``decode_failed``,
``write_failed``). What remains is a message that kills the *process* (a crash in native code,
memory exhaustion, a bug outside the per-message isolation): it was never acknowledged, so the
broker sends it again after the restart, with the MQTT DUP flag set, and it would kill the next
process too, and stop every home's ingest with it.

So after a restart that followed an unclean stop (``ingest_runs``), the redelivered (DUP) messages
that open the session are handled with suspicion, until the first fresh delivery (a broker also
redelivers after a mere network drop; a process that did not die has no reason for suspicion, and
handling every redelivery one by one would slow a flapping connection to a crawl):

1. the lane's writer takes the :class:`Gate` exclusively, so nothing else in this process (no other
   batch of either lane, no decoding) runs while it does: a crash now is this message's doing;
2. it counts an attempt in ``ingest_attempts`` and commits that before touching the message;
3. it decodes and stores the message alone, deleting the attempt row in the same transaction.

A row that survives is a message that was in hand when the process died. Once a message arrives
with ``quarantine_after_crashes`` such attempts behind it, it is dead-lettered (reason
``quarantined``) without being decoded, and acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from eldercare.contracts import Rejection, RejectReason, Topic
from eldercare.contracts.topics import TopicError
from eldercare.mqtt.manual_ack import Delivery


def digest(delivery: Delivery) -> bytes:
    """What identifies a message across redeliveries: its topic and its bytes."""
    return hashlib.blake2b(delivery.topic.encode("utf-8", "surrogatepass") + b"\0" + delivery.payload, digest_size=16).digest()


def quarantined(delivery: Delivery, crashes: int) -> Rejection:
    """The dead letter of a message that was being processed when ingest died ``crashes`` times."""
    try:
        home_id: str | None = Topic.parse(delivery.topic).home_id
    except TopicError:
        home_id = None
    detail = f"ingest stopped while processing this message {crashes} times; not processed again"
    return Rejection(RejectReason.QUARANTINED, detail, delivery.topic, home_id)


class Gate:
    """Shared by the normal work of every lane; held exclusively while a redelivered message runs.

    Writer-preferring: once an exclusive holder waits, new shared holders wait behind it, so a
    steady stream of batches cannot starve a suspicious message (nor hide its crash among theirs).
    Uncontended, entering and leaving cost no suspension of the task.
    """

    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._condition:
            await self._condition.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            async with self._condition:
                self._shared -= 1
                self._condition.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._condition:
            self._waiting += 1
            try:
                await self._condition.wait_for(lambda: not self._exclusive and not self._shared)
            finally:
                self._waiting -= 1
                self._condition.notify_all()  # if cancelled, shared holders waiting behind us may go
            self._exclusive = True
        try:
            yield
        finally:
            async with self._condition:
                self._exclusive = False
                self._condition.notify_all()
