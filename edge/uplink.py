"""The gateway's connection to the platform broker: status, config, heartbeats, and the queue pump.

One session = one MQTT connection. It subscribes to the home's retained ``config`` topic, publishes
a retained ``online`` status (the will says ``offline``/``connection_lost``), then replays the disk
queue oldest first with at most ``max_unacked`` messages awaiting their PUBACK. With commit
acknowledgement (the default; edge/commits.py) a message leaves the queue only when ingest's ``ack``
says it is stored or dead-lettered: events are sent whenever they come, other messages while fewer
than ``max_awaiting_commit`` await their acknowledgement, and one PUBACKed but not acknowledged in
time is sent again. Without it, a message leaves the queue at its PUBACK. Any connection problem ends
the session (whatever was in flight stays queued and is replayed by the next one); reconnects back
off exponentially with jitter. Refused credentials are fatal: they raise PermanentError out of
:meth:`Uplink.run`. A broker certificate that fails verification (expired, another CA, another host)
is logged as an error (``edge_tls_refused``, with the reason) and retried with the same backoff: a
certificate renewed on the server lets the gateway back in without a visit. Nothing is sent before the
certificate is verified, and a password never goes over plain ``mqtt://`` to anything but loopback
unless ``mqtt.allow_cleartext_password`` says so (:func:`eldercare.mqtt.tls.check_transport`).

A publish the broker refuses (MQTT 5 PUBACK reason >= 0x80, e.g. 0x87 when the ACL denies the
topic) is not a connection problem: the message stays queued, an error is logged, and the pump
holds the queue head: it sends nothing new, lets what is in flight settle, then retries the oldest
queued message alone with the reconnect backoff until the broker accepts it, and only then resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from edge.commits import EVENTS, CommitTracker
from edge.devices import DeviceRegistry
from edge.intake import Tuning
from edge.queue import DiskQueue, QueuedMessage
from eldercare import logs
from eldercare.clock import Clock
from eldercare.config import MqttEndpoint, MqttSettings
from eldercare.contracts.codec import Rejection, decode, encode
from eldercare.contracts.payloads import CommitAck, GatewayConfig, GatewayStatus, Heartbeat
from eldercare.contracts.topics import MessageKind, Topic
from eldercare.errors import CertificateError, PermanentError, TransientError
from eldercare.mqtt import Will
from eldercare.mqtt.edge_client import EdgeConnection, PublishRefusedError, connect_edge
from eldercare.retry import Backoff, sleep_until

_PEEK_LIMIT = 256  # rows read from the queue at a time


@dataclass(frozen=True, slots=True)
class UplinkConfig:
    home_id: str
    topic_root: str
    endpoint: MqttEndpoint
    mqtt: MqttSettings
    client_id: str
    max_unacked: int
    ack_timeout_s: float
    shutdown_grace_s: float
    agent_version: str
    commit_ack: bool = True
    max_awaiting_commit: int = 200
    commit_timeout_events_s: float = 10.0
    commit_timeout_readings_s: float = 60.0


class _Stopped(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a session's task group once the agent stops and the queue is drained."""


