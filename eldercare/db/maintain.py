"""Retention and roll-up upkeep, for ``eldercare db maintain`` (run it from cron every 15 minutes).

On TimescaleDB the extension's policies do the work. Here we make the retention policies match the
settings, changing them in place (``alter_job``, so a policy keeps its id and its history) and
only when they differ; then we run in the foreground every policy whose newest run failed or that
has not succeeded within twice its interval (see :mod:`eldercare.db.policies`), so a server whose
background scheduler is broken still keeps retention, compression and roll-ups right.

On plain PostgreSQL we delete expired rows in bounded batches (short transactions, so ingest is
never blocked for long) and recompute recent hourly roll-ups.

Two maintain runs never overlap: the second finds the advisory lock held and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from eldercare.db.policies import ForegroundRun, read_health, run_in_foreground
from eldercare.errors import TransientError

_BATCH_ROWS = 50_000
_TABLES = ("readings", "events")
_LOCK_KEY = 0x6D61696E7461696E  # "maintain": the key of the advisory lock held while maintaining


@dataclass(frozen=True)
class MaintenanceReport:
    flavour: str
    deleted: dict[str, int] = field(default_factory=dict)
    rollup_hours: int = 0
    changes: list[str] = field(default_factory=list)  # TimescaleDB: what changed in the policies
    runs: list[ForegroundRun] = field(default_factory=list)  # TimescaleDB: policies run in the foreground
    skipped: bool = False  # another maintain run holds the lock

    @property
    def failed(self) -> list[ForegroundRun]:
        return [run for run in self.runs if not run.ok]


def flavour_of(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT variant FROM schema_migrations WHERE version = 2").fetchone()
    if row is None:
        raise TransientError("the schema is not migrated yet: run `eldercare db migrate`")
    return str(row[0])


def maintain(conninfo: str, *, now: datetime, retention_days: dict[str, int], rollup_hours: int = 48) -> MaintenanceReport:
    """Apply retention to readings and events and keep the roll-ups fresh (see the module docstring)."""
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            flavour = flavour_of(conn)
            locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
            if not (locked and locked[0]):
                return MaintenanceReport(flavour, skipped=True)
            if flavour == "timescaledb":
                changes = _sync_retention_policies(conn, retention_days)
                runs = [run_in_foreground(conn, policy) for policy in read_health(conn) if policy.needs_run]
                return MaintenanceReport(flavour, changes=changes, runs=runs)
            deleted = {table: _delete_expired(conn, table, now - timedelta(days=retention_days[table])) for table in _TABLES}
            conn.execute(
                "SELECT refresh_activity_hourly(%s, %s)", (now - timedelta(hours=rollup_hours), now + timedelta(hours=1))
            )
            return MaintenanceReport(flavour, deleted, rollup_hours)
    except psycopg.OperationalError as exc:
        raise TransientError(f"cannot reach the database: {exc}") from exc


def _delete_expired(conn: psycopg.Connection, table: str, cutoff: datetime) -> int:
    statement = sql.SQL("DELETE FROM {table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM {table} WHERE ts < %s LIMIT %s))").format(
        table=sql.Identifier(table)
    )
    total = 0
    while True:
        deleted = conn.execute(statement, (cutoff, _BATCH_ROWS)).rowcount
        total += deleted
        if deleted < _BATCH_ROWS:
            return total


_RETENTION_POLICY = """
SELECT job_id, config->>'drop_after', (config->>'drop_after')::interval = make_interval(days => %s)
  FROM timescaledb_information.jobs
 WHERE proc_name = 'policy_retention' AND hypertable_schema = 'public' AND hypertable_name = %s
"""
# In place: the policy keeps its job id, schedule and run history (remove + add would lose them).
_ALTER_RETENTION = """
SELECT alter_job(job_id, config => jsonb_set(config, '{drop_after}', to_jsonb(%(drop_after)s::text)))
  FROM timescaledb_information.jobs WHERE job_id = %(job)s
"""


def _sync_retention_policies(conn: psycopg.Connection, retention_days: dict[str, int]) -> list[str]:
    """Make each retention policy drop after the configured days; returns what changed."""
    changes: list[str] = []
    for table in _TABLES:
        days = retention_days[table]
        row = conn.execute(_RETENTION_POLICY, (days, table)).fetchone()
        if row is None:
            conn.execute("SELECT add_retention_policy(%s, drop_after => make_interval(days => %s))", (table, days))
            changes.append(f"{table} retention: added, drop after {days} days")
        elif not row[2]:
            conn.execute(_ALTER_RETENTION, {"job": row[0], "drop_after": f"{days} days"})
            changes.append(f"{table} retention (job {row[0]}): drop after {row[1]} -> {days} days")
    return changes
