"""`eldercare db maintain`: retention on the plain-PostgreSQL path, and roll-up refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from eldercare.db.maintain import maintain
from tests.support.processes import run_cli

pytestmark = pytest.mark.flavour("postgres")  # TimescaleDB's policies: tests/db/test_timescaledb.py
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _seed(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = [
            ("h-1", "pir-1", 1, NOW - timedelta(days=500), "motion", 1.0, "kitchen"),
            ("h-1", "pir-1", 2, NOW - timedelta(days=399), "motion", 1.0, "kitchen"),
            ("h-1", "pir-1", 3, NOW - timedelta(hours=2, minutes=10), "motion", 1.0, "kitchen"),
            ("h-1", "pir-1", 4, NOW - timedelta(hours=2, minutes=5), "motion", 0.0, "kitchen"),
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            cur.execute(
                "INSERT INTO events (home_id, device_id, seq, ts, type) VALUES ('h-1', 'sos-1', 1, %s, 'sos'), ('h-1', 'sos-1', 2, %s, 'sos')",
                (NOW - timedelta(days=1200), NOW - timedelta(days=3)),
            )


def test_retention_deletes_only_expired_rows_and_refreshes_rollups(db_url: str) -> None:
    _seed(db_url)
    report = maintain(db_url, now=NOW, retention_days={"readings": 400, "events": 1095})
    assert report.flavour == "postgres"
    assert report.deleted == {"readings": 1, "events": 1}
    with psycopg.connect(db_url) as conn:
        assert [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq").fetchall()] == [2, 3, 4]
        assert [r[0] for r in conn.execute("SELECT seq FROM events").fetchall()] == [2]
        bucket = conn.execute("SELECT bucket, room, motion_events, readings FROM activity_hourly").fetchall()
    hour = (NOW - timedelta(hours=3)).replace(minute=0)
    assert bucket == [(hour, "kitchen", 1, 2)]
    # Running it again changes nothing: retention and roll-ups are idempotent.
    again = maintain(db_url, now=NOW, retention_days={"readings": 400, "events": 1095})
    assert again.deleted == {"readings": 0, "events": 0}


@pytest.mark.slow  # runs the CLI
def test_cli_maintain(db_url: str) -> None:
    _seed(db_url)
    env = {
        "ELDERCARE_DATABASE_URL": db_url,
        "ELDERCARE_DB__READINGS_RETENTION_DAYS": "30",
        "ELDERCARE_CLOCK__START": NOW.isoformat(),  # the services' clock seam pins "now"
    }
    result = run_cli(["db", "maintain"], env)
    assert result.returncode == 0, result.stderr
    assert "deleted expired rows: readings 2, events 1" in result.stdout
