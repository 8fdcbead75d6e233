"""MQTT plumbing for the edge agent: raw-bytes publishing with a bounded in-flight window.

The agent keeps its messages as encoded bytes in a disk queue, so it publishes bytes rather than
contract models, and it needs knobs the shared :func:`eldercare.mqtt.connect` does not expose
(paho's in-flight window, aiomqtt's pending-call warning). aiomqtt types never leave this module.

A QoS 1 publish completes only on a PUBACK with a success reason code; a PUBACK with a failure code
(MQTT 5, >= 0x80: 0x87 not authorized by the ACL, 0x97 quota exceeded, ...) raises
:class:`PublishRefusedError`. aiomqtt completes a publish on any PUBACK and drops its reason code, so
publishing goes through :class:`_Pubacks` (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.client import CallbackOnPublish_v2
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from eldercare.config import MqttEndpoint, MqttSettings
from eldercare.errors import EldercareError, TransientError
from eldercare.mqtt import Will, client_for, translate


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    retain: bool


class PublishRefusedError(EldercareError):
    """The broker answered a QoS 1 publish with a failure reason code: the message was NOT accepted.

    Not a TransientError: the connection is fine and other messages may go through (an ACL denies
    one topic, a quota is exceeded); the caller decides whether and when to retry this one.
    """

    def __init__(self, topic: str, reason_code: int, reason_name: str) -> None:
        self.topic = topic
        self.reason_code = reason_code
        self.reason_name = reason_name
        super().__init__(f"the broker refused the publish to {topic}: 0x{reason_code:02X} {reason_name}")


class _Pubacks:
    """The PUBACK reason code of each publish we wait for, by message id.

    aiomqtt (2.5) installs its own ``on_publish`` on the paho client, completes a publish on any
    PUBACK and drops the reason code. We put ours in its place (paho's v2 callback receives the code)
    and publish through paho ourselves, so that we know the message id to wait for; callbacks for
    message ids we are not waiting for go on to aiomqtt's handler. This relies on two aiomqtt details,
    ``Client._client`` (the paho client) and that it sets ``on_publish`` in its constructor;
    tests/edge/test_uplink_refused.py fails if either changes. paho runs the callback in the event
    loop's thread (aiomqtt drives its socket from the loop), so futures are completed directly.
    """

    def __init__(self, client: paho.Client) -> None:
        self._waiting: dict[int, asyncio.Future[ReasonCode]] = {}
        if client.on_publish is None:
            raise RuntimeError("aiomqtt no longer sets paho's on_publish; eldercare.mqtt.edge_client needs updating")
        self.chained = cast(CallbackOnPublish_v2, client.on_publish)  # aiomqtt uses paho's callback API v2
        client.on_publish = self._on_publish

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Properties) -> None:
        ack = self._waiting.pop(mid, None)
        if ack is None:
            self.chained(client, userdata, mid, reason_code, properties)
        elif not ack.done():
            ack.set_result(reason_code)

    def expect(self, mid: int) -> asyncio.Future[ReasonCode]:
        if mid in self._waiting:
            raise TransientError(f"MQTT message id {mid} reused while its PUBACK is still awaited")
        ack = asyncio.get_running_loop().create_future()
        self._waiting[mid] = ack
        return ack

    def forget(self, mid: int) -> None:
        self._waiting.pop(mid, None)


def _cancel_requests() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _raise_if_cancelled_during(before: int) -> None:
    """Re-raise a cancellation that aiomqtt's ``asyncio.wait_for`` swallowed.

    On Python 3.11, ``wait_for`` returns the result instead of raising CancelledError when the awaited
    PUBACK/SUBACK completes in the same loop turn as the cancellation; the task then runs on as if
    never cancelled, and whoever cancelled it (a task group tearing the agent down) waits forever.
    ``Task.cancelling()`` still counts the request. We compare with its value before the call, not
    with zero: 3.11's TaskGroup leaves the count raised after a child fails.
    """
    if _cancel_requests() > before:
        raise asyncio.CancelledError


class EdgeConnection:
    """One connected client; every method raises TransientError when the connection is gone."""

    def __init__(self, client: aiomqtt.Client, pubacks: _Pubacks) -> None:
        self._client = client
        self._pubacks = pubacks

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout_s: float,
        user_properties: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Publish and, for QoS 1, wait for the PUBACK at most ``timeout_s``.

        PublishRefusedError when the PUBACK carries a failure reason code (>= 0x80); success codes
        (0x00, and 0x10 no matching subscribers) complete normally. TransientError when the
        connection is gone or no PUBACK comes in time.
        """
        properties = None
        if user_properties:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.UserProperty = list(user_properties)
        info = self._client._client.publish(topic, payload, qos, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise TransientError(f"MQTT connection problem: could not publish: {paho.error_string(info.rc)}")
        if info.is_published():
            return  # QoS 0, already written
        ack = self._pubacks.expect(info.mid)
        try:
            # asyncio.timeout, unlike 3.11's wait_for, never swallows a cancellation that races the PUBACK.
            async with asyncio.timeout(timeout_s):
                reason = await ack
        except TimeoutError:
            raise TransientError(f"MQTT connection problem: no PUBACK within {timeout_s} s") from None
        finally:
            self._pubacks.forget(info.mid)
        if reason.is_failure:
            raise PublishRefusedError(topic, reason.value, reason.getName())

    async def subscribe(self, topic_filter: str, *, qos: int = 1, timeout_s: float) -> None:
        before = _cancel_requests()
        try:
            await self._client.subscribe(topic_filter, qos=qos, timeout=timeout_s)
        except aiomqtt.MqttError as exc:
            raise translate(exc) from exc
        _raise_if_cancelled_during(before)

    async def messages(self) -> AsyncIterator[Incoming]:
        """Incoming messages until the connection drops (then TransientError, never a silent end)."""
        try:
            async for message in self._client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                yield Incoming(message.topic.value, data, bool(message.retain))
        except aiomqtt.MqttError as exc:
            raise translate(exc) from exc
        raise TransientError("the message stream ended")


def _abandon(client: aiomqtt.Client) -> None:
    """Close the socket of a connection attempt that failed or was given up.

    aiomqtt leaves it open when the CONNACK times out or is refused (and when cancelled), with the
    event loop still watching it: one leaked descriptor per attempt, for as long as the broker stays
    unreachable. paho's own close also unregisters it from the loop (through aiomqtt's callbacks).
    """
    client._client._sock_close()


async def _enter(client: aiomqtt.Client) -> None:
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as exc:
        raise translate(exc) from exc


@asynccontextmanager
async def connect_edge(
    mqtt: MqttSettings,
    endpoint: MqttEndpoint,
    *,
    client_id: str,
    will: Will | None = None,
    persistent: bool = True,
    max_inflight: int = 20,
) -> AsyncIterator[EdgeConnection]:
    """A connected MQTT 5 client for a gateway (or for the platform's own publishes of raw bytes, such
    as ingest's retained configs: every publish is confirmed by a successful PUBACK).

    PermanentError on refused credentials (or credentials that would go in clear), CertificateError
    when the broker's certificate fails verification, else TransientError.
    """
    client = client_for(
        mqtt,
        endpoint,
        client_id=client_id,
        will=will,
        persistent=persistent,
        # paho sends at most this many QoS 1 messages before their PUBACKs; the rest wait in its
        # memory queue. The agent bounds the total itself (max_unacked_messages).
        max_inflight_messages=max_inflight,
    )
    # aiomqtt warns on every publish past 10 pending calls; a gateway replaying its queue has
    # hundreds pending by design.
    client.pending_calls_threshold = 65_535
    pubacks = _Pubacks(client._client)
    attempt = asyncio.ensure_future(_enter(client))
    try:
        await asyncio.shield(attempt)
    except asyncio.CancelledError:
        # Cancelled mid-connect: let the attempt end (it is bounded by connect_timeout_s; its TCP connect
        # runs in an executor thread that cannot be interrupted), close its socket, go on being cancelled.
        await asyncio.wait({attempt})
        if not attempt.cancelled():
            attempt.exception()  # mark it retrieved: the cancellation is what goes on
        _abandon(client)
        raise
    except EldercareError:
        _abandon(client)
        raise
    try:
        yield EdgeConnection(client, pubacks)
    finally:
        with contextlib.suppress(aiomqtt.MqttError):  # the connection is already gone: nothing to close
            await client.__aexit__(None, None, None)
