"""TimescaleDB's policies (retention, compression, the roll-up refresh): their health, and running
one in the foreground.

TimescaleDB runs policies from a background scheduler and records each run (``job_stats``,
``job_errors``). That scheduler can fail without anyone noticing: on Debian's PostgreSQL 15.20 every
background run does its work and is then recorded as failed (``cannot drop portal "" while it is
being set up``). ``CALL run_job(id)`` runs a policy in the foreground and works there, but records
nothing, so ``eldercare db maintain`` writes each foreground run into ``policy_runs``; a policy's
health is the newest of both records.

A policy is *overdue* when it has not succeeded within twice its schedule interval, counted from the
time the time-series schema was created when it never has. ``eldercare db maintain`` runs a policy
whose latest run failed, or that is overdue. Times are the database server's (``now()``), the clock
that TimescaleDB schedules and records with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

# TimescaleDB's own policy procedures we watch; user-defined jobs and telemetry are not ours.
_KINDS = {
    "policy_retention": "retention",
    "policy_compression": "compression",
    "policy_refresh_continuous_aggregate": "refresh",
    "policy_job_stat_history_retention": "job history retention",
}

HEALTH = """
SELECT j.job_id, j.proc_name, j.hypertable_name, j.schedule_interval, j.scheduled,
       s.last_run_started_at, s.last_run_status, nullif(s.last_successful_finish, '-infinity'),
       e.finish_time, e.sqlerrcode, e.err_message,
       f.started_at, f.finished_at, f.succeeded, f.error,
       (SELECT max(finished_at) FROM policy_runs WHERE job_id = j.job_id AND succeeded),
       (SELECT applied_at FROM schema_migrations WHERE version = 2),
       now()
  FROM timescaledb_information.jobs j
  LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
  LEFT JOIN LATERAL (SELECT finish_time, sqlerrcode, err_message FROM timescaledb_information.job_errors
                      WHERE job_id = j.job_id ORDER BY finish_time DESC LIMIT 1) e ON true
  LEFT JOIN LATERAL (SELECT started_at, finished_at, succeeded, error FROM policy_runs
                      WHERE job_id = j.job_id ORDER BY finished_at DESC LIMIT 1) f ON true
 WHERE j.proc_schema = '_timescaledb_functions' AND j.proc_name = ANY(%s)
 ORDER BY j.hypertable_name NULLS LAST, j.proc_name
"""

_RECORD = """
INSERT INTO policy_runs (policy, job_id, started_at, finished_at, succeeded, error)
VALUES (%s, %s, %s, clock_timestamp(), %s, %s)
"""
_FORGET_OLD_RUNS = "DELETE FROM policy_runs WHERE finished_at < now() - INTERVAL '30 days'"


@dataclass(frozen=True)
class PolicyHealth:
    policy: str  # "readings retention", "activity_hourly refresh", ...
    job_id: int
    interval: timedelta
    last_run_at: datetime | None  # the newest run, by the scheduler or in the foreground
    last_run_ok: bool | None
    last_success_at: datetime | None
    last_error: str | None  # of the newest failed run: "SQLSTATE: message"
    last_error_at: datetime | None
    background_failing: bool  # the scheduler's newest run failed
    paused: bool  # alter_job(scheduled => false): neither the scheduler nor maintain runs it
    overdue: bool  # no success within twice the interval (never when paused)
    seconds_since_success: float  # from the schema's creation when it never succeeded

    @property
    def needs_run(self) -> bool:
        """What ``eldercare db maintain`` runs in the foreground: the newest run failed, or overdue."""
        return not self.paused and (self.last_run_ok is False or self.overdue)

    @property
    def state(self) -> str:
        if self.paused:
            return "paused"
        if self.overdue:
            return "overdue"
        if self.last_run_ok is False:
            return "failing"
        if self.background_failing:
            return "ok (in the foreground; the scheduler's runs fail)"
        return "ok" if self.last_run_ok else "not run yet"


def read_health(conn: psycopg.Connection[Any]) -> list[PolicyHealth]:
    """Every policy of a TimescaleDB database with its health."""
    return [_health(row) for row in conn.execute(HEALTH, (list(_KINDS),)).fetchall()]


async def read_health_async(conn: psycopg.AsyncConnection[Any]) -> list[PolicyHealth]:
    return [_health(row) for row in await (await conn.execute(HEALTH, (list(_KINDS),))).fetchall()]


def _newest(*stamps: datetime | None) -> datetime | None:
    present = [stamp for stamp in stamps if stamp is not None]
    return max(present) if present else None


def _health(row: tuple[Any, ...]) -> PolicyHealth:
    (job_id, proc, relation, interval, scheduled, bg_started, bg_status, bg_success, err_at, err_code, err_message,
     fg_started, fg_finished, fg_ok, fg_error, fg_success, schema_created, now) = row  # fmt: skip
    foreground_newer = fg_started is not None and (bg_started is None or fg_started >= bg_started)
    last_ok = fg_ok if foreground_newer else (None if bg_status is None else bg_status == "Success")
    last_success = _newest(bg_success, fg_success)
    error, error_at = (f"{err_code}: {err_message}", err_at) if err_at is not None else (None, None)
    if fg_error is not None and (error_at is None or fg_finished > error_at):
        error, error_at = fg_error, fg_finished
    since = (now - (last_success or schema_created)).total_seconds()
    return PolicyHealth(
        policy=f"{relation or 'timescaledb'} {_KINDS[proc]}",
        job_id=int(job_id),
        interval=interval,
        last_run_at=fg_started if foreground_newer else bg_started,
        last_run_ok=last_ok,
        last_success_at=last_success,
        last_error=error,
        last_error_at=error_at,
        background_failing=bg_status == "Failed",
        paused=not scheduled,
        overdue=bool(scheduled) and since > 2 * interval.total_seconds(),
        seconds_since_success=since,
    )


@dataclass(frozen=True)
class ForegroundRun:
    policy: str
    job_id: int
    ok: bool
    seconds: float
    error: str | None


def run_in_foreground(conn: psycopg.Connection[Any], policy: PolicyHealth) -> ForegroundRun:
    """``CALL run_job`` on an autocommit connection (a policy commits as it goes), recorded in policy_runs."""
    (started,) = conn.execute("SELECT clock_timestamp()").fetchone() or (None,)
    began = time.monotonic()
    error: str | None = None
    try:
        conn.execute("CALL run_job(%s)", (policy.job_id,))
    except psycopg.Error as exc:
        if conn.broken:
            raise  # the connection is gone: nothing can be recorded, the caller reports it
        error = f"{exc.sqlstate}: {exc.diag.message_primary or exc}"
    seconds = time.monotonic() - began
    conn.execute(_RECORD, (policy.policy, policy.job_id, started, error is None, error))
    conn.execute(_FORGET_OLD_RUNS)
    return ForegroundRun(policy.policy, policy.job_id, error is None, seconds, error)
