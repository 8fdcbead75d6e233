"""The largest value of every field, for the byte limits: tests build the largest message of each
kind from these, and the protocol reference states the largest reading's size from them."""

from __future__ import annotations

from datetime import timedelta, timezone

from eldercare.contracts.codec import encode
from eldercare.contracts.payloads import LATEST_TS, DeviceKind, Metric, Reading, ReadingBatch, Room

HOME = "h" * 64
# 64-character ids, the longest enum values, 19-digit sequence numbers, microsecond timestamps with
# an offset, and floats that print with 17 significant digits.
TS = (LATEST_TS - timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=-9, minutes=-30)))
VALUE = 0.12345678901234568  # repr is 19 characters
DEVICE = "D" * 64
SEQ = 2**63 - 1


def largest_reading() -> Reading:
    return Reading(device=DEVICE, kind=DeviceKind.TEMPERATURE, seq=SEQ, ts=TS, metric=Metric.TEMPERATURE_C,
                   value=-VALUE, room=Room.LIVING_ROOM)  # fmt: skip


def largest_reading_bytes() -> int:
    """What one more of the largest reading adds to a compactly encoded readings message."""
    reading = largest_reading()
    one = encode("eldercare", ReadingBatch(home_id=HOME, readings=[reading]))[1]
    two = encode("eldercare", ReadingBatch(home_id=HOME, readings=[reading, reading]))[1]
    return len(two) - len(one)
