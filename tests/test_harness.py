"""The harness itself: per-test databases, private brokers with auth and ACLs, the cutting proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import pytest

from eldercare.config import Settings
from eldercare.contracts.topics import acl_patterns
from eldercare.errors import PermanentError
from eldercare.mqtt import connect
from tests.support.broker import PrivateBroker
from tests.support.proxy import TcpProxy, proxy_to_database


def test_each_test_gets_a_migrated_database_of_its_own(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()  # type: ignore[misc]
        assert count >= 2
        (homes,) = conn.execute("SELECT count(*) FROM homes").fetchone()  # type: ignore[misc]
        assert homes == 0


def test_proxy_cuts_and_restores_a_database_connection(db_url: str, tcp_proxy: Callable[[str, int], TcpProxy]) -> None:
    proxy, via_proxy = proxy_to_database(tcp_proxy, db_url)
    conn = psycopg.connect(via_proxy, autocommit=True)
    assert conn.execute("SELECT 1").fetchone() == (1,)
    proxy.cut()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(via_proxy, connect_timeout=2)
    proxy.restore()
    with psycopg.connect(via_proxy, autocommit=True) as again:
        assert again.execute("SELECT 2").fetchone() == (2,)


async def test_private_broker_confines_a_home_to_its_topics(
    private_broker: Callable[..., PrivateBroker], make_settings: Callable[..., Settings]
) -> None:
    acl = "\n".join([*acl_patterns("eldercare"), "user platform", "topic readwrite eldercare/#", ""])
    broker = private_broker(users={"home-a": "pw-a", "home-b": "pw-b", "platform": "pw-p"}, acl=acl)
    settings = make_settings(mqtt_url=broker.url, mqtt={"topic_root": "eldercare"})
    as_user = settings.mqtt_endpoint.with_credentials
    received: list[str] = []
    async with connect(settings, client_id="b", endpoint=as_user("home-b", "pw-b")) as client_b:
        await client_b.subscribe("eldercare/v1/home-b/config", qos=1)
        await client_b.subscribe("eldercare/v1/home-a/#", qos=1)  # not allowed: the broker delivers nothing
        async with connect(settings, client_id="a", endpoint=as_user("home-a", "pw-a")) as client_a:
            await client_a.publish("eldercare/v1/home-a/status", b"own", qos=1)
            await client_a.publish("eldercare/v1/home-b/config", b"forged", qos=1)  # another home's: dropped
            await client_b.publish("eldercare/v1/home-b/config", b"self-written", qos=1)  # its own config: dropped
        async with connect(settings, client_id="p", endpoint=as_user("platform", "pw-p")) as platform:
            await platform.publish("eldercare/v1/home-a/config", b"theirs", qos=1)
            await platform.publish("eldercare/v1/home-b/config", b"mine", qos=1)

        async def collect() -> None:
            async for message in client_b.messages:
                received.append(message.payload.decode())  # type: ignore[union-attr]
                if "mine" in received:
                    return

        await asyncio.wait_for(collect(), timeout=5)
    assert received == ["mine"]


async def test_wrong_password_is_permanent(
    private_broker: Callable[..., PrivateBroker], make_settings: Callable[..., Settings]
) -> None:
    broker = private_broker(users={"home-a": "pw-a"})
    settings = make_settings(mqtt_url=broker.url)
    with pytest.raises(PermanentError):
        async with connect(settings, client_id="x", endpoint=settings.mqtt_endpoint.with_credentials("home-a", "wrong")):
            pass
