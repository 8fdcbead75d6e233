"""Migrations: idempotent, checksummed, refused when an applied file was edited."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from eldercare.db.migrate import MIGRATIONS_DIR, discover, migrate
from eldercare.errors import MigrationError
from tests.support.databases import DatabaseFactory
from tests.support.processes import run_cli
from tests.support.services import Flavour

MODE_FOR: dict[Flavour, str] = {"postgres": "off", "timescaledb": "require"}

SCHEMA_QUERY = """
SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
  FROM information_schema.columns WHERE table_schema = 'public'
 UNION ALL
SELECT tablename, indexname, indexdef, '', '' FROM pg_indexes WHERE schemaname = 'public'
 ORDER BY 1, 2
"""

EXPECTED_TABLES = {
    "care_centres", "homes", "residents", "devices", "readings", "events", "alerts", "alert_history",
    "notification_outbox", "notification_attempts", "notification_channels", "users", "family_links",
    "dead_letters", "absences", "home_state", "activity_hourly", "schema_migrations",
}  # fmt: skip


def schema_of(url: str) -> list[tuple[str, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(row) for row in conn.execute(SCHEMA_QUERY).fetchall()]


@pytest.fixture
def empty_db(databases: DatabaseFactory) -> Iterator[str]:
    # Dropped after the test, not at the end of the run: on TimescaleDB, once migrated, its scheduler
    # holds one of the server's background-worker slots for as long as it exists.
    url = databases.empty()
    yield url
    databases.drop(url)


@pytest.mark.slow  # runs the CLI
def test_cli_migrate_twice_leaves_schema_unchanged(empty_db: str, db_flavour: Flavour) -> None:
    env = {"ELDERCARE_DATABASE_URL": empty_db, "ELDERCARE_DB__TIMESCALEDB": MODE_FOR[db_flavour]}
    first = run_cli(["db", "migrate"], env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core.sql" in first.stdout
    assert f"schema up to date ({db_flavour};" in first.stdout
    assert first.stderr == ""  # no warning from the server either (0040 resolves 0002's segmenting warning)
    before = schema_of(empty_db)
    second = run_cli(["db", "migrate"], env)
    assert second.returncode == 0, second.stderr
    assert "0 applied" in second.stdout
    assert schema_of(empty_db) == before
    assert {row[0] for row in before} >= EXPECTED_TABLES


def test_edited_applied_migration_is_refused(empty_db: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    migrate(empty_db, directory=directory)
    core = directory / "0001_core.sql"
    core.write_text(core.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match=r"0001_core\.sql was edited after it was applied"):
        migrate(empty_db, directory=directory)


@pytest.mark.slow  # runs the CLI
def test_cli_reports_edited_migration_clearly(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    result = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": db_url})
    assert result.returncode == 2
    assert "was edited after it was applied" in result.stderr


def test_new_migration_is_applied_on_top(empty_db: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    migrate(empty_db, directory=directory)
    (directory / "9999_extra.sql").write_text("CREATE TABLE extra_thing (id int);")
    report = migrate(empty_db, directory=directory)
    assert report.applied == ["9999_extra.sql"]


def test_every_migration_has_both_variants_or_none() -> None:
    for migration in discover():
        assert set(migration.files) in ({"any"}, {"timescaledb", "postgres"})


# The time-series tables as every query in the services sees them: identical on both flavours (each
# flavour's test pass checks its own database against this one list).
TIME_SERIES_COLUMNS = [
    ("activity_hourly", "home_id", "text"), ("activity_hourly", "bucket", "timestamp with time zone"),
    ("activity_hourly", "room", "text"), ("activity_hourly", "motion_events", "bigint"),
    ("activity_hourly", "door_events", "bigint"), ("activity_hourly", "bed_events", "bigint"),
    ("activity_hourly", "power_events", "bigint"), ("activity_hourly", "readings", "bigint"),
    ("events", "home_id", "text"), ("events", "device_id", "text"), ("events", "seq", "bigint"),
    ("events", "ts", "timestamp with time zone"), ("events", "type", "text"), ("events", "room", "text"),
    ("events", "data", "jsonb"), ("events", "received_at", "timestamp with time zone"),
    ("readings", "home_id", "text"), ("readings", "device_id", "text"), ("readings", "seq", "bigint"),
    ("readings", "ts", "timestamp with time zone"), ("readings", "metric", "text"), ("readings", "value", "double precision"),
    ("readings", "room", "text"), ("readings", "received_at", "timestamp with time zone"),
]  # fmt: skip


def test_both_flavours_expose_the_same_time_series_columns(db_url: str, db_flavour: Flavour) -> None:
    with psycopg.connect(db_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name IN ('readings', 'events', 'activity_hourly') ORDER BY table_name, ordinal_position"
        ).fetchall()
        unique = conn.execute(
            "SELECT tablename FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%%UNIQUE%%(device_id, seq, ts)'"
            " ORDER BY 1"
        ).fetchall()
        (variant,) = conn.execute("SELECT variant FROM schema_migrations WHERE version = 2").fetchone()  # type: ignore[misc]
    assert columns == TIME_SERIES_COLUMNS
    assert unique == [("events",), ("readings",)]  # the deduplication key of ingest's ON CONFLICT
    assert variant == db_flavour


@pytest.mark.slow  # runs the CLI
def test_cli_status_lists_migrations_and_the_flavours_policies(db_url: str, db_flavour: Flavour) -> None:
    result = run_cli(["db", "status"], {"ELDERCARE_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "0001_core\tapplied (any)" in lines
    assert f"0002_timeseries\tapplied ({db_flavour})" in lines
    if db_flavour == "postgres":
        assert lines[-1].startswith("policies: none on plain PostgreSQL")
    else:  # the table itself: tests/db/test_policies.py
        assert "policy\tjob\tinterval\tstate\tlast run\tlast success\tlast error" in lines


@pytest.mark.slow  # runs the CLI
def test_unreachable_database_is_a_clear_failure() -> None:
    result = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"})
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
