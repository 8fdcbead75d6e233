"""Backfill writes the routine's history into the real database, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from eldercare.config import Settings
from simulator.backfill import HISTORY_SEQ_BASE, backfill
from simulator.home import HAZARD_KIT

END = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = ("readings", "events", "activity_hourly", "homes", "residents", "devices")
        return {t: _one(conn.execute(f"SELECT count(*) FROM {t}").fetchone())[0] for t in tables}


def _one(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    assert row is not None
    return row


async def test_backfill_writes_days_of_history_once(make_settings: Callable[..., Settings], db_url: str) -> None:
    settings = make_settings(simulator={"homes": 2, "home_prefix": "bf"})
    first = await backfill(settings, days=3, end=END, homes=2)
    after_first = counts(db_url)
    assert first.readings == after_first["readings"] > 2 * 3 * 500  # several hundred readings per home-day
    assert first.events == after_first["events"] > 0
    assert after_first["homes"] == 2
    assert after_first["residents"] == 2
    assert after_first["devices"] == 2 * (11 + len(HAZARD_KIT))  # the routine's 11 and the home-safety alarms
    assert after_first["activity_hourly"] > 2 * 3 * 20
    again = await backfill(settings, days=3, end=END, homes=2)
    assert again.readings == first.readings  # generated again, deterministically...
    assert counts(db_url) == after_first  # ...and not inserted twice
    with psycopg.connect(db_url) as conn:
        low, high, seq = _one(conn.execute("SELECT min(ts), max(ts), min(seq) FROM readings").fetchone())
        motion_rooms = conn.execute("SELECT count(DISTINCT room) FROM readings WHERE metric = 'motion'").fetchone()
    assert END - timedelta(days=3) <= low < END - timedelta(days=2)
    assert high < END
    assert seq >= HISTORY_SEQ_BASE
    assert motion_rooms == (5,)
