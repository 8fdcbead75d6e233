"""Payload models of contract v1: what each topic kind carries, as JSON.

Models are strict about shape (unknown fields are refused), about types (a JSON number where the
schema says number, an integer where it says integer: ``"12"`` and ``true`` are refused, never
coerced) and about values (finite numbers, timezone-aware timestamps between 2000 and 2100, ranges
per metric), because everything here arrives from outside.
``docs/protocol.md`` is generated from these classes; edit them, then run
``eldercare contracts docs --write``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from eldercare.contracts.topics import HOME_ID_PATTERN, MessageKind

HomeId = Annotated[str, StringConstraints(pattern=HOME_ID_PATTERN)]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-:.]{0,63}$")]
#: Absolute bounds of every timestamp, whatever the receive time (the receiver also applies a window
#: around its own clock): keeps every conversion to UTC, in any offset, inside Python's range.
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TS = datetime(2100, 1, 1, tzinfo=UTC)
#: Strict types: pydantic's default (lax) mode would take "12" for an integer and true for a number.
Number = Annotated[float, Strict()]
Integer = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
Timestamp = Annotated[datetime, AwareDatetime, Strict(), Field(ge=EARLIEST_TS, lt=LATEST_TS)]
Sequence = Annotated[int, Strict(), Field(ge=0, le=2**63 - 1)]

#: Counts per message, chosen so that the largest possible message of each kind, encoded compactly,
#: fits in the codec's MAX_PAYLOAD_BYTES (tests/contracts/test_limits.py builds it and checks).
MAX_READINGS_PER_MESSAGE = 1_000
MAX_EVENTS_PER_MESSAGE = 500
MAX_DEVICES_PER_HEARTBEAT = 256


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DeviceKind(StrEnum):
    MOTION = "motion"
    DOOR = "door"
    BED = "bed"
    WEARABLE = "wearable"
    SOS_BUTTON = "sos_button"
    PLUG = "plug"
    TEMPERATURE = "temperature"
    # Home-safety alarms (zigbee2mqtt's smoke, gas, carbon_monoxide and water_leak exposes). A
    # combined model (a gas and CO alarm) is one device of either kind reporting both hazards.
    SMOKE = "smoke"
    GAS = "gas"
    CO = "co"
    WATER_LEAK = "water_leak"
    # An mmWave presence radar: sees a person who sits or lies still (zigbee2mqtt's presence,
    # occupancy, presence_state or motion_state exposes); some models also report falls.
    PRESENCE = "presence"


class Hazard(StrEnum):
    """What a home-safety alarm detects; each is an alert kind of the same name."""

    SMOKE = "smoke"
    GAS = "gas"  # combustible gas (natural gas, LPG)
    CO = "co"  # carbon monoxide
    WATER_LEAK = "water_leak"


#: The device kinds that are home-safety alarms.
HAZARD_KINDS = frozenset({DeviceKind.SMOKE, DeviceKind.GAS, DeviceKind.CO, DeviceKind.WATER_LEAK})


class Room(StrEnum):
    BEDROOM = "bedroom"
    BATHROOM = "bathroom"
    KITCHEN = "kitchen"
    LIVING_ROOM = "living_room"
    DINING_ROOM = "dining_room"
    HALLWAY = "hallway"
    ENTRY = "entry"
    OTHER = "other"


class Metric(StrEnum):
    """What a reading measures, and in which unit (the suffix)."""

    MOTION = "motion"  # 1 motion seen, 0 cleared
    DOOR_OPEN = "door_open"  # 1 open, 0 closed
    BED_OCCUPIED = "bed_occupied"  # 1 someone in bed, 0 empty
    TEMPERATURE_C = "temperature_c"
    HUMIDITY_PCT = "humidity_pct"
    POWER_W = "power_w"
    ENERGY_KWH = "energy_kwh"
    BATTERY_PCT = "battery_pct"
    ACTIVITY_G = "activity_g"  # wearable: RMS of acceleration minus gravity over the batch window


#: Inclusive value range per metric; binary metrics take exactly 0 or 1.
METRIC_RANGES: dict[Metric, tuple[float, float]] = {
    Metric.MOTION: (0, 1),
    Metric.DOOR_OPEN: (0, 1),
    Metric.BED_OCCUPIED: (0, 1),
    Metric.TEMPERATURE_C: (-60, 100),
    Metric.HUMIDITY_PCT: (0, 100),
    Metric.POWER_W: (0, 100_000),
    Metric.ENERGY_KWH: (0, 1e9),
    Metric.BATTERY_PCT: (0, 100),
    Metric.ACTIVITY_G: (0, 64),
}
BINARY_METRICS = frozenset({Metric.MOTION, Metric.DOOR_OPEN, Metric.BED_OCCUPIED})


class Reading(_Model):
    """One measurement. (device, seq) is unique forever: the platform deduplicates on it."""

    device: DeviceId = Field(description="device id, unique across the whole platform")
    kind: DeviceKind = Field(description="what the device is; registers the device on first sight")
    seq: Sequence = Field(description="per-device sequence number, strictly increasing, survives gateway restarts")
    ts: Timestamp = Field(description="when it was measured, RFC 3339 with offset")
    metric: Metric
    value: Number
    room: Room | None = Field(default=None, description="where the device is installed, when known")

    @model_validator(mode="after")
    def _value_in_range(self) -> Reading:
        low, high = METRIC_RANGES[self.metric]
        if not low <= self.value <= high:
            raise ValueError(f"value {self.value} out of range [{low:g}, {high:g}] for metric {self.metric.value}")
        if self.metric in BINARY_METRICS and self.value not in (0.0, 1.0):
            raise ValueError(f"metric {self.metric.value} takes 0 or 1")
        return self


class ReadingBatch(_Model):
    """Topic kind ``readings``: a batch of readings from one gateway, QoS 1, not retained."""

    home_id: HomeId
    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)


class FallEvidence(_Model):
    """Why the gateway believes this was a fall (computed on the wearable's accelerometer)."""

    peak_g: Number = Field(ge=0, le=64, description="peak acceleration magnitude at impact, in g")
    orientation_change_deg: Number = Field(ge=0, le=180, description="body tilt after vs before the impact")
    stillness_g: Number = Field(ge=0, le=64, description="movement (std of magnitude, g) after the impact")
    free_fall_min_g: Number | None = Field(default=None, ge=0, le=64, description="lowest magnitude before impact")


class _EventBase(_Model):
    device: DeviceId
    kind: DeviceKind
    seq: Sequence
    ts: Timestamp
    room: Room | None = None


class RadarFallEvidence(_Model):
    """Why the gateway reports a fall seen by an mmWave radar: the radar's own fall report."""

    source: Literal["radar"]
    status: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="the radar's fall status as it reported it (zigbee2mqtt's fall_down_status, e.g. fall)"
    )
    target_distance_m: Number | None = Field(default=None, ge=0, le=50, description="distance to the person, when reported")


