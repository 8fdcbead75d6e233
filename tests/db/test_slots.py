"""Each copy of a scaled service claims a stable slot; a restarted copy gets its slot back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from urllib.parse import urlsplit

import psycopg
import pytest

from eldercare.db.slots import Slot, _namespace, claim_slot
from eldercare.errors import PermanentError
from tests.support.proxy import TcpProxy


def _via(proxy: TcpProxy, db_url: str) -> str:
    parts = urlsplit(db_url)
    return parts._replace(netloc=f"{parts.username}@{proxy.url_host_port}").geturl()


async def test_copies_get_the_lowest_free_slots_and_a_restart_gets_its_own_back(db_url: str) -> None:
    async with claim_slot(db_url, "ingest/a", connect_timeout_s=5) as first:
        async with claim_slot(db_url, "ingest/a", connect_timeout_s=5) as second:
            assert (first.number, second.number) == (0, 1)
            async with claim_slot(db_url, "ingest/b", connect_timeout_s=5) as other_scope:
                assert other_scope.number == 0
        async with claim_slot(db_url, "ingest/a", connect_timeout_s=5) as replacement:
            assert replacement.number == 1, "the copy that stopped left slot 1; its replacement takes it"


async def test_after_a_database_outage_the_copy_takes_its_slot_back(db_url: str, tcp_proxy: Callable[..., TcpProxy]) -> None:
    host, port = urlsplit(db_url).hostname, urlsplit(db_url).port
    proxy = tcp_proxy(host, port)
    stop = asyncio.Event()
    async with claim_slot(_via(proxy, db_url), "ingest/a", connect_timeout_s=5) as slot:
        keeping = asyncio.create_task(slot.keep(stop, check_interval_s=0.05))
        cut_at = _server_now(db_url)
        proxy.cut()  # the session ends, and the lock with it
        proxy.restore()
        # Nobody else claimed slot 0 meanwhile: the copy takes it again on a new session. Watched in
        # pg_locks, not by claiming: a probe holding slot 0 at the moment the copy comes back would
        # (rightly) make the copy stop, as the next test shows (a CI run once hit exactly that).
        while not _slot_held_since(db_url, "ingest/a", 0, cut_at):
            assert not keeping.done(), keeping.exception()
            await asyncio.sleep(0.05)
        async with claim_slot(db_url, "ingest/a", connect_timeout_s=5) as newcomer:
            assert newcomer.number == 1
        assert not keeping.done()
        stop.set()
        await keeping


async def test_a_copy_whose_slot_was_taken_during_an_outage_stops(db_url: str, tcp_proxy: Callable[..., TcpProxy]) -> None:
    host, port = urlsplit(db_url).hostname, urlsplit(db_url).port
    proxy = tcp_proxy(host, port)
    async with claim_slot(_via(proxy, db_url), "ingest/a", connect_timeout_s=5) as slot:
        proxy.cut()
        # A copy started during the outage claims slot 0 (the lock died with the cut session)...
        async with _claimed_when_free(db_url) as newcomer:
            assert newcomer.number == 0
            proxy.restore()
            # ... so the first copy must not go on as slot 0: two copies would share one MQTT client id.
            with pytest.raises(PermanentError, match="slot 0 of ingest/a was claimed by another copy"):
                await slot.keep(asyncio.Event(), check_interval_s=0.05)


def _server_now(db_url: str) -> datetime:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _slot_held_since(db_url: str, scope: str, number: int, since: datetime) -> bool:
    """Whether slot ``number`` of ``scope`` is held by a session that began after ``since``."""
    namespace = _namespace(scope) % 2**32  # pg_locks shows the first key as an oid
    query = (
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 2"
        " AND l.granted AND a.backend_start > %s"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(query, (namespace, number, since)).fetchone()
    return bool(row and row[0])


@asynccontextmanager
async def _claimed_when_free(db_url: str) -> AsyncIterator[Slot]:
    """Slot 0, once the server has noticed the cut session and released its lock."""
    while True:
        async with claim_slot(db_url, "ingest/a", connect_timeout_s=5) as slot:
            if slot.number == 0:
                yield slot
                return
        await asyncio.sleep(0.05)
