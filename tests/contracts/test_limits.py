"""The documented maxima are reachable: the largest message of each kind fits the byte limit.

Once the contract allowed 5,000 readings per message while its 262,144-byte limit held about 1,600.
"""

from __future__ import annotations

from datetime import timedelta, timezone

from eldercare.contracts import Decoded, decode, encode
from eldercare.contracts.codec import MAX_PAYLOAD_BYTES
from eldercare.contracts.payloads import (
    LATEST_TS,
    MAX_DEVICES_PER_HEARTBEAT,
    MAX_EVENTS_PER_MESSAGE,
    MAX_READINGS_PER_MESSAGE,
    DeviceHealth,
    DeviceKind,
    EventBatch,
    FallEvent,
    FallEvidence,
    Heartbeat,
    Metric,
    Reading,
    ReadingBatch,
    Room,
)

HOME = "h" * 64
# The longest value of every field: 64-character ids, the longest enum values, 19-digit sequence
# numbers, microsecond timestamps with an offset, and floats that print with 17 significant digits.
TS = (LATEST_TS - timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=-9, minutes=-30)))
VALUE = 0.12345678901234568  # repr is 19 characters
DEVICE = "D" * 64
SEQ = 2**63 - 1


def _fits(message: ReadingBatch | EventBatch | Heartbeat) -> int:
    topic, payload = encode("eldercare", message)
    assert len(payload) <= MAX_PAYLOAD_BYTES, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}"
    assert isinstance(decode(topic, payload), Decoded)
    return len(payload)


def test_the_largest_readings_message_fits() -> None:
    reading = Reading(device=DEVICE, kind=DeviceKind.TEMPERATURE, seq=SEQ, ts=TS, metric=Metric.TEMPERATURE_C,
                      value=-VALUE, room=Room.LIVING_ROOM)  # fmt: skip
    _fits(ReadingBatch(home_id=HOME, readings=[reading] * MAX_READINGS_PER_MESSAGE))


def test_the_largest_events_message_fits() -> None:
    evidence = FallEvidence(peak_g=VALUE, orientation_change_deg=VALUE, stillness_g=VALUE, free_fall_min_g=VALUE)
    fall = FallEvent(device=DEVICE, kind=DeviceKind.WEARABLE, seq=SEQ, ts=TS, room=Room.LIVING_ROOM, type="fall",
                     confidence=VALUE, evidence=evidence)  # fmt: skip
    _fits(EventBatch(home_id=HOME, events=[fall] * MAX_EVENTS_PER_MESSAGE))


def test_the_largest_heartbeat_fits() -> None:
    health = DeviceHealth(device=DEVICE, kind=DeviceKind.TEMPERATURE, room=Room.LIVING_ROOM, battery_pct=VALUE,
                          signal_lqi=255, last_seen=TS)  # fmt: skip
    _fits(Heartbeat(home_id=HOME, ts=TS, uptime_s=1e300, queue_depth=SEQ, devices=[health] * MAX_DEVICES_PER_HEARTBEAT))
