"""The gateway's connection to the platform broker: status, config, heartbeats, and the queue pump.

One session = one MQTT connection. It subscribes to the home's retained ``config`` topic, publishes
a retained ``online`` status (the will says ``offline``/``connection_lost``), then replays the disk
queue oldest first with at most ``max_unacked`` messages awaiting their PUBACK; each message is
deleted from the queue only after a PUBACK with a success reason code. Any connection problem ends
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

from edge.devices import DeviceRegistry
from edge.intake import Tuning
from edge.queue import DiskQueue, QueuedMessage
from eldercare import logs
from eldercare.clock import Clock
from eldercare.config import MqttEndpoint, MqttSettings
from eldercare.contracts.codec import Rejection, decode, encode
from eldercare.contracts.payloads import GatewayConfig, GatewayStatus, Heartbeat
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
        """Send queued messages oldest first, at most ``max_unacked`` awaiting their PUBACK."""
        cursor = 0  # every session replays the whole queue from its oldest message
        while True:
            if self.holding:
                cursor = await self._retry_head(conn)
                continue
            free = self.config.max_unacked - self._inflight
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            self._wake.clear()
            rows = self._queue.peek(cursor, min(free, _PEEK_LIMIT))
            if not rows:
                await self._wake.wait()
                continue
            for row in rows:
                cursor = row.id
                self._inflight += 1
                tasks.create_task(self._send(conn, row))
            await asyncio.sleep(0)  # let the sends hand their packets to paho before peeking again

    async def _retry_head(self, conn: EdgeConnection) -> int:
        """Hold the queue head after a refusal; return the cursor to resume from once it is accepted.

        Nothing new is sent meanwhile, so later messages cannot overtake the refused one (only those
        already in flight when the refusal came may have been accepted past it). The head is retried
        alone, with the reconnect backoff between attempts: a message refused for good costs one
        publish per ``reconnect_max_s``, not a busy loop. It stays queued throughout.
        """
        backoff = Backoff(self.config.mqtt.reconnect_min_s, self.config.mqtt.reconnect_max_s)
        while True:
            while self._inflight > 0:  # let the rest of the window settle (accepted or refused)
                self._slot_free.clear()
                await self._slot_free.wait()
            self._delete_acked()  # before peeking: what was accepted must not be sent again
            await asyncio.sleep(backoff.next_delay())
            rows = self._queue.peek(0, 1)
            if not rows:  # the queue's bound policy dropped what was refused: nothing left to hold
                self.holding = False
                return 0
            head = rows[0]
            self._inflight += 1
            if await self._send(conn, head):
                self._log.info(
                    "edge_refused_message_accepted", topic=head.topic, attempts=backoff.attempt, queue_depth=self._queue.depth
                )
                self.holding = False
                return head.id

    async def _send(self, conn: EdgeConnection, message: QueuedMessage) -> bool:
        """Publish one queued message; False (and the queue head held) when the broker refuses it."""
        try:
            await conn.publish(message.topic, message.payload, timeout_s=self.config.ack_timeout_s)
        except PublishRefusedError as exc:
            self.refused += 1
            self.holding = True
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
        if self._queue.depth == 0 and self._inflight == 0:
            self._drained.set()

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
            if isinstance(decoded.message, GatewayConfig) and decoded.message.home_id == self.config.home_id:
                self._on_config(decoded.message)
        raise TransientError("the config subscription ended")

    @property
    def uptime_started(self) -> datetime:
        return self._started
