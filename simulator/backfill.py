"""``eldercare simulate backfill``: weeks of routine history, written straight into the database.

Why not publish it through ingest: four weeks of one home are ~35,000 readings; for a thousand
homes that is tens of millions of rows, and MQTT decoding in Python (~10-20k messages/s on these
machines) would take hours, while binary COPY into a staging table and one
``INSERT ... ON CONFLICT DO NOTHING`` writes ~170k rows/s. History needs no delivery guarantees
(nobody is waiting for an alert from last month), only the same rows ingest would have written.

The rows are the same routine the live simulator plays (same seed, same days), with two
shortcuts, stated plainly: the wearable's ``activity_g`` is drawn per minute from the activity
(sitting, walking) instead of being computed from raw samples, and no heartbeats or gateway
statuses are written. Sequence numbers of history are ``HISTORY_SEQ_BASE`` + the reading's time
in milliseconds, so they are deterministic (re-running the same backfill inserts nothing twice)
and never meet the live agents' counters, which start at 0. Afterwards the hourly activity
roll-up is refreshed and stored routine models of these residents are dropped, so the alert
engine relearns from the new history at its next evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from eldercare import logs
from eldercare.config import Settings
from eldercare.contracts.payloads import DeviceKind, Metric, Room
from simulator.home import BATTERY_DEVICES, HAZARD_KIT, KETTLE, THERMOMETER
from simulator.registry import register
from simulator.routine import MOTION_ROOMS, Bed, Door, Motion, Power, Profile, Wear, home_rng, routine, temperature_at

log = logs.get("simulator")
HISTORY_SEQ_BASE = 10**13
ReadingRow = tuple[str, str, int, datetime, str, float, str | None]
EventRow = tuple[str, str, int, datetime, str, str | None, str]

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS sim_readings (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS sim_events (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
"""
_COPY_READINGS = "COPY sim_readings (home_id, device_id, seq, ts, metric, value, room) FROM STDIN"
_COPY_EVENTS = "COPY sim_events (home_id, device_id, seq, ts, type, room, data) FROM STDIN"
_MOVE_READINGS = "INSERT INTO readings SELECT * FROM sim_readings ON CONFLICT DO NOTHING"
_MOVE_EVENTS = "INSERT INTO events SELECT * FROM sim_events ON CONFLICT DO NOTHING"
_DEVICES = """
INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT (id) DO UPDATE SET first_seen_at = LEAST(devices.first_seen_at, EXCLUDED.first_seen_at),
                               last_seen_at = GREATEST(devices.last_seen_at, EXCLUDED.last_seen_at)
"""
_FORGET_ROUTINES = "DELETE FROM routine_models WHERE resident_id IN (SELECT id FROM residents WHERE home_id = ANY(%s))"
_FLAVOUR = "SELECT variant FROM schema_migrations WHERE version = 2"


@dataclass
class BackfillReport:
    homes: int
    readings: int = 0
    events: int = 0


def device_id(home_id: str, name: str) -> str:
    """The id the edge's SimulatedDriver gives the same device (``<home id>:<name>``)."""
    return f"{home_id}:{name}"


def _seq(ts: datetime) -> int:
    return HISTORY_SEQ_BASE + int(ts.timestamp() * 1000)


def home_history(
    home_id: str, index: int, seed: int, zone: ZoneInfo, start: datetime, end: datetime
) -> tuple[list[ReadingRow], list[EventRow]]:
    """Every reading and event of one home in [start, end)."""
    profile = Profile.draw(home_rng(seed, index, None, "profile"))
    rng = home_rng(seed, index, None, "backfill")
    readings: list[ReadingRow] = []
    events: list[EventRow] = []
    for at, emission in routine(profile, seed, index, start, zone):
        if at >= end:
            break
        if isinstance(emission, Motion):
            readings.append(_r(home_id, f"pir-{emission.room.value}", at, Metric.MOTION, float(emission.on), emission.room))
        elif isinstance(emission, Door):
            readings.append(_r(home_id, "door-entry", at, Metric.DOOR_OPEN, float(emission.open), Room.ENTRY))
            events.append(_e(home_id, "door-entry", at, "door", Room.ENTRY, "open" if emission.open else "closed"))
        elif isinstance(emission, Bed):
            readings.append(_r(home_id, "bed-1", at, Metric.BED_OCCUPIED, float(emission.occupied), Room.BEDROOM))
            events.append(_e(home_id, "bed-1", at, "bed", Room.BEDROOM, "occupied" if emission.occupied else "vacated"))
        elif isinstance(emission, Power):
            readings.append(_r(home_id, KETTLE, at, Metric.POWER_W, emission.watts, Room.KITCHEN))
        elif isinstance(emission, Wear):
            level = rng.uniform(0.2, 0.3) if emission.activity == "walking" else rng.uniform(0.015, 0.035)
            readings.append(_r(home_id, "wearable-1", at, Metric.ACTIVITY_G, round(level, 4), None))
    for at in _every(start, end, 600.0):
        celsius = temperature_at(profile, at, zone, rng)
        readings.append(_r(home_id, THERMOMETER, at, Metric.TEMPERATURE_C, celsius, Room.LIVING_ROOM))
    return readings, events


