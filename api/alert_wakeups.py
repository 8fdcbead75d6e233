"""Wakes the live alert streams the moment an alert changes (LISTEN eldercare_alerts).

One connection per API process listens, outside the pool; every open stream waits on
:meth:`AlertWakeups.wait` with its polling interval as the deadline. The trigger of migration 0070
sends one NOTIFY per changed alert's centre, so a new alert reaches the screens within one database
round trip instead of one polling interval. NOTIFY only wakes: a stream still reads the rows itself,
and polls anyway, so a lost connection or a missed notification delays an alert, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from eldercare import logs
from eldercare.config import Settings
from eldercare.retry import Backoff, sleep_until

CHANNEL = "eldercare_alerts"
log = logs.get("api")


class AlertWakeups:
    """A broadcast: each notification moves ``generation`` on and wakes every waiter.

    A stream notes the generation before it reads the alerts and waits for a later one, so a change
    notified while it was reading wakes it at once instead of waiting for the next poll.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.generation = 0
        self.listening = False

    def wake(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seen: int, timeout_s: float) -> int:
        """Until a generation after ``seen`` (at once if there is one already) or ``timeout_s``; the generation then."""
        if self.generation == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout_s)
        return self.generation

    async def run(self, settings: Settings, stop: asyncio.Event) -> None:
        """LISTEN until ``stop``; reconnect with backoff on trouble (the streams' polling covers the gap)."""
        backoff = Backoff(settings.db.retry_min_s, settings.db.retry_max_s)
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(
                    settings.database_url, autocommit=True, connect_timeout=max(1, int(settings.db.connect_timeout_s))
                )
            except psycopg.Error as exc:
                log.warning("alert_wakeups_unavailable", error=type(exc).__name__)
                await sleep_until(stop, backoff.next_delay())
                continue
            backoff.reset()
            try:
                await self._listen_on(conn, stop)
            except psycopg.Error as exc:
                log.warning("alert_wakeups_lost", error=type(exc).__name__)
                await sleep_until(stop, backoff.next_delay())
            finally:
                self.listening = False
                await conn.close()

    async def _listen_on(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        await conn.execute(f"LISTEN {CHANNEL}")  # a constant of ours: no injection
        self.listening = True
        self.wake()  # whatever changed while nobody listened
        while not stop.is_set():
            async for _ in conn.notifies(timeout=0.5):
                self.wake()
