"""The kernel's connection pool: connections carry the statement timeout from the settings; psycopg's
errors (from a real server) become ours in one place."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from eldercare.config import Settings
from eldercare.db.pool import DatabaseRefusedError, open_pool, translate
from eldercare.errors import PermanentError, TransientError


async def test_pool_connections_have_the_statement_timeout(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(db={"statement_timeout_s": 2.5, "pool_min_size": 0, "pool_max_size": 2})
    async with open_pool(settings, name="test") as pool, pool.connection() as conn:
        cursor = await conn.execute("SHOW statement_timeout")
        row = await cursor.fetchone()
        assert row == ("2500ms",)
        cursor = await conn.execute("SELECT current_setting('application_name')")
        assert await cursor.fetchone() == ("eldercare-test",)


@pytest.mark.parametrize(
    ("statement", "kind", "message"),
    [
        ("SELECT pg_sleep(5)", TransientError, "statement timeout"),  # QueryCanceled
        ("SELECT 2147483648::int4", DatabaseRefusedError, "NumericValueOutOfRange"),  # a DataError
        ("CREATE TEMP TABLE t (x int NOT NULL); INSERT INTO t VALUES (NULL)", DatabaseRefusedError, "NotNullViolation"),
        ("SELECT * FROM no_such_table", PermanentError, "UndefinedTable"),
    ],
)
def test_psycopg_errors_are_translated_once_into_our_kinds(
    db_url: str, statement: str, kind: type[Exception], message: str
) -> None:
    with psycopg.connect(db_url, options="-c statement_timeout=100") as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute(statement)
    translated = translate(raised.value)
    assert type(translated) is kind
    assert message in str(translated)


def test_an_unreachable_database_is_transient() -> None:
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)
    assert isinstance(translate(raised.value), TransientError)
    assert isinstance(translate(ConnectionResetError()), TransientError)
