"""The MQTT boundary: the only package that imports aiomqtt or paho-mqtt.

Everything speaks MQTT 5 with QoS 1. aiomqtt errors are translated here, once: refused
credentials or authorisation are permanent (never retried in a loop), everything else transient.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from eldercare.config import MqttEndpoint, Settings
from eldercare.contracts.codec import encode
from eldercare.contracts.payloads import DELIVERY, KIND_BY_MODEL, Message
from eldercare.errors import PermanentError, TransientError
from eldercare.mqtt.tls import certificate_error, check_transport, tls_context

# MQTT 5 CONNACK reason codes that retrying cannot fix (bad credentials, banned, not authorised).
_FATAL_CONNECT_CODES = frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C})
# MQTT 3.1.1 return codes 4 (bad user name or password) and 5 (not authorised).
_FATAL_CONNECT_CODES_V3 = frozenset({4, 5})


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def _connect_properties(session_expiry_s: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    return props


def translate(exc: BaseException) -> Exception:
    """Map an aiomqtt/paho error to our hierarchy."""
    refused_certificate = certificate_error(exc)
    if refused_certificate is not None:
        return refused_certificate
    rc = getattr(exc, "rc", None)
    if isinstance(rc, ReasonCode) and rc.value in _FATAL_CONNECT_CODES:
        return PermanentError(f"broker refused the connection: {exc}")
    # A bare integer is a CONNACK return code only in a refused connect; elsewhere it is one of paho's
    # own MQTT_ERR_* codes, and 4 is MQTT_ERR_NO_CONN ("the client is not currently connected"): a
    # broker restarting under a gateway once ended that gateway's agent for good as "bad credentials".
    if isinstance(exc, MqttConnectError) and isinstance(rc, int) and rc in _FATAL_CONNECT_CODES_V3:
        return PermanentError(f"broker refused the connection: {exc}")
    return TransientError(f"MQTT connection problem: {exc}")


@asynccontextmanager
async def connect(
    settings: Settings,
    *,
    client_id: str,
    endpoint: MqttEndpoint | None = None,
    will: Will | None = None,
    persistent: bool = False,
    max_queued_outgoing: int | None = None,
) -> AsyncIterator[aiomqtt.Client]:
    """A connected aiomqtt client (MQTT 5). ``persistent`` keeps the session across reconnects.

    Raises PermanentError when the broker refuses the credentials (or they would go in clear),
    CertificateError when the broker's certificate fails verification, TransientError otherwise.
    """
    target = endpoint or settings.mqtt_endpoint
    check_transport(target, settings.mqtt)
    client = aiomqtt.Client(
        hostname=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not persistent,
        properties=_connect_properties(settings.mqtt.session_expiry_s if persistent else 0),
        keepalive=settings.mqtt.keepalive_s,
        timeout=settings.mqtt.connect_timeout_s,
        will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain) if will else None,
        tls_context=tls_context(settings.mqtt) if target.tls else None,
        max_queued_outgoing_messages=max_queued_outgoing,
    )
    try:
        await client.__aenter__()
    except aiomqtt.MqttError as exc:
        raise translate(exc) from exc
    try:
        yield client
    finally:
        with contextlib.suppress(aiomqtt.MqttError):  # the connection is already gone: nothing to close
            await client.__aexit__(None, None, None)


async def publish(client: aiomqtt.Client, root: str, message: Message) -> None:
    """Publish a contract message with its kind's QoS and retain flag; waits for PUBACK (QoS 1)."""
    topic, payload = encode(root, message)
    qos, retain = DELIVERY[KIND_BY_MODEL[type(message)]]
    try:
        await client.publish(topic, payload, qos=qos, retain=retain)
    except aiomqtt.MqttError as exc:
        raise translate(exc) from exc


MqttError = aiomqtt.MqttError
