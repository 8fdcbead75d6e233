"""Backups that restore: ``pg_dump`` / ``pg_restore`` of either flavour, checked against a manifest.

A backup is a folder: ``pg_dump``'s directory format (compressed, one file per table, dumped and
restored in parallel with ``--jobs``) plus ``eldercare-backup.json``, written last, which says what
was backed up: when, the flavour, the PostgreSQL and TimescaleDB versions, the applied migrations,
every table's row count and, on TimescaleDB, the hypertables and policies. The row counts are taken
in the very snapshot ``pg_dump`` dumps (``pg_export_snapshot``), so they are exact on a live system.
A folder without the manifest is an unfinished backup and is refused.

Restoring goes into a new or empty database (created when missing) and then checks the result
against the manifest: the same row counts, hypertables and policies, or it fails. On TimescaleDB
it follows the extension's procedure: the same extension version as the backup (pg_dump does not
record it; the manifest does), ``timescaledb_pre_restore()`` before ``pg_restore`` (stops the
background jobs, marks the database as restoring), ``timescaledb_post_restore()`` after it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from eldercare.db.migrate import PRELOAD_FIX, timescale_support
from eldercare.errors import EldercareError, PermanentError

MANIFEST = "eldercare-backup.json"
FORMAT = 1

# pg_dump says this of TimescaleDB's catalog tables on every dump (with detail and hint lines); it is
# expected and harmless: the dump is a full one, and timescaledb_pre_restore() prepares for it.
_EXPECTED_DUMP_WARNING = "there are circular foreign-key constraints"


def _unexpected(stderr: str) -> list[str]:
    """pg_dump's messages without the expected warnings (each with its detail and hint lines)."""
    kept, expected = [], False
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if ": detail: " not in line and ": hint: " not in line:
            expected = _EXPECTED_DUMP_WARNING in line
        if not expected:
            kept.append(line)
    return kept


@dataclass
class BackupReport:
    path: Path
    manifest: dict[str, object]
    seconds: float
    bytes: int


@dataclass
class RestoreReport:
    database: str
    manifest: dict[str, object]
    seconds: float
    checked: list[str] = field(default_factory=list)


def pg_tool(name: str, bin_dir: str | None = None) -> str:
    """``pg_dump`` / ``pg_restore``: from ``bin_dir``, else PATH, else Debian's newest installed."""
    if bin_dir:
        candidate = Path(bin_dir) / name
        if not os.access(candidate, os.X_OK):
            raise PermanentError(f"{candidate} is not an executable {name}")
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if installed:
        return str(installed[-1])
    raise PermanentError(f"{name} not found: install the client programs of the server's PostgreSQL version, or use --pg-bin")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump/pg_restore's ``--dbname`` without its password, which goes in PGPASSWORD
    (never in the process list)."""
    parts = urlsplit(url)
    env = {**os.environ, "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "10")}
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}@{netloc[1]}")
    return urlunsplit(parts), env


def _run(tool: str, arguments: list[str], url: str) -> str:
    """Run pg_dump/pg_restore against ``url``; returns what it printed on stderr."""
    dbname, env = _libpq(url)
    command = [tool, *arguments, "--dbname", dbname]
    # An argument list (no shell), the tool found by path: nothing in it is interpreted.
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    what = Path(tool).name
    if result.returncode != 0:
        raise EldercareError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stderr


# -- what a database holds --------------------------------------------------------------------


def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    counts = {}
    for table in _tables(conn):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def _timescaledb_version(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return None if row is None else str(row[0])


def _hypertables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public' ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def _policies(conn: psycopg.Connection) -> list[list[object]]:
    """Each policy on a relation: procedure, relation, interval, config (without internal ids)."""
    rows = conn.execute(
        "SELECT proc_name, hypertable_name, schedule_interval::text, config - 'hypertable_id' - 'mat_hypertable_id', scheduled"
        "  FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL ORDER BY 1, 2"
    ).fetchall()
    return [list(row) for row in rows]


def _describe(conn: psycopg.Connection) -> dict[str, object]:
    version = _timescaledb_version(conn)
    described: dict[str, object] = {
        "flavour": "postgres" if version is None else "timescaledb",
        "server_version": conn.execute("SHOW server_version").fetchone()[0],  # type: ignore[index]
        "timescaledb": version,
        "migrations": [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()],
        "rows": _counts(conn),
    }
    if version is not None:
        described["hypertables"] = _hypertables(conn)
        described["policies"] = _policies(conn)
    return described


# -- backup -------------------------------------------------------------------------------------


def backup(url: str, target: Path, *, jobs: int = 1, pg_bin: str | None = None) -> BackupReport:
    """Dump ``url`` into the new folder ``target`` (refused when it exists) with its manifest."""
    if target.exists():
        raise PermanentError(f"{target} exists: a backup goes into a new folder")
    if not target.parent.is_dir():
        raise PermanentError(f"{target.parent} is not a folder")
    pg_dump = pg_tool("pg_dump", pg_bin)
    started = time.monotonic()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            # One snapshot for the counts and the dump: exact even while ingest writes.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
            manifest = {"format": FORMAT, "taken_at": datetime.now(UTC).isoformat(timespec="seconds"), **_describe(conn)}
            stderr = _run(pg_dump, ["--format=directory", f"--jobs={jobs}", f"--snapshot={snapshot}", f"--file={partial}"], url)
    except psycopg.Error as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise EldercareError(f"cannot back up the database: {exc}") from exc
    except EldercareError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    unexpected = _unexpected(stderr)
    if unexpected:
        manifest["pg_dump_said"] = unexpected
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    partial.rename(target)
    size = sum(path.stat().st_size for path in target.iterdir())
    return BackupReport(target, manifest, time.monotonic() - started, size)


def read_manifest(source: Path) -> dict[str, object]:
    path = source / MANIFEST
    if not source.is_dir():
        raise PermanentError(f"{source} is not a backup folder (made by `eldercare db backup`)")
    if not path.is_file():
        raise PermanentError(f"{source} has no {MANIFEST}: not a finished backup (an interrupted one, or not ours)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PermanentError(f"{path}: unknown backup format {manifest.get('format') if isinstance(manifest, dict) else '?'}")
    return manifest


# -- restore ------------------------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _database_of(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise PermanentError("the database URL names no database to restore into")
    return name


def _open_target(url: str) -> psycopg.Connection:
    """A connection to the restore target, creating the database when it does not exist."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise EldercareError(f"cannot reach the database: {exc}") from exc
    name = _database_of(url)
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def _prepare_timescaledb(conn: psycopg.Connection, wanted: str) -> None:
    support = timescale_support(conn)
    if not support.available:
        raise PermanentError(f"the backup is of a TimescaleDB database ({wanted}) and this server has no TimescaleDB")
    if not support.preloaded:
        raise PermanentError(f"the backup is of a TimescaleDB database and this server does not preload it: {PRELOAD_FIX}")
    offered = [
        row[0]
        for row in conn.execute("SELECT version FROM pg_available_extension_versions WHERE name = 'timescaledb' ORDER BY 1")
    ]
    if wanted not in offered:
        raise PermanentError(
            f"the backup was taken with TimescaleDB {wanted}; this server offers {', '.join(offered) or 'none'}. Restore onto a"
            f" server with {wanted} installed (then ALTER EXTENSION timescaledb UPDATE to move to a newer one)"
        )
    conn.execute(sql.SQL("CREATE EXTENSION timescaledb VERSION {}").format(sql.Literal(wanted)))
    conn.execute("SELECT timescaledb_pre_restore()")


