"""Ingest marks a home for the alert engine's next pass (home_state.judge_pending) when it stores
something the engine's rules read, and only then (alerts.deadlines: a quiet home costs nothing).

Through ingest's own Store on a real database, as the receiver hands it batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from eldercare.config import Settings
from eldercare.contracts.payloads import (
    DeviceHealth,
    DeviceKind,
    DoorEvent,
    EventBatch,
    Heartbeat,
    Message,
    Metric,
    Reading,
    ReadingBatch,
    Room,
)
from ingest.store import Store
from tests.ingest.support import T0, register_homes, rows
from tests.support.replay import batch_of

HOME = "home-marks"


def reading(seq: int, metric: Metric, value: float, kind: DeviceKind, device: str = "dev-1") -> ReadingBatch:
    at = T0 + timedelta(seconds=seq)
    return ReadingBatch(home_id=HOME, readings=[Reading(device=device, kind=kind, seq=seq, ts=at, metric=metric, value=value)])


def heartbeat(seq: int, **health: object) -> Heartbeat:
    device = DeviceHealth(device="pir-1", kind=DeviceKind.MOTION, room=Room.KITCHEN, **health)
    return Heartbeat(home_id=HOME, ts=T0 + timedelta(seconds=seq), uptime_s=seq, queue_depth=0, devices=[device])


async def test_what_the_rules_read_marks_the_home_and_telemetry_alone_does_not(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    register_homes(db_url, [HOME])
    settings = make_settings()
    store = Store(db_url, connect_timeout_s=10, statement_timeout_s=30)

    def marked() -> bool:
        return bool(rows(db_url, "SELECT judge_pending FROM home_state WHERE home_id = %s", (HOME,))[0][0])

    def judged() -> None:  # what the engine's judgement does
        rows(db_url, "UPDATE home_state SET judge_pending = false WHERE home_id = %s RETURNING home_id", (HOME,))

    async def write(*messages: Message) -> bool:
        await store.write(batch_of(settings, list(messages)), T0 + timedelta(minutes=5))
        was = marked()
        judged()
        return was

    try:
        assert await write(reading(1, Metric.TEMPERATURE_C, 21.0, DeviceKind.TEMPERATURE))
        assert await write(heartbeat(2, battery_pct=80.0, tamper=False, availability="online"))  # first news of the PIR's health
        assert not await write(reading(3, Metric.ACTIVITY_G, 0.2, DeviceKind.WEARABLE, "wear-1"))
        assert not await write(reading(4, Metric.ACTIVITY_G, 0.3, DeviceKind.WEARABLE, "wear-1"))  # 1 s later: no silence
        assert not await write(heartbeat(5, battery_pct=80.0, tamper=False, availability="online"))  # nothing changed
        assert await write(heartbeat(6, battery_pct=80.0, tamper=True, availability="online"))  # the cover came off
        assert await write(heartbeat(7, battery_pct=79.0, tamper=True, availability="online"))
        # The wearable again after 20 min: it may have been judged offline meanwhile.
        assert await write(reading(1_200, Metric.ACTIVITY_G, 0.2, DeviceKind.WEARABLE, "wear-1"))
        door = DoorEvent(
            type="door", device="door-1", kind=DeviceKind.DOOR, seq=1, ts=T0 + timedelta(seconds=1_300), state="open"
        )
        assert await write(EventBatch(home_id=HOME, events=[door]))
        assert await write(reading(1_301, Metric.MOTION, 1, DeviceKind.MOTION, "pir-1"))
    finally:
        await store.close()
