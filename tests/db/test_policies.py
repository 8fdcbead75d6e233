"""TimescaleDB's policies: health in `eldercare db status`, ingest's metrics and warning, and
`eldercare db maintain` changing them in place and running failing or overdue ones in the foreground.

Run on the unpatched TimescaleDB 2.28.3 build on Debian's PostgreSQL 15.20, where every policy run
by the background scheduler is recorded as failed: the first test lets the real scheduler run them.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.databases import DatabaseFactory, stop_scheduler
from tests.support.processes import ServiceProcess, run_cli
from tests.support.services import free_port

pytestmark = pytest.mark.flavour("timescaledb")

POLICIES = {
    "activity_hourly refresh",
    "events compression",
    "events retention",
    "readings compression",
    "readings retention",
    "timescaledb job history retention",
}


def status(db_url: str) -> dict[str, dict[str, str]]:
    """`eldercare db status`'s policy table: policy -> column -> value."""
    result = run_cli(["db", "status"], {"ELDERCARE_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines.index("policy\tjob\tinterval\tstate\tlast run\tlast success\tlast error")
    columns = lines[header].split("\t")
    return {line.split("\t")[0]: dict(zip(columns, line.split("\t"), strict=True)) for line in lines[header + 1 :]}


def maintain(db_url: str, **settings: str) -> tuple[int, list[str]]:
    env = {"ELDERCARE_DATABASE_URL": db_url, **{f"ELDERCARE_DB__{key.upper()}": value for key, value in settings.items()}}
    result = run_cli(["db", "maintain"], env)
    return result.returncode, (result.stdout + result.stderr).splitlines()


def jobs(conn: psycopg.Connection) -> dict[str, tuple[object, ...]]:
    rows = conn.execute(
        "SELECT hypertable_name || ' ' || proc_name, job_id, schedule_interval, config FROM timescaledb_information.jobs"
        " WHERE hypertable_name IS NOT NULL"
    ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def set_interval(conn: psycopg.Connection, policy_proc: str, relation: str, interval: str) -> None:
    conn.execute(
        "SELECT alter_job(job_id, schedule_interval => %s::interval) FROM timescaledb_information.jobs"
        " WHERE proc_name = %s AND hypertable_name = %s",
        (interval, policy_proc, relation),
    )


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 120, explain: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}{explain()}"
        time.sleep(0.2)


FINISHED_ONCE = "SELECT count(*) FROM timescaledb_information.job_stats WHERE total_successes + total_failures > 0"
BACKGROUND_HERE = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type <> 'client backend'"
SCHEDULERS = "SELECT datname FROM pg_stat_activity WHERE backend_type = 'TimescaleDB Background Worker Scheduler'"


def scheduler_running(conn: psycopg.Connection) -> bool:
    return conn.execute(f"SELECT count(*) FROM ({SCHEDULERS} AND datname = current_database()) s").fetchone() == (1,)


def worker_slot_holders(conn: psycopg.Connection) -> str:
    """Who holds TimescaleDB's worker slots: a scheduler for each database that has one running."""
    limit = conn.execute("SHOW timescaledb.max_background_workers").fetchone()
    holders = [row[0] for row in conn.execute(f"{SCHEDULERS} ORDER BY datname").fetchall()]
    return f": {len(holders)} schedulers of other databases hold the {limit[0] if limit else '?'} worker slots: {holders}"


def test_status_shows_what_the_scheduler_recorded_and_maintain_makes_failed_runs_good(
    db_url: str, databases: DatabaseFactory, conn: psycopg.Connection
) -> None:
    assert {name: row["last run"] for name, row in status(db_url).items()} == dict.fromkeys(POLICIES, "never")
    conn.execute("SELECT alter_job(job_id, next_start => now()) FROM timescaledb_information.jobs WHERE job_id <> 1")
    databases.start_scheduler(db_url)
    # Started at once when a worker slot is free, else at the launcher's next poll after one frees
    # (60 s); leftover databases of dead runs, which hold slots for good, are dropped by the harness.
    wait_for(lambda: scheduler_running(conn), "this database's scheduler to start", 150, lambda: worker_slot_holders(conn))
    # A run counts once it has finished (total_runs counts it from its start): on a loaded machine a
    # first run can still be going when the last one starts.
    wait_for(
        lambda: conn.execute(FINISHED_ONCE).fetchone() == (6,),
        "the scheduler to finish a run of every policy",
        explain=lambda: worker_slot_holders(conn),
    )
    stop_scheduler(db_url)  # no further background run while we look
    # ... and none still going: a retry started just before the stop ends (or is ended) first, so the
    # job statistics read below and by `db status` are the same.
    wait_for(lambda: conn.execute(BACKGROUND_HERE).fetchone() == (0,), "the scheduler's workers to end")
    recorded = {
        job: (status_, error)
        for job, status_, error in conn.execute(
            "SELECT s.job_id, s.last_run_status, (SELECT sqlerrcode || ': ' || err_message FROM timescaledb_information.job_errors e"
            "  WHERE e.job_id = s.job_id ORDER BY finish_time DESC LIMIT 1)"
            "  FROM timescaledb_information.job_stats s WHERE s.job_id <> 1"
        ).fetchall()
    }
    before = status(db_url)
    assert {int(row["job"]) for row in before.values()} == set(recorded)
    failed = set()
    for policy, row in before.items():
        outcome, error = recorded[int(row["job"])]
        if outcome == "Failed":  # on Debian's 15.20 with the unpatched build: every one, "24000: cannot drop portal ..."
            failed.add(policy)
            assert row["last run"].endswith(" failed")
            assert (row["state"], row["last success"]) == ("failing", "never")
            assert row["last error"].endswith(f" {error}")
        else:
            assert row["last run"].endswith(" ok")
            assert row["state"] == "ok"

    code, lines = maintain(db_url)
    assert code == 0, lines
    ran = {line.split(" (job")[0].removeprefix("ran ") for line in lines if line.startswith("ran ")}
    assert ran == failed
    assert all(re.fullmatch(RAN_OK.format(policy=".+"), line) for line in lines if line.startswith("ran "))
    after = status(db_url)
    for policy in failed:
        assert after[policy]["state"] == "ok (in the foreground; the scheduler's runs fail)"
        assert after[policy]["last success"] != "never"
        assert after[policy]["last error"] == before[policy]["last error"]  # the scheduler's failure stays visible
    assert maintain(db_url) == (0, ["policies: as configured, nothing changed", NOTHING_TO_RUN])


NOTHING_TO_RUN = "every policy's newest run succeeded, none overdue: nothing to run"
RAN_OK = r"ran {policy} \(job \d+\) in the foreground: ok \(\d+\.\d s\)"


def test_maintain_changes_retention_in_place_and_nothing_when_nothing_changed(conn: psycopg.Connection, db_url: str) -> None:
    before = jobs(conn)
    code, lines = maintain(db_url, readings_retention_days="30")
    assert code == 0, lines
    readings_job = before["readings policy_retention"][0]
    assert lines == [f"readings retention (job {readings_job}): drop after 400 days -> 30 days", NOTHING_TO_RUN]
    after = jobs(conn)
    assert after["readings policy_retention"] == (readings_job, before["readings policy_retention"][1], {
        **before["readings policy_retention"][2],  # type: ignore[dict-item]
        "drop_after": "30 days",
    })  # fmt: skip
    assert {k: v for k, v in after.items() if k != "readings policy_retention"} == {
        k: v for k, v in before.items() if k != "readings policy_retention"
    }
    assert maintain(db_url, readings_retention_days="30") == (0, ["policies: as configured, nothing changed", NOTHING_TO_RUN])
    assert jobs(conn) == after
    # A retention policy removed by hand is put back.
    conn.execute("SELECT remove_retention_policy('events')")
    code, lines = maintain(db_url, readings_retention_days="30")
    assert lines[0] == "events retention: added, drop after 1095 days"
    assert jobs(conn)["events policy_retention"][2]["drop_after"] == "1095 days"  # type: ignore[index]


def _metric(port: int, name: str, policy: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'{name}{{policy="{policy}"}} '):
                return float(line.split()[-1])
    return None


def test_an_overdue_policy_is_a_metric_and_a_warning_until_maintain_runs_it(
    conn: psycopg.Connection, db_url: str, env_for: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    # The scheduler is stopped: nothing runs the roll-up refresh. At 1 s, it is overdue 2 s after the
    # schema was made; the other policies (12 h, 1 d) are not.
    set_interval(conn, "policy_refresh_continuous_aggregate", "activity_hourly", "1 second")
    wait_for(lambda: status(db_url)["activity_hourly refresh"]["state"] == "overdue", "the refresh to be overdue")
    assert {row["state"] for policy, row in status(db_url).items() if policy != "activity_hourly refresh"} == {"not run yet"}

    port = free_port()
    env = env_for(ingest__metrics_port=str(port), ingest__policy_check_interval_s="0.2")
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log").start()
    try:
        ingest.wait_for_log('"db_policy_overdue"')
        warning = next(line for line in ingest.log_text().splitlines() if '"db_policy_overdue"' in line)
        assert '"policy": "activity_hourly refresh"' in warning
        assert '"level": "warning"' in warning
        assert _metric(port, "db_policy_overdue", "activity_hourly refresh") == 1
        assert _metric(port, "db_policy_overdue", "readings retention") == 0

        code, lines = maintain(db_url)
        assert code == 0
        assert re.fullmatch(RAN_OK.format(policy="activity_hourly refresh"), lines[1])
        set_interval(conn, "policy_refresh_continuous_aggregate", "activity_hourly", "15 minutes")
        wait_for(lambda: _metric(port, "db_policy_overdue", "activity_hourly refresh") == 0, "the metric to clear", 60)
        ingest.wait_for_log('"db_policy_recovered"')
        assert _metric(port, "db_policy_seconds_since_success", "activity_hourly refresh") < 900  # type: ignore[operator]
    finally:
        ingest.stop()
    assert status(db_url)["activity_hourly refresh"]["state"] == "ok"


def test_a_policy_that_fails_in_the_foreground_fails_maintain_and_shows_its_error(conn: psycopg.Connection, db_url: str) -> None:
    """Retention overdue while a long transaction holds readings locked: the foreground run fails
    (lock timeout), maintain exits 1, status shows the error; once the lock is gone it succeeds."""
    conn.execute(
        "INSERT INTO readings (home_id, device_id, seq, ts, metric, value) VALUES ('h', 'd', 1, now() - INTERVAL '500 days', 'motion', 1)"
    )
    set_interval(conn, "policy_retention", "readings", "1 second")
    wait_for(lambda: status(db_url)["readings retention"]["state"] == "overdue", "retention to be overdue")
    database = db_url.rsplit("/", 1)[1]
    conn.execute(psycopg.sql.SQL("ALTER DATABASE {} SET lock_timeout = '300ms'").format(psycopg.sql.Identifier(database)))
    with psycopg.connect(db_url) as holder:
        holder.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
        code, lines = maintain(db_url)
        holder.rollback()
    assert code == 1, lines
    failed = next(line for line in lines if line.startswith("ran readings retention"))
    assert "FAILED: 55P03: canceling statement due to lock timeout" in failed
    assert lines[-1] == "error: 1 policy run(s) failed in the foreground"
    row = status(db_url)["readings retention"]
    assert row["state"] == "overdue"
    assert row["last run"].endswith(" failed")
    assert "55P03: canceling statement due to lock timeout" in row["last error"]

    set_interval(conn, "policy_retention", "readings", "1 day")  # no longer overdue, but its newest run failed
    assert status(db_url)["readings retention"]["state"] == "failing"
    code, lines = maintain(db_url)
    assert code == 0
    assert re.fullmatch(RAN_OK.format(policy="readings retention"), lines[1])
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (0,)  # the 500-day-old chunk is gone
    assert status(db_url)["readings retention"]["state"] == "ok"


def test_a_paused_policy_is_shown_as_paused_and_left_alone(conn: psycopg.Connection, db_url: str) -> None:
    for table in ("readings", "events"):
        set_interval(conn, "policy_retention", table, "1 second")
    conn.execute(
        "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
        " WHERE proc_name = 'policy_retention' AND hypertable_name = 'events'"
    )
    wait_for(lambda: status(db_url)["readings retention"]["state"] == "overdue", "readings retention to be overdue")
    assert status(db_url)["events retention"]["state"] == "paused"  # as old, but an operator paused it
    code, lines = maintain(db_url)
    assert code == 0
    assert [line.split(" (job")[0] for line in lines if line.startswith("ran ")] == ["ran readings retention"]
