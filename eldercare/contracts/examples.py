"""One valid example of every message kind: for the protocol reference and for tests."""

from __future__ import annotations

from datetime import UTC, datetime

from eldercare.contracts.payloads import (
    CommitAck,
    DeadLetteredRange,
    DeviceAssignment,
    DeviceHealth,
    DeviceKind,
    DoorEvent,
    EventBatch,
    FallEvent,
    FallEvidence,
    GatewayConfig,
    GatewayStatus,
    Heartbeat,
    Message,
    Metric,
    Reading,
    ReadingBatch,
    Room,
    SeqRange,
    SosEvent,
)
from eldercare.contracts.topics import MessageKind

_T = datetime(2026, 3, 1, 7, 30, 0, tzinfo=UTC)
HOME = "home-0001"


def examples() -> dict[MessageKind, Message]:
    return {
        MessageKind.READINGS: ReadingBatch(
            home_id=HOME,
            readings=[
                Reading(
                    device="pir-kitchen",
                    kind=DeviceKind.MOTION,
                    seq=1041,
                    ts=_T,
                    metric=Metric.MOTION,
                    value=1,
                    room=Room.KITCHEN,
                ),
                Reading(
                    device="door-front", kind=DeviceKind.DOOR, seq=77, ts=_T, metric=Metric.DOOR_OPEN, value=0, room=Room.ENTRY
                ),
                Reading(
                    device="temp-living", kind=DeviceKind.TEMPERATURE, seq=5120, ts=_T, metric=Metric.TEMPERATURE_C, value=19.5
                ),
                Reading(
                    device="plug-kettle",
                    kind=DeviceKind.PLUG,
                    seq=310,
                    ts=_T,
                    metric=Metric.POWER_W,
                    value=1850.0,
                    room=Room.KITCHEN,
                ),
            ],
        ),
        MessageKind.EVENTS: EventBatch(
            home_id=HOME,
            events=[
                FallEvent(
                    device="wearable-1",
                    kind=DeviceKind.WEARABLE,
                    seq=90211,
                    ts=_T,
                    type="fall",
                    confidence=0.93,
                    evidence=FallEvidence(peak_g=4.2, orientation_change_deg=78.0, stillness_g=0.04, free_fall_min_g=0.31),
                ),
                SosEvent(device="sos-1", kind=DeviceKind.SOS_BUTTON, seq=12, ts=_T, type="sos", press="single"),
                DoorEvent(device="door-front", kind=DeviceKind.DOOR, seq=78, ts=_T, type="door", state="open", room=Room.ENTRY),
            ],
        ),
        MessageKind.STATUS: GatewayStatus(home_id=HOME, state="online", ts=_T, reason="connected", agent_version="0.1.0"),
        MessageKind.HEARTBEAT: Heartbeat(
            home_id=HOME,
            ts=_T,
            uptime_s=86_400.0,
            queue_depth=0,
            devices=[
                DeviceHealth(
                    device="pir-kitchen", kind=DeviceKind.MOTION, room=Room.KITCHEN, battery_pct=87, signal_lqi=120, last_seen=_T
                )
            ],
        ),
        MessageKind.CONFIG: GatewayConfig(
            home_id=HOME,
            revision=3,
            ts=_T,
            timezone="Asia/Shanghai",
            heartbeat_interval_s=300,
            devices=[DeviceAssignment(device="pir-kitchen", kind=DeviceKind.MOTION, room=Room.KITCHEN)],
        ),
        MessageKind.ACK: CommitAck(
            home_id=HOME,
            ts=_T,
            committed=[
                SeqRange(device="pir-kitchen", first=1041, last=1041),
                SeqRange(device="temp-living", first=5100, last=5120),
                SeqRange(device="sos-1", first=12, last=12),
            ],
            dead_lettered=[DeadLetteredRange(device="door-front", first=77, last=78, reason="ts_in_future")],
        ),
    }
