"""Backfill writes the routine's history into the real database, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from eldercare.config import Settings
from eldercare.mqtt import connect
from simulator.backfill import HISTORY_SEQ_BASE, backfill
from simulator.home import HAZARD_KIT
from simulator.registry import register
from tests.support.broker import PrivateBroker, dynsec_config

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


async def test_backfill_keeps_the_homes_broker_credentials(
    make_settings: Callable[..., Settings], db_url: str, private_broker: Callable[..., PrivateBroker], tmp_path: Path
) -> None:
    """Backfilling under a running demo: the gateways' passwords still work at the broker afterwards
    (a backfill once rotated every home's credentials, and every gateway then failed to reconnect)."""
    broker = private_broker(extra=dynsec_config(tmp_path / "dynsec.json", "dynsec-admin", "dynsec-admin-password"))
    settings = make_settings(
        mqtt_url=broker.url,
        mqtt={"topic_root": "eldercare", "connect_timeout_s": 5.0},
        api={"broker_admin_username": "dynsec-admin", "broker_admin_password": "dynsec-admin-password"},
        simulator={"homes": 3, "home_prefix": "bk"},
    )
    live = await register(settings, ["bk-00000", "bk-00001"], now=END)  # the running demo's gateways
    with psycopg.connect(db_url) as conn:
        hashes = conn.execute("SELECT id, mqtt_password_hash FROM homes ORDER BY id").fetchall()
    await backfill(settings, days=0.2, end=END, homes=3)  # and a third home, new
    with psycopg.connect(db_url) as conn:
        after = conn.execute("SELECT id, mqtt_password_hash FROM homes ORDER BY id").fetchall()
    assert after[:2] == hashes
    assert after[2] == ("bk-00002", None)  # no credentials until something connects it
    endpoint = settings.mqtt_endpoint
    for home_id, password in live.passwords.items():
        assert password is not None
        async with connect(settings, client_id=f"gw-{home_id}", endpoint=endpoint.with_credentials(home_id, password)) as gateway:
            await gateway.publish(f"eldercare/v1/{home_id}/heartbeat", b"hb", qos=1)
    # The live simulator's next registration gives the new home credentials, as any home.
    again = await register(settings, ["bk-00002"], now=END)
    password = again.passwords["bk-00002"]
    assert password is not None
    async with connect(settings, client_id="gw-bk-00002", endpoint=endpoint.with_credentials("bk-00002", password)):
        pass
