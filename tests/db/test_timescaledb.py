"""The TimescaleDB flavour's own truth: hypertables, compression, policies and their schedule, the
continuous aggregate against raw data, late data into compressed chunks, retention dropping chunks.

Policies run in the foreground (``CALL run_job``), as ``eldercare db maintain`` runs them: the test
databases' background scheduler is stopped (see tests/support/databases.py), and on Debian's
PostgreSQL 15.20 every background run is recorded as failed anyway.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from eldercare.config import Settings
from eldercare.contracts.payloads import DeviceKind, Metric, Reading, ReadingBatch, Room
from tests.ingest.support import publish, register_homes, running_ingest, scalar, wait_until

pytestmark = pytest.mark.flavour("timescaledb")

# What activity_hourly is defined to be, computed from the raw readings.
RAW_ACTIVITY = """
SELECT home_id, time_bucket(INTERVAL '1 hour', ts) AS bucket, room,
       count(*) FILTER (WHERE metric = 'motion' AND value > 0),
       count(*) FILTER (WHERE metric = 'door_open' AND value > 0),
       count(*) FILTER (WHERE metric = 'bed_occupied'),
       count(*) FILTER (WHERE metric = 'power_w' AND value > 5),
       count(*)
  FROM readings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
AGGREGATE = """
SELECT home_id, bucket, room, motion_events, door_events, bed_events, power_events, readings
  FROM activity_hourly ORDER BY 1, 2, 3
"""


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def job_id(conn: psycopg.Connection, proc: str, relation: str) -> int:
    row = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s AND hypertable_name = %s", (proc, relation)
    ).fetchone()
    assert row is not None, f"no {proc} job on {relation}"
    return int(row[0])


def run_policy(conn: psycopg.Connection, proc: str, relation: str) -> None:
    conn.execute("CALL run_job(%s)", (job_id(conn, proc, relation),))


def chunks(conn: psycopg.Connection, table: str) -> list[tuple[object, bool]]:
    """(range start, is compressed) of each chunk of ``table``, oldest first."""
    return [
        (row[0], bool(row[1]))
        for row in conn.execute(
            "SELECT range_start, is_compressed FROM timescaledb_information.chunks WHERE hypertable_name = %s ORDER BY range_start",
            (table,),
        ).fetchall()
    ]


def test_readings_and_events_are_compressed_hypertables(conn: psycopg.Connection) -> None:
    dimensions = conn.execute(
        "SELECT hypertable_name, column_name, time_interval FROM timescaledb_information.dimensions ORDER BY 1"
    ).fetchall()
    assert ("events", "ts", timedelta(days=7)) in dimensions
    assert ("readings", "ts", timedelta(days=1)) in dimensions
    compressed = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE compression_enabled ORDER BY 1"
    ).fetchall()
    assert [name for (name,) in compressed if not name.startswith("_")] == ["events", "readings"]
    settings = conn.execute(
        "SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index, orderby_asc"
        "  FROM timescaledb_information.compression_settings WHERE hypertable_name IN ('readings', 'events')"
        " ORDER BY 1, segmentby_column_index NULLS LAST, orderby_column_index"
    ).fetchall()
    # Both segmented by home and device (events since 0040): the unique key's device_id is a segment
    # column, so a late insert into a compressed chunk checks only that device's batches.
    expected = [
        ("home_id", 1, None, None),
        ("device_id", 2, None, None),
        ("ts", None, 1, False),
        ("seq", None, 2, False),
    ]
    assert settings == [("events", *row) for row in expected] + [("readings", *row) for row in expected]


def test_policies_and_their_schedule(conn: psycopg.Connection) -> None:
    jobs = conn.execute(
        "SELECT proc_name, hypertable_name, schedule_interval, config - 'hypertable_id' - 'mat_hypertable_id'"
        "  FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL ORDER BY 1, 2"
    ).fetchall()
    assert jobs == [
        ("policy_compression", "events", timedelta(hours=12), {"compress_after": "30 days"}),
        ("policy_compression", "readings", timedelta(hours=12), {"compress_after": "7 days"}),
        (
            "policy_refresh_continuous_aggregate",
            "activity_hourly",
            timedelta(minutes=15),
            {"start_offset": "3 days", "end_offset": "01:00:00"},
        ),
        ("policy_retention", "events", timedelta(days=1), {"drop_after": "1095 days"}),
        ("policy_retention", "readings", timedelta(days=1), {"drop_after": "400 days"}),
    ]
    (realtime,) = conn.execute(
        "SELECT NOT materialized_only FROM timescaledb_information.continuous_aggregates WHERE view_name = 'activity_hourly'"
    ).fetchone()  # type: ignore[misc]
    assert realtime  # the newest, not yet materialized hours come from the raw readings


def _seed_random_readings(conn: psycopg.Connection, count: int) -> None:
    """``count`` readings over the last 60 hours (relative to the database's now(), which the refresh
    policy's window is relative to), over 3 homes, every metric the aggregate counts, and no room."""
    rng = random.Random(15)
    metrics = [("motion", 1.0), ("motion", 0.0), ("door_open", 1.0), ("door_open", 0.0), ("bed_occupied", 1.0),
               ("power_w", 800.0), ("power_w", 2.0), ("temperature_c", 21.0)]  # fmt: skip
    rows = []
    for seq in range(count):
        metric, value = rng.choice(metrics)
        room = rng.choice(["kitchen", "bedroom", None])
        rows.append((f"home-{seq % 3}", f"dev-{seq % 7}", seq, rng.uniform(0, 60 * 3600), metric, value, room))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
            " VALUES (%s, %s, %s, now() - make_interval(secs => %s), %s, %s, %s)",
            rows,
        )


