"""A QoS 1 subscriber that acknowledges only when told to: the basis of "ack after commit".

aiomqtt 2.x acknowledges every QoS 1 message as soon as it is handed over, so a crash between
hand-over and commit would lose it. paho-mqtt 2 can leave acknowledgement to the caller
(``Client(manual_ack=True)`` + ``client.ack(mid, qos)``); this module wraps that, and is with
``eldercare.mqtt`` the only place that imports paho.

paho's network loop runs in its own thread (``loop_start``): it reconnects with backoff and
keeps the connection alive. Deliveries cross to the event loop through a bounded inbox. The
broker sends at most ``receive_maximum`` unacknowledged messages (MQTT 5 Receive Maximum), and the
inbox holds at least that many, so in practice the network thread never waits; if a broker sent
more, the thread would block on the full inbox and stop reading the socket: backpressure, never
dropping.

Each connection is a new *generation*. Packet ids are per connection: after a reconnect the broker
redelivers whatever was unacknowledged (resumed session) and may reuse an old id for a new
message, so an acknowledgement for a delivery of an earlier generation is never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from eldercare import logs
from eldercare.config import MqttEndpoint, Settings
from eldercare.errors import PermanentError
from eldercare.mqtt import FATAL_CONNECT_CODES
from eldercare.mqtt.tls import check_transport, tls_context

_log = logs.get("mqtt")
# Generations are unique in the process, so no delivery can match another connection by accident.
_generations = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received QoS 1 message; acknowledge it through the subscriber that produced it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received: float  # time.monotonic() when paho handed it over: how long we held it before commit
    # MQTT DUP flag: the broker sent it before and saw no acknowledgement (we crashed or lost the
    # connection while holding it). The receiver treats such a message with suspicion (quarantine).
    redelivered: bool = False
    # MQTT 5 user properties (name, value) the publisher set, e.g. the platform's origin mark.
    properties: tuple[tuple[str, str], ...] = ()


class ManualAckSubscriber:
    """Shared-subscription QoS 1 consumer with a persistent session and acknowledgement on demand.

    Use as ``async with ManualAckSubscriber(...) as sub``; ``await sub.get_many(...)`` returns
    deliveries in arrival order and ``sub.ack(deliveries)`` acknowledges them (call it in arrival
    order). A refused connection (bad credentials, not authorised) makes ``get_many`` raise
    PermanentError; every other disconnect is retried by paho with exponential backoff.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str,
        topic_filters: Sequence[str],
        receive_maximum: int,
        endpoint: MqttEndpoint | None = None,
        drop_qos0_marked: tuple[str, str] | None = None,
    ) -> None:
        self._settings = settings
        # A QoS 0 message with this user property is dropped on arrival, uncounted: the platform's own
        # commit acknowledgements, which a subscription to the whole root receives back (MQTT 5 forbids
        # No Local on a shared subscription).
        self._drop_marked = drop_qos0_marked
        self._endpoint = endpoint or settings.mqtt_endpoint
        check_transport(self._endpoint, settings.mqtt)
        self._topic_filters = list(topic_filters)
        self._receive_maximum = receive_maximum
        self._capacity = receive_maximum  # the broker never has more unacknowledged with us than this
        self._inbox: deque[Delivery] = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._consumer_waiting = False
        self._closing = False
        self._generation = 0
        self._unacked = 0
        self._fatal: PermanentError | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client = self._build_client(client_id)

    # -- lifecycle ---------------------------------------------------------------------------

    def _build_client(self, client_id: str) -> paho.Client:
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if self._endpoint.username is not None:
            client.username_pw_set(self._endpoint.username, self._endpoint.password)
        if self._endpoint.tls:
            client.tls_set_context(tls_context(self._settings.mqtt))
        mqtt = self._settings.mqtt
        client.reconnect_delay_set(mqtt.reconnect_min_s, mqtt.reconnect_max_s)  # type: ignore[arg-type]
        client.connect_timeout = mqtt.connect_timeout_s
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._settings.mqtt.session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        return props

    async def __aenter__(self) -> ManualAckSubscriber:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        # connect_async + loop_start: the network thread makes the first attempt and keeps retrying
        # (with backoff) while the broker is unreachable, so start order of services does not matter.
        self._client.connect_async(
            self._endpoint.host,
            self._endpoint.port,
            keepalive=self._settings.mqtt.keepalive_s,
            clean_start=False,  # resume the session: what arrived while we were away is delivered now
            properties=self._connect_properties(),
        )
        self._client.loop_start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect (the session stays on the broker for ``session_expiry_s``) and stop the thread."""
        with self._lock:
            self._closing = True
            self._not_full.notify_all()
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    # -- consumer side (event loop) ----------------------------------------------------------

    async def get_many(self, max_items: int, timeout_s: float) -> list[Delivery]:
        """Up to ``max_items`` deliveries in arrival order; empty after ``timeout_s`` with none."""
        assert self._wakeup is not None, "use the subscriber as an async context manager"
        items = self._take(max_items)
        if items:
            return items
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout_s)
        return self._take(max_items)

    def _take(self, max_items: int) -> list[Delivery]:
        if self._fatal is not None:
            raise self._fatal
        assert self._wakeup is not None
        with self._lock:
            count = min(max_items, len(self._inbox))
            items = [self._inbox.popleft() for _ in range(count)]
            if items:
                self._not_full.notify()
            else:
                # Checked and flagged under the lock, so a delivery arriving now will wake us.
                self._wakeup.clear()
                self._consumer_waiting = True
        return items

    def ack(self, deliveries: Sequence[Delivery]) -> int:
        """Acknowledge ``deliveries`` (in the order given); returns how many PUBACKs were sent.

        Deliveries of an earlier connection are skipped: the broker redelivers those anyway, and
        their packet ids may already name other messages.
        """
        sent = 0
        with self._lock:
            generation = self._generation
        for delivery in deliveries:
            if delivery.generation != generation or delivery.qos == 0:
                continue
            self._client.ack(delivery.mid, delivery.qos)
            sent += 1
        with self._lock:
            if generation == self._generation:
                self._unacked = max(0, self._unacked - sent)
        return sent

    def publish(self, topic: str, payload: bytes, *, qos: int, user_properties: Sequence[tuple[str, str]] = ()) -> bool:
        """Hand one message to paho's network thread on this session; False when it is not connected.

        Does not wait for the broker: for what the platform sends that costs a resend when lost (a
        commit acknowledgement), never data.
        """
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if user_properties:
            props.UserProperty = list(user_properties)
        info = self._client.publish(topic, payload, qos=qos, properties=props)
        return info.rc == paho.MQTT_ERR_SUCCESS

    @property
    def unacknowledged(self) -> int:
        """Deliveries of the current connection received and not yet acknowledged."""
        return self._unacked

    @property
    def buffered(self) -> int:
        return len(self._inbox)

    # -- paho network thread -----------------------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            if reason.value in FATAL_CONNECT_CODES:
                self._fail(PermanentError(f"broker refused the connection: {reason} (check ELDERCARE_MQTT_URL credentials)"))
            else:
                _log.warning("mqtt_connect_refused", reason=str(reason))
            return
        with self._lock:
            self._generation = next(_generations)
            self._unacked = 0
            generation = self._generation
        self.connected.set()
        _log.info("mqtt_connected", session_present=bool(flags.session_present), generation=generation)
        # Subscribe on every connect: a resumed session already has the subscriptions (harmless),
        # a lost session (broker restarted without persistence, session expired) needs them again.
        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in self._topic_filters])

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # The broker is unreachable (refused, timed out): paho retries with backoff; say so once per try.
        _log.warning("mqtt_connect_failed", host=self._endpoint.host, port=self._endpoint.port)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Any) -> None:
        refused = [str(code) for code in reasons if code.is_failure]
        if refused:
            self._fail(PermanentError(f"broker refused the subscription: {', '.join(refused)}"))
            return
        self.subscribed.set()
        _log.info("mqtt_subscribed", filters=len(self._topic_filters))

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any) -> None:
        self.connected.clear()
        if not self._closing:
            _log.warning("mqtt_disconnected", reason=str(reason))

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if message.qos == 0 and self._drop_marked is not None and self._drop_marked in _user_properties(message):
            return
        with self._lock:
            while len(self._inbox) >= self._capacity and not self._closing:
                self._not_full.wait(0.5)  # backpressure: the socket is not read while we wait
            if self._closing:
                return  # never acknowledged, so the broker delivers it again
            delivery = Delivery(
                message.topic, bytes(message.payload), message.mid, message.qos, self._generation, time.monotonic(),
                message.dup, _user_properties(message),
            )  # fmt: skip
            self._inbox.append(delivery)
            self._unacked += 1 if message.qos else 0  # QoS 0 is never acknowledged
            wake = self._consumer_waiting
            self._consumer_waiting = False
        if wake:
            self._wake()

    def _fail(self, error: PermanentError) -> None:
        self._fatal = error
        _log.error("mqtt_fatal", error=str(error))
        self._client.disconnect()  # stops paho's reconnect loop: retrying would not help
        self._wake()

    def _wake(self) -> None:
        if self._loop is not None and self._wakeup is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)


def _user_properties(message: paho.MQTTMessage) -> tuple[tuple[str, str], ...]:
    properties = getattr(message, "properties", None)
    pairs = getattr(properties, "UserProperty", None) or []
    return tuple((str(name), str(value)) for name, value in pairs)
