"""Ordered SQL migrations, applied by ``eldercare db migrate``.

Files are ``NNNN_name.sql``, or a pair ``NNNN_name.timescaledb.sql`` / ``NNNN_name.postgres.sql``
when TimescaleDB and plain PostgreSQL need different DDL for the same tables. Each applied file is
recorded with its SHA-256; running again applies only what is new, and an applied file that was
edited afterwards is refused, because the database no longer matches what the file says.
Concurrent runs are serialised by an advisory lock. A run applies all pending migrations in one
transaction: it brings the database up to date or leaves it as it was, never half-migrated.

The flavour is chosen at the first migration and recorded. ``auto`` uses TimescaleDB only when it
can be *loaded*: installed on the server and preloaded (``shared_preload_libraries``). An extension
that is installed but not preloaded closes the connection (FATAL) at ``CREATE EXTENSION``, so it is
checked before anything is applied; ``auto`` then says so and uses plain PostgreSQL, ``require``
refuses with the fix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg

from eldercare.db.policies import PolicyHealth, read_health
from eldercare.errors import MigrationError, PermanentError, TransientError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<variant>timescaledb|postgres))?\.sql$")
# An arbitrary constant: the key of the advisory lock that serialises concurrent migrate runs.
_LOCK_KEY = 0x6E6C6465726361  # "eldercare" folded into a bigint
Flavour = Literal["timescaledb", "postgres"]

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    variant     text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    files: dict[str, Path]  # variant ("any", "timescaledb", "postgres") -> file

    def file_for(self, flavour: Flavour) -> tuple[str, Path]:
        if "any" in self.files:
            return "any", self.files["any"]
        return flavour, self.files[flavour]


@dataclass
class MigrationReport:
    flavour: Flavour
    applied: list[str] = field(default_factory=list)
    already_applied: int = 0
    notes: list[str] = field(default_factory=list)  # what the operator should know (flavour choice, server notices)


@dataclass(frozen=True)
class TimescaleSupport:
    """What the server offers: the extension's files installed, and its loader preloaded."""

    available: bool
    preloaded: bool

    @property
    def loadable(self) -> bool:
        return self.available and self.preloaded


# The loader (the library in shared_preload_libraries) defines this setting in every backend; a
# placeholder set in postgresql.conf without the loader does not appear in pg_settings.
_SUPPORT = """
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.max_background_workers')
"""
PRELOAD_FIX = (
    "add shared_preload_libraries = 'timescaledb' to postgresql.conf (SHOW config_file tells where it is) and restart PostgreSQL"
)


