"""Migrations: idempotent, checksummed, refused when an applied file was edited."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from eldercare.db.migrate import MIGRATIONS_DIR, discover, migrate
from eldercare.errors import MigrationError
from tests.support.databases import DatabaseFactory
from tests.support.processes import run_cli

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
def empty_db(databases: DatabaseFactory) -> str:
    return databases.empty()


def test_cli_migrate_twice_leaves_schema_unchanged(empty_db: str) -> None:
    first = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": empty_db})
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core.sql" in first.stdout
    assert "postgres" in first.stdout  # no TimescaleDB on these machines: the plain path
    before = schema_of(empty_db)
    second = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": empty_db})
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


def test_timescaledb_variant_declares_the_same_columns() -> None:
    """Both flavours must expose the same tables and columns; compare the CREATE TABLE bodies."""
    for migration in discover():
        if "any" in migration.files:
            continue
        plain = migration.files["postgres"].read_text()
        timescale = migration.files["timescaledb"].read_text()
        for table in ("readings", "events"):
            assert _table_body(plain, table) == _table_body(timescale, table)
        assert "create_hypertable('readings', by_range('ts'" in timescale
        assert "timescaledb.continuous" in timescale


def _table_body(text: str, table: str) -> list[str]:
    start = text.index(f"CREATE TABLE {table} (")
    body = text[start : text.index(");", start)]
    return [line.split("--")[0].strip() for line in body.splitlines() if line.split("--")[0].strip()]


def test_unreachable_database_is_a_clear_failure() -> None:
    result = run_cli(["db", "migrate"], {"ELDERCARE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"})
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
