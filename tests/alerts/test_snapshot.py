"""What the inactivity rule reads from the database (alerts.snapshot): the kinds of activity, from
the rows ingest writes, on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from alerts.context import HomeContext
from alerts.inactivity import ActivityEvent
from alerts.presence import PresenceReport
from alerts.snapshot import activity, load_snapshot
from eldercare.clock import FixedClock
from eldercare.config import Settings
from eldercare.domain.rule_settings import DEFAULT_RULES
from tests.alerts.support import alerts_of, engine_for, healthy_home, seed_home, sql
from tests.alerts.test_engine import settings_for

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


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


def radar(db_url: str, device: str, room: str, seen: datetime) -> None:
    sql(
        db_url,
        "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at) VALUES (%s, 'h1', 'presence', %s, %s, %s)",
        (device, room, seen - timedelta(days=3), seen),
    )


async def test_a_radar_repeating_presence_is_one_sign_of_a_person_and_its_last_word_is_loaded(db_url: str) -> None:
    # A gateway that repeats the radar's presence every few minutes (a third-party one; ours reports
    # changes): only its arrival is activity, the rest is the same still person.
    centre, _ = seed_home(db_url, "h1")
    healthy_home(db_url, "h1", NOW)
    radar(db_url, "radar-living", "living_room", NOW)
    radar(db_url, "radar-bath", "bathroom", NOW)
    t = NOW - timedelta(hours=5)
    for seq in range(10):
        event(db_url, "radar-living", seq, t + timedelta(minutes=10 * seq), "presence", "living_room", "detected")
    event(db_url, "radar-bath", 1, t - timedelta(hours=1), "presence", "bathroom", "detected")
    event(db_url, "radar-bath", 2, t - timedelta(minutes=50), "presence", "bathroom", "cleared")
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        found = await activity(conn, "h1", NOW - timedelta(hours=30), NOW)
        snapshot = await load_snapshot(
            conn,
            HomeContext("h1", centre, UTC_ZONE, UTC_ZONE, None, None, None, DEFAULT_RULES, ()),
            NOW,
            relearn_after=timedelta(hours=1),
        )
    assert [(e.at, e.kind, e.device) for e in found] == [
        (t - timedelta(hours=1), "motion", "radar-bath"),
        (t, "motion", "radar-living"),
    ]
    assert sorted(snapshot.presence, key=lambda r: r.device_id) == [
        PresenceReport("radar-bath", "bathroom", "cleared", t - timedelta(minutes=50)),
        PresenceReport("radar-living", "living_room", "detected", t + timedelta(minutes=90)),
    ]


async def test_a_resident_still_for_hours_that_only_the_radar_sees_is_still_present_not_inactive(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url, "h1")
    healthy_home(db_url, "h1", NOW)
    radar(db_url, "radar-living", "living_room", NOW)
    sat = NOW - timedelta(hours=4)
    reading(db_url, "h1-m1", 1, sat - timedelta(minutes=1), "motion", 1, "living_room")
    event(db_url, "radar-living", 1, sat, "presence", "living_room", "detected")
    async with engine_for(settings_for(make_settings), FixedClock(NOW)) as engine:
        await engine.evaluate_once()
    assert [a[1:3] for a in alerts_of(db_url, "h1")] == [("still_present", "high")]
    (explanation,) = sql(db_url, "SELECT explanation_zh FROM alerts WHERE home_id = 'h1'")[0]
    assert "雷达" in explanation
