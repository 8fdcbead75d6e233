"""A stable number for each running copy of a service, claimed in PostgreSQL.

Compose scales a service into identical containers (same environment) whose host names change each
time a container is re-created, so neither can tell copies apart stably. Each copy instead claims
the lowest free slot, 0, 1, 2 ..., as a session advisory lock held on a connection of its own for as
long as it runs. A copy that stops or dies releases its slot with its connection (the session sets
TCP keepalives so the server notices a vanished host within about half a minute); the copy that
replaces it claims the same number, so its MQTT client id is the same and the broker resumes the
persistent session, with the messages queued for it, instead of orphaning it until it expires.

A database restart drops every lock. :meth:`Slot.keep` notices, takes the slot back, and raises
PermanentError if another copy took it in the meantime: two copies sharing a client id would take
the broker session from each other forever, so this copy stops and its restart claims a free slot.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from eldercare import logs
from eldercare.db.pool import translate
from eldercare.errors import PermanentError, TransientError
from eldercare.retry import sleep_until

_log = logs.get("slots")
MAX_SLOTS = 64
# Server-side keepalives for the lock's session: a copy whose host vanished (no FIN) frees its slot
# after about idle + interval x count seconds instead of the kernel's two hours.
_KEEPALIVES = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
_TRY_LOCK = "SELECT pg_try_advisory_lock(%s, %s)"


def _namespace(scope: str) -> int:
    """The first advisory-lock key for ``scope`` (a signed 32-bit int); the slot is the second."""
    value = zlib.crc32(f"eldercare-slot:{scope}".encode())
    return value - 2**32 if value >= 2**31 else value


class Slot:
    """Slot ``number`` of ``scope``, held while the lock's connection lives."""

    def __init__(
        self, database_url: str, scope: str, number: int, conn: psycopg.AsyncConnection, *, connect_timeout_s: float
    ) -> None:
        self._url = database_url
        self.scope = scope
        self.number = number
        self._conn = conn
        self._connect_timeout_s = connect_timeout_s

    async def keep(self, stop: asyncio.Event, *, check_interval_s: float) -> None:
        """Until ``stop``: check the lock's connection; after losing it, take the same slot back.

        PermanentError when another copy holds the slot by then.
        """
        while not await sleep_until(stop, check_interval_s):
            if await self._alive():
                continue
            _log.warning("slot_connection_lost", scope=self.scope, slot=self.number)
            try:
                conn = await _lock(self._url, self.scope, self.number, self._connect_timeout_s)
            except TransientError:
                continue  # the database is still away; try again at the next check
            if conn is None:
                raise PermanentError(
                    f"slot {self.number} of {self.scope} was claimed by another copy while the database was away; "
                    "stopping so that a restart claims a free slot (two copies must never share an MQTT client id)"
                )
            self._conn = conn
            _log.info("slot_reclaimed", scope=self.scope, slot=self.number)

    async def _alive(self) -> bool:
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await self._conn.execute("SELECT 1")
        except (psycopg.Error, TimeoutError):
            await self._conn.close()
            return False
        return True

    async def close(self) -> None:
        await self._conn.close()  # ends the session: the lock goes with it


async def _connect(database_url: str, connect_timeout_s: float) -> psycopg.AsyncConnection:
    try:
        return await psycopg.AsyncConnection.connect(
            database_url,
            autocommit=True,
            connect_timeout=max(1, int(connect_timeout_s)),
            application_name="eldercare-slot",
            options=_KEEPALIVES,
        )
    except psycopg.Error as exc:
        raise translate(exc) from exc


async def _lock(database_url: str, scope: str, number: int, connect_timeout_s: float) -> psycopg.AsyncConnection | None:
    """A connection holding slot ``number``, or None when another session holds it."""
    conn = await _connect(database_url, connect_timeout_s)
    try:
        cur = await conn.execute(_TRY_LOCK, (_namespace(scope), number))
        row = await cur.fetchone()
    except psycopg.Error as exc:
        await conn.close()
        raise translate(exc) from exc
    if row and row[0]:
        return conn
    await conn.close()
    return None


@asynccontextmanager
async def claim_slot(database_url: str, scope: str, *, connect_timeout_s: float) -> AsyncIterator[Slot]:
    """Hold the lowest free slot of ``scope`` for the duration of the block.

    TransientError when the database cannot be reached; PermanentError when all MAX_SLOTS are taken.
    """
    conn = await _connect(database_url, connect_timeout_s)
    number = None
    try:
        for candidate in range(MAX_SLOTS):
            cur = await conn.execute(_TRY_LOCK, (_namespace(scope), candidate))
            row = await cur.fetchone()
            if row and row[0]:
                number = candidate
                break
    except psycopg.Error as exc:
        await conn.close()
        raise translate(exc) from exc
    if number is None:
        await conn.close()
        raise PermanentError(f"all {MAX_SLOTS} slots of {scope} are taken: that many copies already run")
    slot = Slot(database_url, scope, number, conn, connect_timeout_s=connect_timeout_s)
    _log.info("slot_claimed", scope=scope, slot=number)
    try:
        yield slot
    finally:
        await slot.close()