def _r(home_id: str, name: str, at: datetime, metric: Metric, value: float, room: Room | None) -> ReadingRow:
    return (home_id, device_id(home_id, name), _seq(at), at, metric.value, value, room.value if room else None)


def _e(home_id: str, name: str, at: datetime, kind: str, room: Room, state: str) -> EventRow:
    return (home_id, device_id(home_id, name), _seq(at), at, kind, room.value, json.dumps({"state": state}))


def _every(start: datetime, end: datetime, seconds: float) -> Iterator[datetime]:
    at = start
    while at < end:
        yield at
        at += timedelta(seconds=seconds)


def _device_rows(home_ids: list[str], start: datetime, end: datetime) -> list[list[Any]]:
    kinds: list[tuple[str, DeviceKind, Room | None]] = [(f"pir-{r.value}", DeviceKind.MOTION, r) for r in MOTION_ROOMS]
    kinds += [
        ("door-entry", DeviceKind.DOOR, Room.ENTRY),
        ("bed-1", DeviceKind.BED, Room.BEDROOM),
        ("wearable-1", DeviceKind.WEARABLE, None),
        ("sos-1", DeviceKind.SOS_BUTTON, None),
        (KETTLE, DeviceKind.PLUG, Room.KITCHEN),
        (THERMOMETER, DeviceKind.TEMPERATURE, Room.LIVING_ROOM),
        *((name, kind, room) for name, (kind, room) in HAZARD_KIT.items()),
    ]
    assert {name for name, _, _ in kinds} >= set(BATTERY_DEVICES)
    rows = [
        (device_id(h, name), h, kind.value, room.value if room else None, start, end)
        for h in home_ids
        for name, kind, room in kinds
    ]
    return [list(column) for column in zip(*rows, strict=True)]


async def backfill(settings: Settings, *, days: float, end: datetime, homes: int, batch_homes: int = 20) -> BackfillReport:
    """Write ``days`` of history ending at ``end`` for the first ``homes`` simulated homes."""
    sim = settings.simulator
    zone = ZoneInfo(sim.timezone)
    start = end - timedelta(days=days)
    ids = [f"{sim.home_prefix}-{i:05d}" for i in range(homes)]
    await register(settings, ids, now=start, credentials=False)  # rows only: running gateways keep their passwords
    report = BackfillReport(homes=homes)
    async with await psycopg.AsyncConnection.connect(settings.database_url, connect_timeout=10) as conn:
        await conn.execute(_DEVICES, _device_rows(ids, start, end))
        await conn.commit()
        for first in range(0, homes, batch_homes):
            chunk = list(enumerate(ids))[first : first + batch_homes]
            await _write_chunk(conn, chunk, sim.seed, zone, start, end, report)
            done = min(first + batch_homes, homes)
            log.info("simulator_backfill_progress", homes_done=done, homes=homes, readings=report.readings)
        await _refresh(conn, ids, start, end)
    log.info("simulator_backfill_done", homes=homes, readings=report.readings, events=report.events, days=days)
    return report


async def _write_chunk(
    conn: psycopg.AsyncConnection[Any],
    chunk: list[tuple[int, str]],
    seed: int,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    report: BackfillReport,
) -> None:
    await conn.execute(_STAGE)
    async with conn.cursor() as cur:
        for index, home_id in chunk:
            readings, events = home_history(home_id, index, seed, zone, start, end)
            async with cur.copy(_COPY_READINGS) as copy:
                for row in readings:
                    await copy.write_row(row)
            async with cur.copy(_COPY_EVENTS) as copy:
                for event in events:
                    await copy.write_row(event)
            report.readings += len(readings)
            report.events += len(events)
        await cur.execute(_MOVE_READINGS)
        await cur.execute(_MOVE_EVENTS)
    await conn.commit()


async def _refresh(conn: psycopg.AsyncConnection[Any], ids: list[str], start: datetime, end: datetime) -> None:
    row = await (await conn.execute(_FLAVOUR)).fetchone()
    await conn.execute(_FORGET_ROUTINES, (ids,))
    await conn.commit()
    if row is not None and row[0] == "timescaledb":
        await conn.set_autocommit(True)  # a continuous aggregate refreshes outside any transaction
        await conn.execute("CALL refresh_continuous_aggregate('activity_hourly', %s, %s)", (start, end))
        await conn.set_autocommit(False)
    else:
        await conn.execute("SELECT refresh_activity_hourly(%s, %s)", (start, end))
        await conn.commit()
