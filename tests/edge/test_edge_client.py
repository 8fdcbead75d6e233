"""The edge client's errors against a real broker: a lost connection is transient, whatever paho's
error number says; only a refused CONNECT is permanent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from eldercare.config import Settings, parse_mqtt_url
from eldercare.errors import PermanentError, TransientError
from eldercare.mqtt.edge_client import EdgeConnection, connect_edge
from tests.support.broker import PrivateBroker


async def test_using_a_connection_the_broker_dropped_is_transient(
    edge_settings: Callable[..., Settings], private_broker: Callable[..., PrivateBroker], topic_root: str
) -> None:
    broker = private_broker(persistence=False)
    settings = edge_settings(mqtt_url=broker.url)
    async with connect_edge(settings.mqtt, parse_mqtt_url(broker.url), client_id="drop-probe", persistent=False) as conn:
        await conn.subscribe(f"{topic_root}/#", timeout_s=5)
        await asyncio.to_thread(broker.stop)
        # paho says MQTT_ERR_NO_CONN (4), the number of MQTT 3.1.1's "bad user name or password":
        # a gateway that took it for a refusal would stop for good after a broker restart.
        with pytest.raises(TransientError):
            await _subscribe_until_it_fails(conn, f"{topic_root}/more")


async def _subscribe_until_it_fails(conn: EdgeConnection, topic_filter: str) -> None:
    """Subscribe until the client has noticed that the connection is gone (an error escapes)."""
    for _ in range(600):
        await conn.subscribe(topic_filter, timeout_s=5)
        await asyncio.sleep(0.05)


async def test_refused_credentials_are_permanent(
    edge_settings: Callable[..., Settings], private_broker: Callable[..., PrivateBroker]
) -> None:
    broker = private_broker(persistence=False, users={"gw-1": "right-password"})
    settings = edge_settings(mqtt_url=broker.url)
    endpoint = parse_mqtt_url(broker.url).with_credentials("gw-1", "wrong-password")
    with pytest.raises(PermanentError):
        async with connect_edge(settings.mqtt, endpoint, client_id="gw-1", persistent=False):
            pass
