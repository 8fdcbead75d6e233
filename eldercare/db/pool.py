"""Connection pools with timeouts everywhere, and the one place psycopg errors are translated.

Callers branch on our kinds (:mod:`eldercare.errors`): TransientError (the database is away,
overloaded or in a conflict: retry), :class:`DatabaseRefusedError` (a value the database refuses
whatever the retries: isolate what carries it), PermanentError (anything else).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from eldercare.config import Settings
from eldercare.errors import EldercareError, PermanentError, TransientError


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


# For ``except`` clauses of callers that hold a connection: it is gone (server shut down, network,
# our statement timeout); the work is retried on a new one after backing off.
CONNECTION_LOST: tuple[type[Exception], ...] = (psycopg.OperationalError,)
# That, no connection from the pool in time, or a TransientError of ours: the database is away.
DATABASE_AWAY: tuple[type[Exception], ...] = (psycopg.OperationalError, PoolTimeout, TransientError)
# Any error of the database layer (the socket's OSError under psycopg included).
DATABASE_ERRORS: tuple[type[Exception], ...] = (psycopg.Error, PoolTimeout, OSError)


def database_away(exc: BaseException) -> bool:
    return isinstance(exc, DATABASE_AWAY)


def first_database_away(failed: BaseExceptionGroup) -> BaseException:
    """The exception a failed task group raises on: a database-away error if a task met one, else the first."""
    away = failed.subgroup(CONNECTION_LOST)
    first = (away or failed).exceptions[0]
    return first_database_away(first) if isinstance(first, BaseExceptionGroup) else first


def safe_detail(exc: BaseException) -> str | None:
    """What may be logged about an error: our own messages and connection trouble, never a database
    message that could quote a row's values (health data): of those, the SQLSTATE only."""
    if isinstance(exc, EldercareError | psycopg.OperationalError):
        return str(exc)[:300]
    if isinstance(exc, psycopg.Error):
        return exc.sqlstate
    return None


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
    if isinstance(exc, PoolTimeout):
        return TransientError("no database connection available in time")
    return PermanentError(f"database error: {type(exc).__name__}: {exc}")
