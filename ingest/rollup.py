"""Keeps activity_hourly fresh on plain PostgreSQL; TimescaleDB's continuous aggregate does it there
(and :mod:`ingest.policies` watches the policies that refresh it).

The writer reports which hours its readings touched; every ``rollup_interval_s`` one ingest copy
(whoever gets the advisory lock) recomputes them. A copy that does not get the lock keeps its hours
for the next round, so no touched hour is forgotten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import psycopg

from eldercare import logs
from eldercare.clock import Clock
from eldercare.db.pool import DATABASE_ERRORS
from eldercare.retry import sleep_until
from ingest import sql

_log = logs.get("ingest")


class Rollup:
    def __init__(self, database_url: str, *, connect_timeout_s: float) -> None:
        self._url = database_url
        self._connect_timeout = max(1, int(connect_timeout_s))
        self._pending: set[int] = set()  # UNIX hours (seconds // 3600)

    def touched(self, hours: Iterable[int]) -> None:
        self._pending.update(hours)

    async def needed(self) -> bool:
        """True on plain PostgreSQL, where activity_hourly is a table the services refresh."""
        async with await self._connect() as conn:
            row = await (await conn.execute(sql.SCHEMA_VARIANT)).fetchone()
        return row is not None and row[0] == "postgres"

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=self._connect_timeout, application_name="eldercare-ingest-rollup"
        )

    async def refresh(self) -> int:
        """Recompute the pending hours if this copy gets the lock; returns how many it refreshed."""
        hours = sorted(self._pending)
        if not hours:
            return 0
        async with await self._connect() as conn, conn.transaction():
            locked = await (await conn.execute(sql.TRY_ROLLUP_LOCK, (sql.ROLLUP_LOCK_KEY,))).fetchone()
            if not (locked and locked[0]):
                return 0
            for start, end in _runs(hours):
                await conn.execute(sql.REFRESH_ROLLUP, (_hour(start), _hour(end)))
        self._pending.difference_update(hours)
        return len(hours)

    async def run(
        self, clock: Clock, interval_s: float, stop: asyncio.Event, *, on_timescaledb: Callable[[], Awaitable[None]]
    ) -> None:
        """Refresh every ``interval_s`` until ``stop``; failures are logged and retried next round.

        On TimescaleDB there is nothing to refresh: it awaits ``on_timescaledb()`` instead."""
        if not await _retrying(self.needed, clock, interval_s, stop):
            if not stop.is_set():
                _log.info("ingest_rollup_skipped", reason="timescaledb continuous aggregate")
                await on_timescaledb()
            return
        while not stop.is_set():
            await sleep_until(stop, interval_s, clock=clock)
            try:
                refreshed = await self.refresh()
            except DATABASE_ERRORS as exc:
                _log.warning("ingest_rollup_failed", error=type(exc).__name__)
                continue
            if refreshed:
                _log.info("ingest_rollup_refreshed", hours=refreshed)


async def _retrying(check: Callable[[], Awaitable[bool]], clock: Clock, interval_s: float, stop: asyncio.Event) -> bool:
    while not stop.is_set():
        try:
            return await check()
        except DATABASE_ERRORS as exc:
            _log.warning("ingest_rollup_failed", error=type(exc).__name__)
            await sleep_until(stop, interval_s, clock=clock)
    return False


def _runs(hours: list[int]) -> list[tuple[int, int]]:
    """Sorted hours as half-open runs of consecutive hours: [3, 4, 7] -> [(3, 5), (7, 8)]."""
    runs: list[tuple[int, int]] = []
    for hour in hours:
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + 1)
        else:
            runs.append((hour, hour + 1))
    return runs


def _hour(unix_hour: int) -> datetime:
    return datetime.fromtimestamp(unix_hour * 3600, tz=UTC)
