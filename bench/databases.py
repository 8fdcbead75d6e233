"""A fresh, migrated database of either flavour for one benchmark run, dropped afterwards.

The flavour is the test harness's (``EC_TEST_DB_FLAVOUR``, default ``postgres``; its server from
``EC_TEST_PG_ADMIN_URL`` or 127.0.0.1:5432 / :5433), or the one a benchmark asks for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tests.support.databases import RunLease, migrate_as, url_for
from tests.support.services import ADMIN_URLS, DB_FLAVOUR, PG_ADMIN_URL, Flavour


def admin_url_for(flavour: Flavour) -> str:
    """The server of ``flavour``: EC_TEST_PG_ADMIN_URL when it is the harness's flavour, else the default."""
    return PG_ADMIN_URL if flavour == DB_FLAVOUR and "EC_TEST_PG_ADMIN_URL" in os.environ else ADMIN_URLS[flavour]


@contextmanager
def fresh_database(prefix: str, *, flavour: Flavour = DB_FLAVOUR, keep: bool = False) -> Iterator[str]:
    """Yield the URL of a new database named ``ecrun_<run id>_{prefix}``, migrated as ``flavour``.

    The run holds a lease while it lives (tests/support/databases.py): a killed benchmark's database
    is dropped by the next test run instead of holding a TimescaleDB worker slot for good."""
    admin_url = admin_url_for(flavour)
    lease = RunLease(admin_url)
    name = lease.database_name(prefix)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_for(admin_url, name)
    try:
        migrate_as(url, flavour)
        yield url
    finally:
        if keep:
            print(f"kept {url} (the next test run drops it: rename it to keep it longer)")
        else:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        lease.release()
