"""Retention and roll-up upkeep, for ``eldercare db maintain`` (run it daily, e.g. from cron).

On TimescaleDB the extension's own jobs do the work; here we only make its retention policies
match the settings. On plain PostgreSQL we delete expired rows in bounded batches (short
transactions, so ingest is never blocked for long) and recompute recent hourly roll-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from eldercare.errors import TransientError

_BATCH_ROWS = 50_000
_TABLES = ("readings", "events")


@dataclass(frozen=True)
class MaintenanceReport:
    flavour: str
    deleted: dict[str, int]
    rollup_hours: int


def flavour_of(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT variant FROM schema_migrations WHERE version = 2").fetchone()
    if row is None:
        raise TransientError("the schema is not migrated yet: run `eldercare db migrate`")
    return str(row[0])


def maintain(conninfo: str, *, now: datetime, retention_days: dict[str, int], rollup_hours: int = 48) -> MaintenanceReport:
    """Apply retention to readings and events and refresh the last ``rollup_hours`` of roll-ups."""
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            flavour = flavour_of(conn)
            if flavour == "timescaledb":
                _sync_timescale_policies(conn, retention_days)
                return MaintenanceReport(flavour, {}, 0)
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


def _sync_timescale_policies(conn: psycopg.Connection, retention_days: dict[str, int]) -> None:
    # remove + add is the documented way to change a policy's interval (TimescaleDB 2.x).
    for table in _TABLES:
        with conn.transaction():
            conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
            conn.execute(
                "SELECT add_retention_policy(%s, drop_after => make_interval(days => %s))", (table, retention_days[table])
            )