def test_continuous_aggregate_matches_raw_readings_and_catches_up_with_late_data(conn: psycopg.Connection) -> None:
    _seed_random_readings(conn, 2000)
    run_policy(conn, "policy_refresh_continuous_aggregate", "activity_hourly")  # materialises [now - 3 d, now - 1 h)
    (schema, table) = conn.execute(
        "SELECT materialization_hypertable_schema, materialization_hypertable_name"
        "  FROM timescaledb_information.continuous_aggregates WHERE view_name = 'activity_hourly'"
    ).fetchone()  # type: ignore[misc]
    assert conn.execute(sql.SQL("SELECT count(*) > 0 FROM {}").format(sql.Identifier(schema, table))).fetchone() == (True,)
    raw = conn.execute(RAW_ACTIVITY).fetchall()
    assert conn.execute(AGGREGATE).fetchall() == raw
    assert len(raw) > 150  # 3 homes x 3 rooms x ~60 hours, a few empty

    # A late reading in a materialised hour: visible once the policy has refreshed that hour again.
    late_hour = conn.execute("SELECT time_bucket(INTERVAL '1 hour', now() - INTERVAL '20 hours')").fetchone()
    assert late_hour is not None
    conn.execute(
        "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room) VALUES ('home-0', 'dev-late', 1, %s, 'motion', 1, 'hall')",
        (late_hour[0] + timedelta(minutes=1),),
    )
    assert conn.execute(AGGREGATE).fetchall() != conn.execute(RAW_ACTIVITY).fetchall()
    run_policy(conn, "policy_refresh_continuous_aggregate", "activity_hourly")
    assert conn.execute(AGGREGATE).fetchall() == conn.execute(RAW_ACTIVITY).fetchall()


def test_compression_policy_compresses_chunks_older_than_7_days(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO readings (home_id, device_id, seq, ts, metric, value) SELECT 'h', 'd', s, now() - s * INTERVAL '1 day',"
        " 'motion', 1 FROM generate_series(0, 12) s"
    )
    run_policy(conn, "policy_compression", "readings")
    compressed = conn.execute(
        "SELECT bool_and(is_compressed) FILTER (WHERE range_end <= now() - INTERVAL '7 days'),"
        "       bool_or(is_compressed) FILTER (WHERE range_end > now() - INTERVAL '7 days')"
        "  FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'"
    ).fetchone()
    assert compressed == (True, False)
    assert conn.execute("SELECT count(*) FROM readings").fetchone() == (13,)


async def test_late_readings_into_a_compressed_chunk_insert_only_the_new_rows(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    """Ingest's INSERT ... ON CONFLICT DO NOTHING against a compressed chunk: a redelivered reading is
    recognised, a late new one is added."""
    register_homes(db_url, ["home-a"])
    settings = make_settings(ingest={"metrics_port": 0, "client_id": f"ingest-{topic_root}", "flush_interval_s": 0.05})

    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).replace(hour=7, minute=0, second=0, microsecond=0)

    def reading(seq: int) -> Reading:
        return Reading(
            device="pir-1", kind=DeviceKind.MOTION, seq=seq, ts=ten_days_ago + timedelta(minutes=seq), metric=Metric.MOTION,
            value=1, room=Room.KITCHEN,
        )  # fmt: skip

    async with running_ingest(settings):
        await publish(settings, [ReadingBatch(home_id="home-a", readings=[reading(seq) for seq in range(1, 21)])])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 20, what="first batch")
        with psycopg.connect(db_url, autocommit=True) as conn:
            run_policy(conn, "policy_compression", "readings")  # 10 days old: older than compress_after (7 days)
            assert [compressed for _, compressed in chunks(conn, "readings")] == [True]
        # seq 5 and 6 again (a gateway resending after a lost acknowledgement), seq 21 late and new.
        await publish(settings, [ReadingBatch(home_id="home-a", readings=[reading(5), reading(6), reading(21)])])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 21, what="late reading")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT seq), max(seq) FROM readings").fetchone() == (21, 21, 21)


def test_retention_policies_drop_chunks_past_their_age(conn: psycopg.Connection) -> None:
    for days, seq in ((500, 1), (399, 2), (1, 3)):
        conn.execute(
            "INSERT INTO readings (home_id, device_id, seq, ts, metric, value) VALUES ('h', 'd', %s, now() - make_interval(days => %s), 'motion', 1)",
            (seq, days),
        )
    for days, seq in ((1200, 1), (3, 2)):
        conn.execute(
            "INSERT INTO events (home_id, device_id, seq, ts, type) VALUES ('h', 'sos', %s, now() - make_interval(days => %s), 'sos')",
            (seq, days),
        )
    assert (len(chunks(conn, "readings")), len(chunks(conn, "events"))) == (3, 2)
    run_policy(conn, "policy_retention", "readings")
    run_policy(conn, "policy_retention", "events")
    assert len(chunks(conn, "readings")) == 2
    assert len(chunks(conn, "events")) == 1
    assert conn.execute("SELECT array_agg(seq ORDER BY seq) FROM readings").fetchone() == ([2, 3],)
    assert conn.execute("SELECT array_agg(seq ORDER BY seq) FROM events").fetchone() == ([2],)