class Uplink:
    def __init__(
        self,
        config: UplinkConfig,
        *,
        queue: DiskQueue,
        registry: DeviceRegistry,
        tuning: Tuning,
        clock: Clock,
        on_config: Callable[[GatewayConfig], None],
    ) -> None:
        self.config = config
        self._queue = queue
        self._registry = registry
        self._tuning = tuning
        self._clock = clock
        self._on_config = on_config
        self._log = logs.get("edge").bind(home_id=config.home_id)
        self._reconnect = Backoff(config.mqtt.reconnect_min_s, config.mqtt.reconnect_max_s)
        self._started = clock.now()
        self._wake = asyncio.Event()
        self._retuned = asyncio.Event()
        self._never = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._drained = asyncio.Event()
        self._inflight = 0
        self._acked: list[int] = []
        self._refused: set[int] = set()  # queued messages the broker refused, retried alone while holding
        self.commits = (
            CommitTracker(
                queue, events_timeout_s=config.commit_timeout_events_s, readings_timeout_s=config.commit_timeout_readings_s
            )
            if config.commit_ack
            else None
        )
        self.holding = False  # a queued message was refused: nothing new is sent until the head is accepted
        self.connected = False
        self.sessions = 0
        self.published = 0
        self.refused = 0  # refused publishes of queued messages (each retry counts)

    def notify(self) -> None:
        """Something was queued: wake the pump."""
        self._wake.set()

    def retuned(self) -> None:
        """A config changed the tuning: the heartbeat goes at once, then at the new interval."""
        self._retuned.set()

    def _topic(self, kind: MessageKind) -> str:
        return str(Topic(self.config.topic_root, self.config.home_id, kind))

    def _status(self, state: str, reason: str, ts: datetime | None = None) -> tuple[str, bytes]:
        status = GatewayStatus.model_validate(
            {
                "home_id": self.config.home_id,
                "state": state,
                "ts": ts or self._clock.now(),
                "reason": reason,
                "agent_version": self.config.agent_version,
            }
        )
        return encode(self.config.topic_root, status)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep a session up until ``stop``; PermanentError (refused credentials) escapes."""
        while not stop.is_set():
            sessions_before = self.sessions
            try:
                await self._session(stop)
            except PermanentError as exc:
                self._log.error("edge_connection_refused", error=str(exc))
                raise
            except TransientError as exc:
                if self.sessions > sessions_before:
                    self._reconnect.reset()  # the connection worked; start the backoff afresh
                delay = self._reconnect.next_delay()
                # A refused certificate is not a blip: nothing gets through until it or our CA file changes.
                refused = isinstance(exc, CertificateError)
                log, event = (self._log.error, "edge_tls_refused") if refused else (self._log.warning, "edge_disconnected")
                log(event, error=str(exc), retry_in_s=round(delay, 2), queue_depth=self._queue.depth)
                await sleep_until(stop, delay)

    async def _session(self, stop: asyncio.Event) -> None:
        # The session's will and its online status carry the same ts, the session's start: the
        # platform ignores a will older than the online status it holds (an earlier session's will,
        # published when this session took over the client id, may arrive after our online).
        started = self._clock.now()
        will_topic, will_payload = self._status("offline", "connection_lost", started)
        async with connect_edge(
            self.config.mqtt,
            self.config.endpoint,
            client_id=self.config.client_id,
            will=Will(will_topic, will_payload),
            max_inflight=self.config.max_unacked,
        ) as conn:
            await conn.subscribe(self._topic(MessageKind.CONFIG), timeout_s=self.config.ack_timeout_s)
            if self.commits is not None:
                self.commits.reset()  # this session sends the whole queue again
                await conn.subscribe(self._topic(MessageKind.ACK), qos=0, timeout_s=self.config.ack_timeout_s)
            topic, payload = self._status("online", "connected", started)
            await self._publish_unqueued(conn, topic, payload, retain=True)
            self.sessions += 1
            self.connected = True
            self._log.info("edge_online", session=self.sessions, queue_depth=self._queue.depth)
            try:
                await self._serve(conn, stop)
            except asyncio.CancelledError:
                # The agent is being torn down without a stop (its driver failed, or the simulator cancels
                # it). Leaving the context sends a clean DISCONNECT, which suppresses the will: say offline
                # ourselves, briefly, then let the cancellation continue.
                await self._say_offline_quickly(conn)
                raise
            finally:
                self.connected = False
                self._delete_acked()
            topic, payload = self._status("offline", "shutdown")
            await self._publish_unqueued(conn, topic, payload, retain=True)
            self._log.info("edge_offline", reason="shutdown", queue_depth=self._queue.depth)

    async def _publish_unqueued(self, conn: EdgeConnection, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """A status or heartbeat (state, not queued data): a refusal is logged and not retried."""
        try:
            await conn.publish(topic, payload, retain=retain, timeout_s=self.config.ack_timeout_s)
        except PublishRefusedError as exc:
            self._log.error(
                "edge_publish_refused", topic=exc.topic, reason_code=exc.reason_code, reason=exc.reason_name, queued=False
            )

    async def _say_offline_quickly(self, conn: EdgeConnection) -> None:
        topic, payload = self._status("offline", "connection_lost")
        with contextlib.suppress(TransientError, TimeoutError, PublishRefusedError):
            await asyncio.wait_for(conn.publish(topic, payload, retain=True, timeout_s=1.0), timeout=1.0)

    async def _serve(self, conn: EdgeConnection, stop: asyncio.Event) -> None:
        """Run the session's tasks; return once stopped and drained, raise when the connection fails."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._receive(conn), name="edge-config")
                tasks.create_task(self._heartbeats(conn), name="edge-heartbeat")
                tasks.create_task(self._pump(conn, tasks), name="edge-pump")
                if self.commits is not None:
                    tasks.create_task(self._resend_overdue(conn, tasks), name="edge-resend")
                tasks.create_task(self._until_stopped(stop), name="edge-stop")
        except* _Stopped:
            pass
        except* PermanentError as group:
            raise group.exceptions[0] from None
        except* TransientError as group:
            raise group.exceptions[0] from None

    async def _until_stopped(self, stop: asyncio.Event) -> NoReturn:
        await stop.wait()
        # Drain within the grace period: whatever is left stays on disk for the next start.
        if self._queue.depth > 0 or self._inflight > 0:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout=self.config.shutdown_grace_s)
        raise _Stopped

    async def _pump(self, conn: EdgeConnection, tasks: asyncio.TaskGroup) -> NoReturn:
        """Send queued messages oldest first, at most ``max_unacked`` awaiting their PUBACK.

        Two cursors: events go whenever a PUBACK slot is free; other messages also need room in the
        commit window, so a platform that commits nothing holds back readings, never an SOS.
        """
        events_cursor = others_cursor = 0  # every session replays the whole queue from its oldest message
        while True:
            if self.holding:
                await self._retry_head(conn)
                events_cursor = others_cursor = 0  # resume from the oldest; what awaits its ack is skipped
                continue
            free = self.config.max_unacked - self._inflight
            if free <= 0:
                await self._slot_freed()
                continue
            self._wake.clear()
            rows = self._next_rows(events_cursor, others_cursor, min(free, _PEEK_LIMIT))
            if not rows:
                await self._wake.wait()
                continue
            for row in rows:
                if self.commits is None:
                    events_cursor = others_cursor = row.id  # one stream, one cursor
                elif row.kind == EVENTS:
                    events_cursor = max(events_cursor, row.id)
                else:
                    others_cursor = max(others_cursor, row.id)
                if self.commits is not None and row.id in self.commits:
                    continue  # sent in this session, awaiting its acknowledgement
                self._inflight += 1
                tasks.create_task(self._send(conn, row))
            await asyncio.sleep(0)  # let the sends hand their packets to paho before peeking again

    def _next_rows(self, events_cursor: int, others_cursor: int, limit: int) -> list[QueuedMessage]:
        if self.commits is None:
            return self._queue.peek(min(events_cursor, others_cursor), limit)
        rows = self._queue.peek(events_cursor, limit, kind=EVENTS)
        room = min(limit - len(rows), self.config.max_awaiting_commit - self.commits.awaiting_readings())
        if room > 0:
            rows += self._queue.peek(others_cursor, room, other_than=EVENTS)
        return rows

    async def _slot_freed(self) -> None:
        self._slot_free.clear()
        await self._slot_free.wait()

    async def _retry_head(self, conn: EdgeConnection) -> None:
        """Hold the queue after a refusal until the oldest refused message is accepted.

        Nothing new is sent meanwhile, so later messages cannot overtake the refused one (only those
        already in flight when the refusal came may have been accepted past it). The refused message is
        retried alone, with the reconnect backoff between attempts: a message refused for good costs one
        publish per ``reconnect_max_s``, not a busy loop. It stays queued throughout.
        """
        backoff = Backoff(self.config.mqtt.reconnect_min_s, self.config.mqtt.reconnect_max_s)
        while True:
            while self._inflight > 0:  # let the rest of the window settle (accepted or refused)
                await self._slot_freed()
            self._delete_acked()  # before resuming: what was accepted must not be sent again
            await asyncio.sleep(backoff.next_delay())
            head = self._oldest_refused()
            if head is None:  # the queue's bound policy dropped what was refused: nothing left to hold
                self.holding = False
                return
            self._inflight += 1
            if await self._send(conn, head):
                self._log.info(
                    "edge_refused_message_accepted", topic=head.topic, attempts=backoff.attempt, queue_depth=self._queue.depth
                )
                if not self._refused:
                    self.holding = False
                    self._delete_acked()
                    return

    def _oldest_refused(self) -> QueuedMessage | None:
        while self._refused:
            oldest = min(self._refused)
            message = self._queue.get(oldest)
            if message is not None:
                return message
            self._refused.discard(oldest)
        return None

    async def _send(self, conn: EdgeConnection, message: QueuedMessage) -> bool:
        """Publish one queued message; False (and the queue head held) when the broker refuses it."""
        if self.commits is not None:
            self.commits.sending(message)
        try:
            await conn.publish(message.topic, message.payload, timeout_s=self.config.ack_timeout_s)
        except PublishRefusedError as exc:
            self.refused += 1
            self.holding = True
            self._refused.add(message.id)
            if self.commits is not None:
                self.commits.forget(message.id)
            self._wake.set()  # the pump may be waiting for new messages: it must start holding
            self._log.error(
                "edge_publish_refused",
                topic=exc.topic,
                reason_code=exc.reason_code,
                reason=exc.reason_name,
                queued=True,
                queue_depth=self._queue.depth,
            )
            return False
        finally:
            self._inflight -= 1
            self._slot_free.set()
        self.published += 1
        self._refused.discard(message.id)
        if self.commits is not None:
            self.commits.pubacked(message.id)  # kept until ingest's acknowledgement
            return True
        self._acked.append(message.id)
        if len(self._acked) == 1:
            # The first PUBACK of a burst waits one loop turn so that the others arriving in the same
            # read are deleted in the same transaction.
            await asyncio.sleep(0)
            self._delete_acked()
        return True

    def _delete_acked(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, []
            self._queue.delete(acked)
        self._check_drained()

    def _check_drained(self) -> None:
        if self._queue.depth == 0 and self._inflight == 0:
            self._drained.set()

    async def _resend_overdue(self, conn: EdgeConnection, tasks: asyncio.TaskGroup) -> NoReturn:
        """Send again what was PUBACKed and not acknowledged in time (the broker may have lost it)."""
        assert self.commits is not None
        while True:
            due_in = self.commits.next_due_in_s()
            await asyncio.sleep(min(1.0, due_in) if due_in is not None else 1.0)
            if self.holding:
                continue
            overdue = self.commits.overdue()
            if overdue:
                self._log.info("edge_commit_overdue", messages=len(overdue), oldest_s=round(self.commits.oldest_age_s(), 1))
            for message_id in overdue:
                while self.config.max_unacked - self._inflight <= 0:
                    await self._slot_freed()
                message = self._queue.get(message_id)
                if message is None:  # dropped by the queue's bound meanwhile
                    self.commits.forget(message_id)
                    continue
                if message_id not in self.commits:
                    continue  # acknowledged while we waited for a slot
                self.commits.resent += 1
                self._inflight += 1
                tasks.create_task(self._send(conn, message))

    def _committed(self, ack: CommitAck) -> None:
        assert self.commits is not None
        settled = self.commits.apply(ack)
        for reason, count in settled.dead_lettered.items():
            # The platform refused these for good: sending them again would not help. Counted, and said.
            self._log.error("edge_messages_dead_lettered", reason=reason, messages=count, queue_depth=self._queue.depth)
        if settled.committed or settled.dead_lettered:
            self._slot_free.set()  # room in the commit window
            self._wake.set()
            self._check_drained()

    async def _heartbeats(self, conn: EdgeConnection) -> NoReturn:
        while True:
            heartbeat = Heartbeat(
                home_id=self.config.home_id,
                ts=self._clock.now(),
                uptime_s=max(0.0, (self._clock.now() - self._started).total_seconds()),
                queue_depth=self._queue.depth,
                devices=self._registry.health(),
            )
            topic, payload = encode(self.config.topic_root, heartbeat)
            await self._publish_unqueued(conn, topic, payload)
            if self.commits is not None:  # the gateway's own status line, with the heartbeat's period
                self._log.info(
                    "edge_status", queue_depth=self._queue.depth, awaiting_commit=len(self.commits),
                    oldest_awaiting_s=round(self.commits.oldest_age_s(), 1), committed=self.commits.committed,
                    dead_lettered=sum(self.commits.dead_lettered.values()), resent=self.commits.resent,
                )  # fmt: skip
            self._retuned.clear()
            await sleep_until(self._never, self._tuning.heartbeat_interval_s, wake=self._retuned, clock=self._clock)

    async def _receive(self, conn: EdgeConnection) -> NoReturn:
        async for incoming in conn.messages():
            if not incoming.payload:
                continue  # the platform deleted the retained config; keep the one applied
            decoded = decode(incoming.topic, incoming.payload, root=self.config.topic_root)
            if isinstance(decoded, Rejection):
                self._log.error("edge_config_rejected", reason=decoded.reason.value, detail=decoded.detail)
                continue
            if decoded.message.home_id != self.config.home_id:
                continue
            if isinstance(decoded.message, GatewayConfig):
                self._on_config(decoded.message)
            elif isinstance(decoded.message, CommitAck) and self.commits is not None:
                self._committed(decoded.message)
        raise TransientError("the config subscription ended")

    @property
    def uptime_started(self) -> datetime:
        return self._started
