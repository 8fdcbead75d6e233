"""Which flavour `eldercare db migrate` chooses, on servers that offer TimescaleDB in every way.

The dangerous one is a server where the extension is *installed but not preloaded* (what a fresh
package install gives before ``shared_preload_libraries`` is set): ``CREATE EXTENSION`` there closes
the connection (FATAL), so ``auto`` must not choose TimescaleDB, and nothing may be half-applied.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from demo.infra import private_postgres
from tests.support.processes import run_cli
from tests.support.services import START_POSTGRES

# The private PostgreSQL 15 copy that build.sh installs TimescaleDB into (its cluster on 5433 preloads it).
TSDB_BIN = Path(os.environ.get("EC_TEST_TSDB_BIN", "/opt/tsdb-pg/lib/postgresql/15/bin"))


@pytest.fixture
async def unpreloaded_server() -> AsyncIterator[str]:
    """The admin URL of a private cluster whose binaries have TimescaleDB, started without preloading it."""
    if not (TSDB_BIN / "initdb").exists() or not list(TSDB_BIN.parent.glob("lib/timescaledb-*.so")):
        pytest.fail(f"no TimescaleDB build in {TSDB_BIN.parent}. Build it with: {START_POSTGRES['timescaledb']}", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="eldercare-unpreloaded-"))  # not tmp_path: the server runs as postgres
    server = await private_postgres(TSDB_BIN, workdir)
    try:
        yield server.url.rsplit("/", 1)[0] + "/postgres"
    finally:
        await server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _new_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        available = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    assert available == (1,)  # the premise: installed, and (see private_postgres) not preloaded
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]


@pytest.mark.flavour("timescaledb")
async def test_installed_but_not_preloaded(unpreloaded_server: str) -> None:
    # auto: says so, and migrates the whole schema as plain PostgreSQL.
    auto_db = _new_database(unpreloaded_server, "auto_db")
    auto = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": auto_db, "ELDERCARE_DB__TIMESCALEDB": "auto"})
    assert auto.returncode == 0, auto.stderr
    assert "schema up to date (postgres;" in auto.stdout
    assert "TimescaleDB is installed on the server but not preloaded" in auto.stderr
    assert "shared_preload_libraries = 'timescaledb'" in auto.stderr
    assert {"readings", "events", "activity_hourly", "schema_migrations"} <= set(_tables(auto_db))

    # require: exit 2 with the fix, and the database exactly as it was (not even the ledger).
    required_db = _new_database(unpreloaded_server, "required_db")
    required = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": required_db, "ELDERCARE_DB__TIMESCALEDB": "require"})
    assert required.returncode == 2
    assert "installed but not preloaded: add shared_preload_libraries = 'timescaledb' to postgresql.conf" in required.stderr
    assert "Traceback" not in required.stderr
    assert _tables(required_db) == []


@pytest.mark.slow  # runs the CLI
@pytest.mark.flavour("postgres")
def test_require_on_a_plain_database_is_refused(db_url: str) -> None:
    result = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": db_url, "ELDERCARE_DB__TIMESCALEDB": "require"})
    assert result.returncode == 2
    assert "created on plain PostgreSQL and keeps that flavour" in result.stderr
