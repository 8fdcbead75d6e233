"""The periodic pass with several homes in flight (``alerts.evaluation_concurrency``), on real
databases: same judgement as one home at a time, every home judged once, failures stay one
home's, a lost database still stops the pass. No timing here (bench/alerts_pass.py measures)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.engine import periodic_concurrency
from eldercare.clock import FixedClock
from eldercare.config import Settings, load_settings
from eldercare.errors import ConfigError
from tests.alerts.support import add_motion, engine_for, healthy_home, mark_input, seed_home, sql
from tests.support.databases import DatabaseFactory

AFTERNOON = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
HOMES = [f"h{i:02d}" for i in range(12)]
SILENT = {home for i, home in enumerate(HOMES) if i % 3 == 0}  # still for 3 h 01 min: inactivity

# Every claimed turn, as committed: (home, pass time). A turn whose transaction rolled back
# leaves no row, exactly like the judgement itself.
_PASS_LOG = """
CREATE TABLE pass_log (home_id text NOT NULL, evaluated_at timestamptz NOT NULL);
CREATE FUNCTION log_pass() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO pass_log VALUES (NEW.home_id, NEW.evaluated_at); RETURN NEW; END $$;
CREATE TRIGGER log_pass AFTER INSERT OR UPDATE OF evaluated_at ON alert_home_passes FOR EACH ROW EXECUTE FUNCTION log_pass();
"""


def seed_homes(db_url: str) -> None:
    for home in HOMES:
        seed_home(db_url, home)
        healthy_home(db_url, home, AFTERNOON)
        quiet_for = timedelta(hours=3, minutes=1) if home in SILENT else timedelta(minutes=10)
        add_motion(db_url, home, AFTERNOON - quiet_for)
    sql(db_url, _PASS_LOG)


def settings_for(make_settings: Callable[..., Settings], concurrency: int, **overrides: object) -> Settings:
    alerts = {"evaluation_interval_s": 30, "evaluation_concurrency": concurrency}
    return make_settings(alerts=alerts, db={"pool_max_size": concurrency + 2}, **overrides)


def turns(db_url: str) -> Counter[str]:
    return Counter(home for (home,) in sql(db_url, "SELECT home_id FROM pass_log"))


def opened_alerts(db_url: str) -> list[tuple[str, str, str, str]]:
    rows = sql(db_url, "SELECT home_id, kind, severity, status FROM alerts ORDER BY home_id, kind")
    return [(str(h), str(k), str(s), str(st)) for h, k, s, st in rows]


async def test_a_concurrent_pass_judges_every_home_once_and_opens_what_a_sequential_pass_opens(
    db_url: str, databases: DatabaseFactory, make_settings: Callable[..., Settings]
) -> None:
    other_url = databases.clone()
    try:
        for url in (db_url, other_url):
            seed_homes(url)
        async with engine_for(settings_for(make_settings, 1), FixedClock(AFTERNOON)) as sequential:
            assert sequential.evaluation_concurrency == 1
            one_by_one = await sequential.evaluate_once()
        concurrent_settings = settings_for(make_settings, 4, database_url=other_url)
        async with engine_for(concurrent_settings, FixedClock(AFTERNOON)) as concurrent:
            assert concurrent.evaluation_concurrency == 4
            at_once = await concurrent.evaluate_once()
            assert concurrent.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") == len(HOMES)
            assert not concurrent.metrics.registry.get_sample_value("eldercare_alerts_loop_errors_total", {"loop": "home"})
        assert sorted(at_once.opened) == sorted(one_by_one.opened) == ["inactivity"] * len(SILENT)
        assert opened_alerts(other_url) == opened_alerts(db_url)
        assert {home for home, *_ in opened_alerts(other_url)} == SILENT
        assert turns(other_url) == turns(db_url) == Counter(HOMES)
    finally:
        databases.drop(other_url)


async def test_one_home_failing_does_not_stop_the_others_under_concurrency(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_homes(db_url)
    bad = sorted(SILENT)[1]
    # A permanent failure for one home only (a real database error, raised by a trigger when its
    # inactivity alert is written), in the middle of the pass.
    sql(
        db_url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;"
        f"CREATE TRIGGER refuse BEFORE INSERT ON alerts FOR EACH ROW WHEN (NEW.home_id = '{bad}') EXECUTE FUNCTION refuse()",
    )
    async with engine_for(settings_for(make_settings, 4), FixedClock(AFTERNOON)) as engine:
        outcome = await engine.evaluate_once()
        assert engine.metrics.registry.get_sample_value("eldercare_alerts_loop_errors_total", {"loop": "home"}) == 1
        assert engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") == len(HOMES) - 1
    assert outcome.opened == ["inactivity"] * (len(SILENT) - 1)
    assert {home for home, *_ in opened_alerts(db_url)} == SILENT - {bad}
    assert turns(db_url) == Counter(home for home in HOMES if home != bad)  # its turn rolled back with it


async def test_a_lost_database_still_stops_a_concurrent_pass_with_the_database_error(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_homes(db_url)
    # The server ends the connection judging h05 (what a restart or failover does to it).
    sql(
        db_url,
        "CREATE FUNCTION vanish() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$;"
        "CREATE TRIGGER vanish BEFORE INSERT ON alert_home_passes FOR EACH ROW WHEN (NEW.home_id = 'h05')"
        " EXECUTE FUNCTION vanish()",
    )
    async with engine_for(settings_for(make_settings, 4), FixedClock(AFTERNOON)) as engine:
        with pytest.raises(psycopg.OperationalError):  # itself, not an exception group: the loop backs off
            await engine.evaluate_once()
        assert not engine.metrics.registry.get_sample_value("eldercare_alerts_loop_errors_total", {"loop": "home"})
        assert "h05" not in turns(db_url)


async def test_two_copies_with_concurrency_never_judge_a_home_twice_in_one_pass(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_homes(db_url)
    clock = FixedClock(AFTERNOON)
    settings = settings_for(make_settings, 4)
    async with engine_for(settings, clock) as first, engine_for(settings, clock) as second:
        for _ in range(3):
            clock.advance(timedelta(seconds=30))
            for home in HOMES:
                mark_input(db_url, home)  # new input everywhere: every home is due every pass
            await asyncio.gather(first.evaluate_once(), second.evaluate_once())
        judged = sum(e.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0 for e in (first, second))
    per_pass = Counter((str(h), at) for h, at in sql(db_url, "SELECT home_id, evaluated_at FROM pass_log"))
    passes = [AFTERNOON + timedelta(seconds=30 * n) for n in (1, 2, 3)]
    assert per_pass == Counter({(home, at): 1 for home in HOMES for at in passes})
    assert judged == 3 * len(HOMES)
    assert {home for home, *_ in opened_alerts(db_url)} == SILENT  # one alert each, opened once
    assert len(opened_alerts(db_url)) == len(SILENT)


async def test_concurrency_leaves_the_other_loops_their_pool_connections(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    assert periodic_concurrency(4, 8) == 4
    assert periodic_concurrency(8, 8) == 6  # the inbox and outbox loops keep one connection each
    assert periodic_concurrency(4, 2) == 1  # never below one home at a time
    settings = make_settings(alerts={"evaluation_concurrency": 8}, db={"pool_max_size": 5})
    async with engine_for(settings, FixedClock(AFTERNOON)) as engine:
        assert engine.evaluation_concurrency == 3


def test_evaluation_concurrency_is_bounded() -> None:
    assert load_settings().alerts.evaluation_concurrency >= 1
    for bad in (0, 65):
        with pytest.raises(ConfigError, match="ELDERCARE_ALERTS__EVALUATION_CONCURRENCY"):
            load_settings(alerts={"evaluation_concurrency": bad})
