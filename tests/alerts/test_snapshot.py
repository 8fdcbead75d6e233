"""What the inactivity rule reads from the database (alerts.snapshot): the kinds of activity, from
the rows ingest writes, on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from alerts.inactivity import ActivityEvent
from alerts.snapshot import activity
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.alerts.support import alerts_of, engine_for, healthy_home, seed_home, sql
from tests.alerts.test_engine import settings_for

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def reading(db_url: str, device: str, seq: int, at: datetime, metric: str, value: float, room: str | None) -> None:
    sql(
        db_url,
        "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room) VALUES ('h1', %s, %s, %s, %s, %s, %s)",
        (device, seq, at, metric, value, room),
    )


def event(db_url: str, device: str, seq: int, at: datetime, kind: str, room: str | None, state: str) -> None:
    sql(
        db_url,
        "INSERT INTO events (home_id, device_id, seq, ts, type, room, data) VALUES ('h1', %s, %s, %s, %s, %s, %s::jsonb)",
        (device, seq, at, kind, room, f'{{"state": "{state}"}}'),
    )


async def test_activity_tells_the_outer_door_a_cupboard_the_bed_and_an_appliance_apart(db_url: str) -> None:
    seed_home(db_url, "h1")
    t = NOW - timedelta(hours=2)
    event(db_url, "front", 1, t, "door", "entry", "open")
    event(db_url, "front", 2, t + timedelta(seconds=20), "door", "entry", "closed")
    event(db_url, "fridge", 1, t + timedelta(minutes=1), "door", "kitchen", "open")  # a contact, not the way out
    reading(db_url, "back", 1, t + timedelta(minutes=2), "door_open", 1, None)  # no room: the outer door
    event(db_url, "mat", 1, t + timedelta(minutes=3), "bed", "bedroom", "occupied")
    event(db_url, "mat", 2, t + timedelta(minutes=4), "bed", "bedroom", "vacated")
    event(db_url, "pir", 1, t + timedelta(minutes=5), "presence", "kitchen", "detected")
    event(db_url, "pir", 2, t + timedelta(minutes=6), "presence", "kitchen", "cleared")  # not a sign of life
    # The kettle: off, on, still on (the same use), off, on again: two switch-ons.
    for seq, (minutes, watts) in enumerate([(7, 0.5), (8, 1800), (9, 1750), (10, 0.4), (11, 1900)]):
        reading(db_url, "kettle", seq, t + timedelta(minutes=minutes), "power_w", watts, "kitchen")
    reading(db_url, "bed-2", 1, t + timedelta(minutes=12), "bed_occupied", 1, "bedroom")  # a repeated state
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        found = await activity(conn, "h1", NOW - timedelta(hours=30), NOW)
    assert [(e.at - t, e.kind, e.area, e.device) for e in found] == [
        (timedelta(0), "door_open", "entry", "front"),
        (timedelta(seconds=20), "door_close", "entry", "front"),
        (timedelta(minutes=1), "motion", "kitchen", "fridge"),
        (timedelta(minutes=2), "door_open", None, "back"),
        (timedelta(minutes=3), "bed_in", "bedroom", "mat"),
        (timedelta(minutes=4), "bed_out", "bedroom", "mat"),
        (timedelta(minutes=5), "motion", "kitchen", "pir"),
        (timedelta(minutes=8), "appliance", "kitchen", "kettle"),
        (timedelta(minutes=11), "appliance", "kitchen", "kettle"),
    ]
    assert all(isinstance(e, ActivityEvent) for e in found)


async def test_a_home_silent_for_longer_than_the_window_is_still_judged_from_its_door(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    # Out of the front door 44 h ago (18:00) and no sign of a return since: the event window (30 h) alone
    # would hold nothing to judge by; it reaches back to the last activity, so the untrained
    # default absence limit (12 h) speaks.
    seed_home(db_url, "h1")
    healthy_home(db_url, "h1", NOW)
    left = NOW - timedelta(hours=44)
    event(db_url, "front", 1, left, "door", "entry", "open")
    event(db_url, "front", 2, left + timedelta(seconds=15), "door", "entry", "closed")
    sql(db_url, "UPDATE home_state SET last_activity_at = %s WHERE home_id = 'h1'", (left + timedelta(seconds=15),))
    async with engine_for(settings_for(make_settings), FixedClock(NOW)) as engine:
        await engine.evaluate_once()
    assert [a[1] for a in alerts_of(db_url, "h1")] == ["long_absence"]
