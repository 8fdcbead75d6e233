"""LISTEN on a channel from a connection of its own, for as long as a service runs.

A notification only wakes: the listener reads its rows itself and polls anyway, so a lost
connection or a missed notification delays work, never loses it. That is why one loop serves every
listener (the alert engine's inbox, the API's live alert streams): connect, LISTEN, wake once for
whatever changed while nobody listened, then wake on every notification; on trouble, close, back
off and connect again, saying so in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from eldercare import logs
from eldercare.config import Settings
from eldercare.retry import Backoff, sleep_until

log = logs.get("db")

# How often the loop looks at ``stop`` while no notification arrives.
_POLL_S = 0.5


async def listen(
    settings: Settings,
    channel: str,
    wake: Callable[[], None],
    stop: asyncio.Event,
    *,
    listening: Callable[[bool], None] | None = None,
) -> None:
    """Call ``wake`` on every NOTIFY on ``channel`` (and once per new connection) until ``stop``.

    ``listening`` hears True once the LISTEN is in place and False when the connection is lost.
    """
    backoff = Backoff(settings.db.retry_min_s, settings.db.retry_max_s)
    while not stop.is_set():
        try:
            conn = await psycopg.AsyncConnection.connect(
                settings.database_url, autocommit=True, connect_timeout=max(1, int(settings.db.connect_timeout_s))
            )
        except psycopg.Error as exc:
            delay = backoff.next_delay()
            log.warning("listen_unavailable", channel=channel, error=type(exc).__name__, retry_in_s=round(delay, 2))
            await sleep_until(stop, delay)
            continue
        backoff.reset()
        try:
            await _listen_on(conn, channel, wake, stop, listening)
        except psycopg.Error as exc:
            delay = backoff.next_delay()
            log.warning("listen_lost", channel=channel, error=type(exc).__name__, retry_in_s=round(delay, 2))
            await sleep_until(stop, delay)
        finally:
            if listening is not None:
                listening(False)
            await conn.close()


async def _listen_on(
    conn: psycopg.AsyncConnection[Any],
    channel: str,
    wake: Callable[[], None],
    stop: asyncio.Event,
    listening: Callable[[bool], None] | None,
) -> None:
    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    if listening is not None:
        listening(True)
    wake()  # whatever changed while nobody listened
    while not stop.is_set():
        async for _ in conn.notifies(timeout=_POLL_S):
            wake()
