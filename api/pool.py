"""The API's connection pool.

Why not ``eldercare.db.pool.open_pool``: its ``configure`` runs ``SET`` (which opens a transaction on
a non-autocommit connection) and then calls ``set_autocommit``, which psycopg refuses inside a
transaction, so every connection fails to configure. Until the kernel is fixed the API opens its own
pool with the same settings; switch back when it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool

from eldercare.config import Settings


@asynccontextmanager
async def open_api_pool(settings: Settings) -> AsyncIterator[AsyncConnectionPool]:
    timeout_ms = int(settings.db.statement_timeout_s * 1000)

    async def configure(conn: psycopg.AsyncConnection) -> None:
        await conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout_ms),))
        await conn.commit()
        # Unnamed statements every time: the planner sees the actual values and prunes the
        # optional-filter branches (`%(x)s IS NULL OR ...`) instead of caching a generic plan.
        conn.prepare_threshold = None

    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=settings.db.pool_min_size,
        max_size=settings.db.pool_max_size,
        name="api",
        timeout=settings.db.connect_timeout_s,
        kwargs={"connect_timeout": max(1, int(settings.db.connect_timeout_s)), "application_name": "eldercare-api"},
        configure=configure,
        open=False,
    )
    await pool.open(wait=False)
    try:
        yield pool
    finally:
        await pool.close(timeout=5)