class FallEvent(_EventBase):
    type: Literal["fall"]
    confidence: Number = Field(ge=0, le=1)
    evidence: FallEvidence | RadarFallEvidence


class SosEvent(_EventBase):
    type: Literal["sos"]
    press: Literal["single", "double", "long"] = "single"


class DoorEvent(_EventBase):
    type: Literal["door"]
    state: Literal["open", "closed"]


class BedEvent(_EventBase):
    type: Literal["bed"]
    state: Literal["occupied", "vacated"]


class PresenceEvent(_EventBase):
    type: Literal["presence"]
    state: Literal["detected", "cleared"]


class HazardEvent(_EventBase):
    """A home-safety alarm changed state: sent when it starts (``detected``) and when it stops
    (``cleared``); an alarm that keeps reporting the same state sends nothing more."""

    type: Literal["hazard"]
    hazard: Hazard
    state: Literal["detected", "cleared"]


Event = Annotated[FallEvent | SosEvent | DoorEvent | BedEvent | PresenceEvent | HazardEvent, Field(discriminator="type")]
#: Event types that may be a call for help or a danger: never refused for a wrong clock
#: (eldercare.contracts.window), and judged in the alert engine's urgent lane.
ALARM_EVENTS = frozenset({"sos", "fall", "hazard"})


class EventBatch(_Model):
    """Topic kind ``events``: sent at once when something happens, QoS 1, not retained."""

    home_id: HomeId
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS_PER_MESSAGE)


class GatewayStatus(_Model):
    """Topic kind ``status``: retained. ``online`` after connecting; ``offline`` as last will and on shutdown.

    A session's ``online`` status and its last will carry the same ``ts``, the session's start: a will
    whose ``ts`` is older than the ``online`` status the platform holds is an earlier session's, and is
    ignored (the platform dates an accepted will by its arrival).
    """

    home_id: HomeId
    state: Literal["online", "offline"]
    ts: Timestamp
    reason: Literal["connected", "shutdown", "connection_lost"] | None = None
    agent_version: Annotated[str, StringConstraints(max_length=32)] | None = None


Availability = Literal["online", "offline"]


