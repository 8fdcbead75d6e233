"""The MQTT boundary: the only package that imports aiomqtt or paho-mqtt.

Everything speaks MQTT 5 with QoS 1. aiomqtt errors are translated here, once: refused
credentials or authorisation are permanent (never retried in a loop), everything else transient.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eldercare.config import MqttEndpoint, MqttSettings, Settings
from eldercare.contracts.codec import encode
from eldercare.contracts.payloads import DELIVERY, KIND_BY_MODEL, Message
from eldercare.errors import PermanentError, TransientError
from eldercare.mqtt.tls import certificate_error, check_transport, tls_context

# MQTT 5 CONNACK reason codes that retrying cannot fix (bad credentials, banned, not authorised).
FATAL_CONNECT_CODES = frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C})
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
    """Map an aiomqtt/paho error to our hierarchy.

    Only a refused CONNECT can be permanent: the codes of other errors are paho's own error numbers
    (MQTT_ERR_NO_CONN is 4, like MQTT 3.1.1's "bad user name or password"), or the reason a broker
    gave for dropping a connection, which a reconnect answers."""
    refused_certificate = certificate_error(exc)
    if refused_certificate is not None:
        return refused_certificate
    rc = getattr(exc, "rc", None)
    code = getattr(rc, "value", rc)
    refused = isinstance(exc, MqttConnectError) and isinstance(code, int)
    if refused and (code in FATAL_CONNECT_CODES or code in _FATAL_CONNECT_CODES_V3):
        return PermanentError(f"broker refused the connection: {exc}")
    return TransientError(f"MQTT connection problem: {exc}")


def client_for(
    mqtt: MqttSettings, endpoint: MqttEndpoint, *, client_id: str, will: Will | None, persistent: bool, **options: Any
) -> aiomqtt.Client:
    """An aiomqtt client, not connected yet, as every one of ours is built: MQTT 5, our session expiry,
    keepalive, connect timeout and TLS; ``options`` go to aiomqtt as they are. PermanentError when
    credentials would go in clear."""
    check_transport(endpoint, mqtt)
    return aiomqtt.Client(
        hostname=endpoint.host,
        port=endpoint.port,
        username=endpoint.username,
        password=endpoint.password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not persistent,
        properties=_connect_properties(mqtt.session_expiry_s if persistent else 0),
        keepalive=mqtt.keepalive_s,
        timeout=mqtt.connect_timeout_s,
        will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain) if will else None,
        tls_context=tls_context(mqtt) if endpoint.tls else None,
        **options,
    )


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
    client = client_for(
        settings.mqtt,
        target,
        client_id=client_id,
        will=will,
        persistent=persistent,
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
