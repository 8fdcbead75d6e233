"""The harness itself: per-test databases, private brokers with auth and ACLs, the cutting proxy."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg
import pytest

from eldercare.config import Settings
from eldercare.contracts.topics import acl_patterns
from eldercare.errors import PermanentError
from eldercare.mqtt import connect
from tests.support.broker import PrivateBroker
from tests.support.databases import DatabaseFactory, RunLease, sweep_dead_runs, url_for
from tests.support.proxy import TcpProxy, proxy_to_database
from tests.support.services import Flavour

# A run that makes a database and is then killed (a pytest stopped mid-run): its lease dies with it.
KILLED_RUN = """
import sys, psycopg
from psycopg import sql
from tests.support.databases import RunLease
lease = RunLease(sys.argv[1])
name = lease.database_name("left")
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(sys.argv[2])))
print(name, flush=True)
sys.stdin.read()
"""


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
                received.append(message.payload.decode())
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


def _databases(admin_url: str) -> set[str]:
    with psycopg.connect(admin_url) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database").fetchall()}


def _scheduler_running(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'TimescaleDB Background Worker Scheduler'"
            " AND datname = current_database()"
        ).fetchone()
    return row == (1,)


def test_a_killed_runs_databases_are_dropped_by_the_next_run_and_a_live_runs_kept(
    databases: DatabaseFactory, db_url: str, db_flavour: Flavour
) -> None:
    """On TimescaleDB each leftover database's scheduler holds a worker slot for good: 16 leftovers
    and no job runs anywhere (the CI run where test_policies waited 120 s for jobs never started)."""
    admin = databases.admin_url
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, admin, databases.template], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as killed:
        assert killed.stdout is not None
        left = killed.stdout.readline().strip()
        killed.kill()
    other = RunLease(admin)  # a run that is alive, between two of its tests
    live = other.database_name("alive")
    unleased = f"ecdb_{other.run_id}_0000beef"  # named as runs named databases before leases
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in (live, unleased):
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    psycopg.sql.Identifier(name), psycopg.sql.Identifier(databases.template)
                )
            )
    try:
        if db_flavour == "timescaledb":
            databases.start_scheduler(url_for(admin, unleased))  # what the launcher does for it at the cluster's start
            deadline = time.monotonic() + 60
            while not _scheduler_running(url_for(admin, unleased)):
                assert time.monotonic() < deadline, "the leftover's scheduler never started"
                time.sleep(0.2)
        dropped, stopped = sweep_dead_runs(admin)
        assert left in dropped
        assert live not in dropped
        assert _databases(admin) >= {live, unleased, databases.template, db_url.rsplit("/", 1)[1]}
        assert left not in _databases(admin)
        if db_flavour == "timescaledb":
            assert unleased in stopped
            assert not _scheduler_running(url_for(admin, unleased))
        else:
            assert stopped == []
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in (live, unleased):
                conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
        other.release()
