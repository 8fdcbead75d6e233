"""The engine's connection pool.

Why not ``eldercare.db.pool.open_pool``: its ``configure`` runs ``SET`` on a non-autocommit
connection (which opens a transaction) and then calls ``set_autocommit``, which psycopg refuses
inside a transaction, so no connection ever becomes ready. Until the kernel is fixed the engine
opens its own pool with the same settings (the API does the same); switch back when it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from eldercare.config import Settings


@asynccontextmanager
async def open_alerts_pool(settings: Settings, *, name: str = "alerts") -> AsyncIterator[AsyncConnectionPool]:
    timeout_ms = int(settings.db.statement_timeout_s * 1000)

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout_ms),))
        await conn.commit()

    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=settings.db.pool_min_size,
        max_size=settings.db.pool_max_size,
        name=name,
        timeout=settings.db.connect_timeout_s,
        kwargs={"connect_timeout": max(1, int(settings.db.connect_timeout_s)), "application_name": f"eldercare-{name}"},
        configure=configure,
        open=False,
    )
    await pool.open(wait=False)
    try:
        yield pool
    finally:
        await pool.close(timeout=5)
