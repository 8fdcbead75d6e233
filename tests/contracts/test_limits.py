"""The documented maxima are reachable: the largest message of each kind fits the byte limit.

Once the contract allowed 5,000 readings per message while its 262,144-byte limit held about 1,600.
"""

from __future__ import annotations

from eldercare.contracts import Decoded, decode, encode
from eldercare.contracts.codec import MAX_PAYLOAD_BYTES
from eldercare.contracts.extremes import DEVICE, HOME, SEQ, TS, VALUE, largest_reading, largest_reading_bytes
from eldercare.contracts.payloads import (
    MAX_DEVICES_PER_HEARTBEAT,
    MAX_EVENTS_PER_MESSAGE,
    MAX_READINGS_PER_MESSAGE,
    DeviceHealth,
    DeviceKind,
    EventBatch,
    FallEvent,
    FallEvidence,
    Heartbeat,
    ReadingBatch,
    Room,
)


def _fits(message: ReadingBatch | EventBatch | Heartbeat) -> int:
    topic, payload = encode("eldercare", message)
    assert len(payload) <= MAX_PAYLOAD_BYTES, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}"
    assert isinstance(decode(topic, payload), Decoded)
    return len(payload)


def test_the_largest_readings_message_fits() -> None:
    _fits(ReadingBatch(home_id=HOME, readings=[largest_reading()] * MAX_READINGS_PER_MESSAGE))


def test_the_documented_size_of_the_largest_reading_is_what_it_adds() -> None:
    per_reading = largest_reading_bytes()
    size = _fits(ReadingBatch(home_id=HOME, readings=[largest_reading()] * MAX_READINGS_PER_MESSAGE))
    assert size - per_reading * MAX_READINGS_PER_MESSAGE < 100  # the envelope: home id and braces


def test_the_largest_events_message_fits() -> None:
    evidence = FallEvidence(peak_g=VALUE, orientation_change_deg=VALUE, stillness_g=VALUE, free_fall_min_g=VALUE)
    fall = FallEvent(device=DEVICE, kind=DeviceKind.WEARABLE, seq=SEQ, ts=TS, room=Room.LIVING_ROOM, type="fall",
                     confidence=VALUE, evidence=evidence)  # fmt: skip
    _fits(EventBatch(home_id=HOME, events=[fall] * MAX_EVENTS_PER_MESSAGE))


def test_the_largest_heartbeat_fits() -> None:
    health = DeviceHealth(device=DEVICE, kind=DeviceKind.TEMPERATURE, room=Room.LIVING_ROOM, battery_pct=VALUE,
                          signal_lqi=255, last_seen=TS)  # fmt: skip
    _fits(Heartbeat(home_id=HOME, ts=TS, uptime_s=1e300, queue_depth=SEQ, devices=[health] * MAX_DEVICES_PER_HEARTBEAT))