class DeviceHealth(_Model):
    device: DeviceId
    kind: DeviceKind
    room: Room | None = None
    battery_pct: Number | None = Field(default=None, ge=0, le=100)
    signal_lqi: Integer | None = Field(default=None, ge=0, le=255, description="link quality, 0-255 (Zigbee LQI)")
    last_seen: Timestamp | None = None
    battery_low: Flag | None = Field(default=None, description="the device's own low-battery flag (IAS zone status)")
    tamper: Flag | None = Field(
        default=None, description="the device's own tamper switch: its cover is open or it was taken down"
    )
    availability: Availability | None = Field(
        default=None,
        description="what the gateway's device network (zigbee2mqtt's availability) says of the device; None: not tracked",
    )


class Heartbeat(_Model):
    """Topic kind ``heartbeat``: periodic health of the gateway and of every device it knows."""

    home_id: HomeId
    ts: Timestamp
    uptime_s: Number = Field(ge=0)
    queue_depth: Integer = Field(ge=0, description="messages waiting in the gateway's disk queue")
    devices: list[DeviceHealth] = Field(default_factory=list, max_length=MAX_DEVICES_PER_HEARTBEAT)


class DeviceAssignment(_Model):
    device: DeviceId
    kind: DeviceKind
    room: Room | None = None


class GatewayConfig(_Model):
    """Topic kind ``config``: platform to gateway, retained; the gateway applies the highest revision."""

    home_id: HomeId
    revision: Integer = Field(ge=0, description="increases with every change; apply a config only if it is above the last")
    ts: Timestamp = Field(description="when the platform built this revision")
    timezone: Annotated[str, StringConstraints(max_length=64)] = Field(
        default="UTC", description="the home's IANA timezone, for anything the gateway shows locally; timestamps stay UTC"
    )
    heartbeat_interval_s: Number = Field(default=300, gt=0, le=86_400, description="send a heartbeat this often")
    batch_max_readings: Integer = Field(
        default=200, ge=1, le=MAX_READINGS_PER_MESSAGE, description="seal a readings message at this many readings"
    )
    batch_max_delay_s: Number = Field(
        default=2.0, gt=0, le=600, description="... or this long after its first reading, whichever comes first"
    )
    fall_detection_enabled: Flag = Field(
        default=True, description="detect falls on the wearables' accelerometers (the resident's fall rule)"
    )
    devices: list[DeviceAssignment] = Field(
        default_factory=list,
        max_length=MAX_DEVICES_PER_HEARTBEAT,
        description="the home's devices as the platform knows them; their room wins over the gateway's own",
    )


#: Ranges of each list of a commit acknowledgement (eldercare/contracts/acks.py splits a longer one): 500 of
#: each, with 64-character devices, 19-digit numbers and the longest reason, fit MAX_PAYLOAD_BYTES.
MAX_ACK_RANGES = 500
RejectReasonName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]


class SeqRange(_Model):
    device: DeviceId
    first: Sequence
    last: Sequence

    @model_validator(mode="after")
    def _ordered(self) -> SeqRange:
        if self.last < self.first:
            raise ValueError(f"last {self.last} is below first {self.first}")
        return self


class DeadLetteredRange(SeqRange):
    reason: RejectReasonName = Field(description="the dead-letter reason (see What happens to a bad message)")


class CommitAck(_Model):
    """Topic kind ``ack``: platform to gateway, QoS 0, not retained. Sent by ingest after a batch commits:
    every reading and event of this home in the batch, as per-device ranges of `seq`, either stored
    (`committed`, including those stored before: a resend) or dead-lettered with the reason. Optional
    for a gateway (see Commit acknowledgement)."""

    home_id: HomeId
    ts: Timestamp
    committed: list[SeqRange] = Field(default_factory=list, max_length=MAX_ACK_RANGES)
    dead_lettered: list[DeadLetteredRange] = Field(default_factory=list, max_length=MAX_ACK_RANGES)


Message = ReadingBatch | EventBatch | GatewayStatus | Heartbeat | GatewayConfig | CommitAck

MODEL_BY_KIND: dict[MessageKind, type[Message]] = {
    MessageKind.READINGS: ReadingBatch,
    MessageKind.EVENTS: EventBatch,
    MessageKind.STATUS: GatewayStatus,
    MessageKind.HEARTBEAT: Heartbeat,
    MessageKind.CONFIG: GatewayConfig,
    MessageKind.ACK: CommitAck,
}
KIND_BY_MODEL: dict[type[Message], MessageKind] = {model: kind for kind, model in MODEL_BY_KIND.items()}

#: QoS and retain flag per kind, which every publisher must use.
DELIVERY: dict[MessageKind, tuple[int, bool]] = {
    MessageKind.READINGS: (1, False),
    MessageKind.EVENTS: (1, False),
    MessageKind.STATUS: (1, True),
    MessageKind.HEARTBEAT: (1, False),
    MessageKind.CONFIG: (1, True),
    # An acknowledgement lost on the way costs a resend, never data: no broker queue for an offline gateway.
    MessageKind.ACK: (0, False),
}
