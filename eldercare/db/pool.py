"""Connection pools with timeouts everywhere, and the one place psycopg errors are translated.

Callers branch on our kinds (:mod:`eldercare.errors`): TransientError (the database is away,
overloaded or in a conflict: retry), :class:`DatabaseRefusedError` (a value the database refuses
whatever the retries: isolate what carries it), PermanentError (anything else).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool

from eldercare.config import Settings
from eldercare.errors import PermanentError, TransientError


def _conninfo(settings: Settings) -> str:
    return settings.database_url


@asynccontextmanager
async def open_pool(settings: Settings, *, name: str, max_size: int | None = None) -> AsyncIterator[AsyncConnectionPool]:
    """An open pool for ``settings.database_url``; every session gets a statement timeout."""
    # The statement timeout travels in the startup packet, so every pooled connection has it
    # before its first query and nothing has to run (or commit) in a configure callback.
    timeout_ms = int(settings.db.statement_timeout_s * 1000)
    pool = AsyncConnectionPool(
        _conninfo(settings),
        min_size=settings.db.pool_min_size,
        max_size=max_size or settings.db.pool_max_size,
        name=name,
        timeout=settings.db.connect_timeout_s,
        kwargs={
            "connect_timeout": max(1, int(settings.db.connect_timeout_s)),
            "application_name": f"eldercare-{name}",
            "options": f"-c statement_timeout={timeout_ms}",
        },
        open=False,
    )
    await pool.open(wait=False)
    try:
        yield pool
    finally:
        await pool.close(timeout=5)


class DatabaseRefusedError(PermanentError):
    """The database refuses a value whatever the retries (``args[0]``: the error class): a value the
    contract allows but the schema does not, such as a number beyond int4."""


def translate(exc: BaseException) -> Exception:
    """Map a psycopg error (or the OSError of a socket under it) to our hierarchy: connection trouble,
    overload and conflicts are transient, refused values and the rest permanent."""
    if isinstance(exc, (psycopg.OperationalError, psycopg.errors.AdminShutdown, OSError)):
        if isinstance(exc, psycopg.errors.QueryCanceled):  # an OperationalError: our statement timeout
            return TransientError("statement timeout: the database is overloaded")
        return TransientError(f"database unavailable: {type(exc).__name__}")
    if isinstance(exc, psycopg.errors.DataError | psycopg.errors.IntegrityError):
        return DatabaseRefusedError(type(exc).__name__)
    if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        return TransientError(f"database conflict: {type(exc).__name__}")
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - psycopg_pool is a server dependency
        PoolTimeout = ()  # type: ignore[assignment,misc]  # noqa: N806
    if isinstance(exc, PoolTimeout):
        return TransientError("no database connection available in time")
    return PermanentError(f"database error: {type(exc).__name__}: {exc}")