def timescale_support(conn: psycopg.Connection) -> TimescaleSupport:
    row = conn.execute(_SUPPORT).fetchone()
    return TimescaleSupport(available=bool(row and row[0]), preloaded=bool(row and row[1]))


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in version order; refuses gaps in variants and malformed names."""
    found: dict[int, dict[str, Path]] = {}
    names: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match["version"])
        if names.setdefault(version, match["name"]) != match["name"]:
            raise MigrationError(f"two migrations share version {version:04d}")
        found.setdefault(version, {})[match["variant"] or "any"] = path
    migrations = [Migration(v, names[v], files) for v, files in sorted(found.items())]
    for migration in migrations:
        variants = set(migration.files)
        if variants != {"any"} and variants != {"timescaledb", "postgres"}:
            raise MigrationError(
                f"{migration.version:04d}_{migration.name}: needs both a .timescaledb.sql and a .postgres.sql file, or one .sql"
            )
    return migrations


def migrate(
    conninfo: str,
    *,
    timescaledb: Literal["auto", "require", "off"] = "auto",
    directory: Path = MIGRATIONS_DIR,
) -> MigrationReport:
    """Bring the database at ``conninfo`` up to date. Idempotent."""
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                return _migrate_locked(conn, timescaledb, directory)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.OperationalError as exc:
        raise TransientError(f"cannot reach the database: {exc}") from exc


def _migrate_locked(conn: psycopg.Connection, mode: Literal["auto", "require", "off"], directory: Path) -> MigrationReport:
    with conn.transaction():  # everything or nothing, the ledger included
        conn.execute(_CREATE_LEDGER)
        ledger = conn.execute("SELECT version, variant, checksum FROM schema_migrations").fetchall()
        applied = {row[0]: (row[1], row[2]) for row in ledger}
        migrations = discover(directory)
        report = MigrationReport(flavour="postgres", already_applied=len(applied))
        report.flavour = _flavour(conn, mode, applied, report.notes)
        _verify_applied(migrations, applied)
        _apply(conn, [m for m in migrations if m.version not in applied], report)
    return report


def _apply(conn: psycopg.Connection, pending: list[Migration], report: MigrationReport) -> None:
    warnings: list[tuple[int, str]] = []  # (how many files were started, message) of each server warning

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized == "WARNING":
            warnings.append((len(report.applied), diag.message_primary or ""))

    conn.add_notice_handler(on_notice)
    texts: list[str] = []
    for migration in pending:
        variant, path = migration.file_for(report.flavour)
        texts.append(path.read_text(encoding="utf-8"))
        report.applied.append(path.name)
        try:
            conn.execute(texts[-1])  # our own file, not user input
        except psycopg.Error as exc:
            raise MigrationError(f"{path.name} failed (nothing was applied): {exc}") from exc
        conn.execute(
            "INSERT INTO schema_migrations (version, name, variant, checksum) VALUES (%s, %s, %s, %s)",
            (migration.version, migration.name, variant, checksum(path)),
        )
    # A later migration that quotes a warning resolves it (a file cannot be edited once applied).
    report.notes.extend(
        f"{report.applied[started - 1]}: WARNING: {message}"
        for started, message in warnings
        if not any(message in text for text in texts[started:])
    )


def _flavour(
    conn: psycopg.Connection, mode: Literal["auto", "require", "off"], applied: dict[int, tuple[str, str]], notes: list[str]
) -> Flavour:
    support = timescale_support(conn)
    # A database keeps the flavour it was created with, whatever the server offers later.
    recorded = {variant for variant, _ in applied.values() if variant in ("timescaledb", "postgres")}
    if "timescaledb" in recorded:
        if not support.loadable:
            raise PermanentError(f"this database uses TimescaleDB, but the server does not load it: {_missing(support)}")
        return "timescaledb"
    if "postgres" in recorded:
        if mode == "require":
            raise PermanentError(
                "ELDERCARE_DB__TIMESCALEDB=require, but this database was created on plain PostgreSQL and keeps that "
                "flavour; migrate a new, empty database to use TimescaleDB"
            )
        return "postgres"
    if mode == "off":
        return "postgres"
    if support.loadable:
        return "timescaledb"
    if mode == "require":
        raise PermanentError(f"ELDERCARE_DB__TIMESCALEDB=require, but {_missing(support)}")
    if support.available:
        notes.append(
            "TimescaleDB is installed on the server but not preloaded, so this database is created on plain "
            f"PostgreSQL and keeps that flavour; to use TimescaleDB instead, {PRELOAD_FIX}, then migrate a new database"
        )
    return "postgres"


def _missing(support: TimescaleSupport) -> str:
    if not support.available:
        return "the server has no timescaledb extension: install TimescaleDB 2.x for this PostgreSQL version"
    return f"the timescaledb extension is installed but not preloaded: {PRELOAD_FIX}"


def _verify_applied(migrations: list[Migration], applied: dict[int, tuple[str, str]]) -> None:
    by_version = {m.version: m for m in migrations}
    for version, (variant, recorded) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(f"migration {version:04d} is applied in the database but its file is missing")
        path = migration.files.get(variant)
        if path is None:
            raise MigrationError(f"migration {version:04d} was applied as {variant!r}, which has no file now")
        if checksum(path) != recorded:
            raise MigrationError(
                f"{path.name} was edited after it was applied (recorded sha256 {recorded[:12]}, file now "
                f"{checksum(path)[:12]}); restore the original and put the change in a new migration"
            )


@dataclass(frozen=True)
class SchemaStatus:
    flavour: str | None  # None before the time-series migration is applied
    migrations: list[tuple[str, str]]  # (migration, "applied (variant)" or "pending")
    policies: list[PolicyHealth] | None  # TimescaleDB's policies; None when not applicable or not migrated yet


def status(conninfo: str) -> SchemaStatus:
    """Every known migration and whether it is applied, and on TimescaleDB each policy's health."""
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        exists = conn.execute(
            "SELECT to_regclass('schema_migrations') IS NOT NULL, to_regclass('policy_runs') IS NOT NULL"
        ).fetchone()
        rows = conn.execute("SELECT version, variant FROM schema_migrations").fetchall() if exists and exists[0] else []
        applied: dict[int, str] = {int(version): str(variant) for version, variant in rows}
        flavour = applied.get(2)
        policies = read_health(conn) if flavour == "timescaledb" and exists and exists[1] else None
    migrations = [
        (f"{m.version:04d}_{m.name}", f"applied ({applied[m.version]})" if m.version in applied else "pending")
        for m in discover()
    ]
    return SchemaStatus(flavour, migrations, policies)
