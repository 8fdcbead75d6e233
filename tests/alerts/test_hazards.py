"""Home-safety alarms (smoke, gas, CO, water leak) in the engine on a real database: raised from the
inbox at once, at night, in quiet hours, with the resident away; resolved only by staff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.notify.enqueue import quiet_until
from eldercare.clock import FixedClock
from eldercare.config import Settings
from eldercare.domain.alerts import lifecycle
from eldercare.domain.alerts.catalogue import kind
from tests.alerts.support import add_channel, add_inbox, alerts_of, engine_for, healthy_home, seed_home, sql, webhook_receiver
from tests.alerts.test_engine import settings_for

NIGHT = datetime(2026, 3, 2, 19, 10, tzinfo=UTC)  # 03:10 in Shanghai: night, and inside 22:00-07:00
HAZARDS = ("smoke", "gas", "co", "water_leak")


def _away(db_url: str, resident: int) -> None:
    sql(
        db_url,
        "INSERT INTO absences (resident_id, starts_at, ends_at, reason) VALUES (%s, %s, %s, 'holiday')",
        (resident, NIGHT - timedelta(days=2), NIGHT + timedelta(days=5)),
    )


async def test_each_hazard_notifies_at_once_at_night_in_quiet_hours_while_the_resident_is_away(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, resident = seed_home(db_url, tz="Asia/Shanghai", quiet=("22:00", "07:00"))
    _away(db_url, resident)
    healthy_home(db_url, "h1", NIGHT)
    clock = FixedClock(NIGHT)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        for seq, hazard in enumerate(HAZARDS, start=1):
            add_inbox(db_url, "h1", "hazard", NIGHT, seq=seq, room="kitchen", hazard=hazard, state="detected")
        async with engine_for(settings_for(make_settings), clock) as engine:
            assert sorted((await engine.inbox_once(urgent=True)).opened) == sorted(HAZARDS)
            assert (await engine.deliver_once()).sent == 4
    assert quiet_until(NIGHT, ZoneInfo("Asia/Shanghai"), time(22), time(7)) is not None, "the test runs in quiet hours"
    received = {r.json()["alert"]["kind"]: r.json() for r in receiver.received}
    assert sorted(received) == sorted(HAZARDS)
    for hazard, payload in received.items():
        assert payload["alert"]["severity"] == kind(hazard).severity
        assert payload["alert"]["explanation_en"]
        assert payload["alert"]["explanation_zh"]
    assert {h: received[h]["alert"]["severity"] for h in HAZARDS} == {
        "smoke": "critical", "gas": "critical", "co": "critical", "water_leak": "high",
    }  # fmt: skip
    assert "03:10" in received["smoke"]["alert"]["explanation_en"]
    assert "厨房" in received["gas"]["alert"]["explanation_zh"]


async def test_a_hazard_is_resolved_only_by_staff_and_its_repeats_notify_nobody_again(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, _ = seed_home(db_url)
    healthy_home(db_url, "h1", NIGHT)
    clock = FixedClock(NIGHT)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        add_inbox(db_url, "h1", "hazard", NIGHT, seq=1, hazard="water_leak", state="detected")
        async with engine_for(settings_for(make_settings), clock) as engine:
            await engine.drain_inbox()
            # The sensor dries, reports clear, and starts again: still the one open alert, one notification.
            add_inbox(db_url, "h1", "hazard", NIGHT + timedelta(minutes=5), seq=2, hazard="water_leak", state="cleared")
            add_inbox(db_url, "h1", "hazard", NIGHT + timedelta(minutes=9), seq=3, hazard="water_leak", state="detected")
            clock.current = NIGHT + timedelta(hours=2)
            await engine.drain_inbox()
            await engine.evaluate_once()  # the periodic pass never resolves a hazard
            await engine.deliver_once()
            [(alert_id, _, _, status)] = alerts_of(db_url)
            assert status == "open"
            staff = _staff_user(db_url, centre)
            async with await psycopg.AsyncConnection.connect(db_url) as conn:
                assert await lifecycle.resolve(conn, alert_id, actor_id=staff, now=clock.current, outcome="visited", note=None)
                await conn.commit()
            # A new detection after staff resolved it is a new alert.
            add_inbox(db_url, "h1", "hazard", NIGHT + timedelta(hours=3), seq=4, hazard="water_leak", state="detected")
            await engine.drain_inbox()
            await engine.deliver_once()
    assert [a[1:] for a in alerts_of(db_url)] == [("water_leak", "high", "resolved"), ("water_leak", "high", "open")]
    assert [r.json()["purpose"] for r in receiver.received] == ["opened", "opened"]


def _staff_user(db_url: str, centre: int) -> int:
    rows = sql(
        db_url,
        "INSERT INTO users (username, password_hash, role, care_centre_id) VALUES ('duty', 'x', 'staff', %s) RETURNING id",
        (centre,),
    )
    return int(rows[0][0])


@pytest.mark.parametrize("data", [{"hazard": "smoke", "state": "cleared"}, {"hazard": "lava", "state": "detected"}, {}])
async def test_a_cleared_or_unknown_hazard_raises_nothing(
    db_url: str, make_settings: Callable[..., Settings], data: dict[str, Any]
) -> None:
    seed_home(db_url)
    add_inbox(db_url, "h1", "hazard", NIGHT, **data)
    async with engine_for(settings_for(make_settings), FixedClock(NIGHT)) as engine:
        assert (await engine.inbox_once(urgent=True)).items == 1
    assert alerts_of(db_url) == []
