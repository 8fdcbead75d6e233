"""LISTEN on one channel until told to stop: the one loop the alert engine (``eldercare_inbox``,
woken by ingest) and the API's live streams (``eldercare_alerts``, woken by every alert change)
share.

A connection of its own, outside any pool, in autocommit. NOTIFY only wakes: the callers poll as
well, so a lost connection or a missed notification delays work, never loses it. Hence trouble is
logged and retried with backoff, never raised; and every (re)LISTEN calls ``on_listen`` first, for
whatever was notified while nobody listened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from eldercare import logs
from eldercare.config import Settings
from eldercare.retry import Backoff, sleep_until

NOTIFY_WAIT_S = 0.5  # how often the loop looks at ``stop`` while no notification comes


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Listener:
    """``channel``: a name of ours. ``event``: the prefix of the log events (``<event>_unavailable``,
    ``<event>_lost``), logged as ``component``."""

    channel: str
    component: str
    event: str
    on_notify: Callable[[], None]
    on_listen: Callable[[], None]
    on_lost: Callable[[], None] = _nothing

    async def run(self, settings: Settings, stop: asyncio.Event) -> None:
        """LISTEN until ``stop``; reconnect with backoff on trouble."""
        log = logs.get(self.component)
        backoff = Backoff(settings.db.retry_min_s, settings.db.retry_max_s)
        timeout = max(1, int(settings.db.connect_timeout_s))
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True, connect_timeout=timeout)
            except psycopg.Error as exc:
                delay = backoff.next_delay()
                log.warning(f"{self.event}_unavailable", error=type(exc).__name__, retry_in_s=round(delay, 2))
                await sleep_until(stop, delay)
                continue
            backoff.reset()
            try:
                await self._listen_on(conn, stop)
            except psycopg.Error as exc:
                log.warning(f"{self.event}_lost", error=type(exc).__name__)
                await sleep_until(stop, backoff.next_delay())
            finally:
                self.on_lost()
                await conn.close()

    async def _listen_on(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        self.on_listen()
        while not stop.is_set():
            async for _ in conn.notifies(timeout=NOTIFY_WAIT_S):
                self.on_notify()
