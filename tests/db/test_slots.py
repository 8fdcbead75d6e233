"""Each copy of a scaled service claims a stable slot; a restarted copy gets its slot back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest

from eldercare.db.slots import Slot, claim_slot
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
        proxy.cut()  # the session ends, and the lock with it
        proxy.restore()
        # Nobody else claimed slot 0 meanwhile: the copy holds it again, so a newcomer gets slot 1.
        while True:
            async with claim_slot(db_url, "ingest/a", connect_timeout_s=5) as newcomer:
                if newcomer.number == 1:
                    break
            await asyncio.sleep(0.05)  # slot 0 was free for a moment: the copy has not re-taken it yet
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


@asynccontextmanager
async def _claimed_when_free(db_url: str) -> AsyncIterator[Slot]:
    """Slot 0, once the server has noticed the cut session and released its lock."""
    while True:
        async with claim_slot(db_url, "ingest/a", connect_timeout_s=5) as slot:
            if slot.number == 0:
                yield slot
                return
        await asyncio.sleep(0.05)