def restore(url: str, source: Path, *, jobs: int = 1, pg_bin: str | None = None) -> RestoreReport:
    """Restore the backup folder ``source`` into ``url``'s database (new or empty), then check it."""
    manifest = read_manifest(source)
    pg_restore = pg_tool("pg_restore", pg_bin)
    started = time.monotonic()
    database = _database_of(url)
    try:
        with _open_target(url) as conn:
            if _tables(conn) or _timescaledb_version(conn) is not None:
                raise PermanentError(f"database {database} is not empty: restore into a new one (created when missing)")
            if manifest["flavour"] == "timescaledb":
                _prepare_timescaledb(conn, str(manifest["timescaledb"]))
            try:
                # --no-owner/--no-privileges: the restoring role owns everything, as the platform's one role does.
                options = ["--format=directory", f"--jobs={jobs}", "--no-owner", "--no-privileges", "--exit-on-error"]
                _run(pg_restore, [*options, str(source)], url)
            finally:
                if manifest["flavour"] == "timescaledb":
                    conn.execute("SELECT timescaledb_post_restore()")
            conn.execute("ANALYZE")  # pg_restore leaves the planner without statistics
            checked = _check(conn, manifest)
    except psycopg.Error as exc:
        raise EldercareError(f"cannot restore into {database}: {exc}") from exc
    return RestoreReport(database, manifest, time.monotonic() - started, checked)


def _check(conn: psycopg.Connection, manifest: dict[str, object]) -> list[str]:
    """The restored database against the manifest; raises listing every difference."""
    restored = _describe(conn)
    problems = []
    for key in ("migrations", "rows", "hypertables", "policies"):
        if key in manifest and restored.get(key) != manifest[key]:
            problems.append(f"{key}: backup {manifest[key]}, restored {restored.get(key)}")
    if problems:
        raise EldercareError("the restored database differs from the backup: " + "; ".join(problems))
    rows = restored["rows"]
    assert isinstance(rows, dict)
    checked = [f"{len(rows)} tables, {sum(rows.values()):,} rows, counts as in the backup"]
    if "hypertables" in manifest:
        checked.append(f"hypertables {', '.join(restored['hypertables'])}")  # type: ignore[arg-type]
        checked.append(f"{len(restored['policies'])} policies as in the backup")  # type: ignore[arg-type]
    return checked
