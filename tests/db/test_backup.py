"""Backups that restore, on both flavours: fill a database, `eldercare db backup`, `eldercare db
restore` into a new one, then check it independently (row counts, hypertables, policies, compressed
chunks) and run ingest and the API on the restored copy. Plus what an operator gets wrong."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from api.security import hash_password
from eldercare.config import Settings
from tests.api.conftest import wait_until_serving
from tests.ingest.support import publish, running_ingest, scalar, temperature_batch, wait_until
from tests.support.databases import DatabaseFactory
from tests.support.processes import ServiceProcess, run_cli
from tests.support.services import Flavour, free_port

PASSWORD = "restore-drill-pw-1"
TABLES = "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1"


@pytest.fixture
def new_database(databases: DatabaseFactory) -> Iterator[Callable[[], str]]:
    """URLs of databases a restore creates, dropped after the test: a restored TimescaleDB database
    runs its scheduler (timescaledb_post_restore), which holds a worker slot while it exists."""
    made: list[str] = []

    def reserve() -> str:
        made.append(databases.reserve())
        return made[-1]

    yield reserve
    for url in made:
        databases.drop(url)


def fill(url: str, flavour: Flavour) -> None:
    """Homes, a resident, a staff user, 20 days of readings, events and alerts; on TimescaleDB the
    readings older than 7 days compressed, as the policy leaves them."""
    with psycopg.connect(url, autocommit=True) as conn:
        (centre,) = conn.execute("INSERT INTO care_centres (name) VALUES ('Drill centre') RETURNING id").fetchone()  # type: ignore[misc]
        for home in ("home-a", "home-b"):
            conn.execute("INSERT INTO homes (id, care_centre_id) VALUES (%s, %s)", (home, centre))
        (resident,) = conn.execute(
            "INSERT INTO residents (home_id, full_name) VALUES ('home-a', 'Drill resident') RETURNING id"
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO users (username, password_hash, role, care_centre_id) VALUES ('drill_staff', %s, 'staff', %s)",
            (hash_password(PASSWORD), centre),
        )
        conn.execute(
            "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
            " SELECT 'home-a', 'pir-1', s, now() - s * INTERVAL '10 minutes', 'motion', 1, 'kitchen' FROM generate_series(1, 2880) s"
        )
        conn.execute(
            "INSERT INTO events (home_id, device_id, seq, ts, type) VALUES ('home-a', 'sos', 1, now() - INTERVAL '3 days', 'sos')"
        )
        conn.execute(
            "INSERT INTO alerts (home_id, resident_id, care_centre_id, kind, severity, explanation_en, explanation_zh, opened_at, updated_at)"
            " VALUES ('home-a', %s, %s, 'sos', 'critical', 'SOS pressed', '按下了求助按钮', now() - INTERVAL '3 days', now())",
            (resident, centre),
        )
        if flavour == "timescaledb":
            (job,) = conn.execute(
                "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' AND hypertable_name = 'readings'"
            ).fetchone()  # type: ignore[misc]
            conn.execute("CALL run_job(%s)", (job,))


def snapshot(url: str, flavour: Flavour) -> dict[str, object]:
    """What a restore must reproduce, read straight from the database."""
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(TABLES).fetchall()]
        counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0] for t in tables}  # type: ignore[index]
        seen: dict[str, object] = {"rows": counts, "readings": conn.execute("SELECT sum(seq), max(ts) FROM readings").fetchone()}
        if flavour == "timescaledb":
            seen["hypertables"] = conn.execute(
                "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables ORDER BY 1"
            ).fetchall()
            seen["policies"] = conn.execute(
                "SELECT proc_name, hypertable_name, schedule_interval, config - 'hypertable_id' - 'mat_hypertable_id'"
                "  FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL ORDER BY 1, 2"
            ).fetchall()
            seen["compressed chunks"] = conn.execute(
                "SELECT count(*) FILTER (WHERE is_compressed), count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'"
            ).fetchone()
    return seen


async def test_a_backup_restores_into_a_new_database_that_ingest_and_the_api_run_on(
    db_url: str, new_database: Callable[[], str], db_flavour: Flavour, tmp_path: Path, make_settings: Callable[..., Settings],
    env_for: Callable[..., dict[str, str]],
) -> None:  # fmt: skip
    fill(db_url, db_flavour)
    before = snapshot(db_url, db_flavour)
    if db_flavour == "timescaledb":
        chunks = before["compressed chunks"]
        assert isinstance(chunks, tuple)
        compressed, total = chunks
        assert 0 < compressed < total  # the backup holds compressed chunks and uncompressed ones

    folder = tmp_path / "backup"
    made = run_cli(["db", "backup", str(folder)], {"ELDERCARE_DATABASE_URL": db_url}, timeout_s=300)
    assert made.returncode == 0, made.stderr
    assert made.stderr == ""  # pg_dump's expected TimescaleDB catalog warnings are not passed on
    manifest = json.loads((folder / "eldercare-backup.json").read_text())
    assert manifest["flavour"] == db_flavour
    assert manifest["rows"]["readings"] == 2880
    assert made.stdout.startswith(f"backed up ({db_flavour}")

    restored_url = new_database()
    restored = run_cli(
        ["db", "restore", str(folder), "--into", restored_url.rsplit("/", 1)[1]],
        {"ELDERCARE_DATABASE_URL": db_url},
        timeout_s=300,
    )
    assert restored.returncode == 0, restored.stderr
    assert "counts as in the backup" in restored.stdout
    assert snapshot(restored_url, db_flavour) == before
    if db_flavour == "timescaledb":
        with psycopg.connect(restored_url) as conn:  # timescaledb_post_restore() ran: not left restoring
            assert conn.execute("SHOW timescaledb.restoring").fetchone() == ("off",)
        status = run_cli(["db", "status"], {"ELDERCARE_DATABASE_URL": restored_url})
        assert "readings retention" in status.stdout

    # Ingest on the restored copy: new readings stored, a redelivered old one recognised.
    settings = make_settings(database_url=restored_url, ingest={"metrics_port": 0, "flush_interval_s": 0.05})
    async with running_ingest(settings):
        await publish(settings, [temperature_batch("home-b", "thermo-1", 1, 30)])
        await wait_until(
            lambda: scalar(restored_url, "SELECT count(*) FROM readings") == 2880 + 30, what="ingest on the restored copy"
        )

    # The API on the restored copy: the staff user logs in and sees the alert from before the backup.
    env = {**env_for(api__jwt_secret="restore-drill-secret-" + "x" * 32), "ELDERCARE_DATABASE_URL": restored_url}
    await asyncio.to_thread(staff_sees_the_restored_alert, env, tmp_path / "api.log")


def staff_sees_the_restored_alert(env: dict[str, str], log: Path) -> None:
    port = free_port()
    api = ServiceProcess(["api"], {**env, "ELDERCARE_API__PORT": str(port)}, log).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, api)
        token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "drill_staff", "password": PASSWORD}, timeout=10)
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        alerts = httpx.get(f"{url}/api/v1/alerts", headers=headers, timeout=10)
        assert alerts.status_code == 200, alerts.text
        assert [alert["kind"] for alert in alerts.json()["items"]] == ["sos"]
    finally:
        assert api.stop() == 0


def test_what_an_operator_gets_wrong_is_refused_with_the_fix(
    db_url: str, new_database: Callable[[], str], db_flavour: Flavour, tmp_path: Path
) -> None:
    env = {"ELDERCARE_DATABASE_URL": db_url}
    folder = tmp_path / "backup"
    assert run_cli(["db", "backup", str(folder)], env, timeout_s=300).returncode == 0

    again = run_cli(["db", "backup", str(folder)], env, timeout_s=300)
    assert (again.returncode, again.stderr) == (2, f"error: {folder} exists: a backup goes into a new folder\n")

    into_itself = run_cli(["db", "restore", str(folder)], env, timeout_s=300)  # the configured database holds the schema
    assert into_itself.returncode == 2
    assert "is not empty: restore into a new one (created when missing)" in into_itself.stderr

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "toc.dat").write_bytes(b"")
    no_manifest = run_cli(["db", "restore", str(unfinished), "--into", new_database().rsplit("/", 1)[1]], env, timeout_s=300)
    assert no_manifest.returncode == 2
    assert "has no eldercare-backup.json: not a finished backup" in no_manifest.stderr

    if db_flavour == "timescaledb":
        manifest = json.loads((folder / "eldercare-backup.json").read_text())
        (folder / "eldercare-backup.json").write_text(json.dumps({**manifest, "timescaledb": "2.13.0"}))
        target = new_database()
        other_version = run_cli(["db", "restore", str(folder), "--into", target.rsplit("/", 1)[1]], env, timeout_s=300)
        assert other_version.returncode == 2
        assert "the backup was taken with TimescaleDB 2.13.0; this server offers" in other_version.stderr
        assert "Traceback" not in other_version.stderr

    # A restore whose result differs from the manifest fails (here: a count edited after the backup).
    manifest = json.loads((folder / "eldercare-backup.json").read_text())
    manifest["timescaledb"] = None if db_flavour == "postgres" else manifest["timescaledb"]
    if db_flavour == "timescaledb":
        with psycopg.connect(db_url) as conn:
            manifest["timescaledb"] = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
            ).fetchone()[0]  # type: ignore[index]
    manifest["rows"]["homes"] = 99
    (folder / "eldercare-backup.json").write_text(json.dumps(manifest))
    differs = run_cli(["db", "restore", str(folder), "--into", new_database().rsplit("/", 1)[1]], env, timeout_s=300)
    assert differs.returncode == 1
    assert "the restored database differs from the backup: rows:" in differs.stderr


def test_backup_of_an_unreachable_database_fails_without_leaving_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    result = run_cli(
        ["db", "backup", str(folder)], {"ELDERCARE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"}
    )
    assert result.returncode == 1
    assert "cannot back up the database" in result.stderr
    assert not folder.exists()
    assert not (tmp_path / "backup.partial").exists()
