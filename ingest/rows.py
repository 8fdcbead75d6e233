"""From accepted contract messages to database rows and state updates: pure, no I/O.

The writer calls :func:`build_rows` once per batch, after deciding which messages are accepted.
Latest state is reduced here (one update per device and per home per batch), so the database does
one set-based statement per table instead of one per reading.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from operator import attrgetter

from eldercare.contracts.payloads import (
    DeviceHealth,
    DeviceKind,
    EventBatch,
    GatewayStatus,
    Heartbeat,
    Message,
    Metric,
    ReadingBatch,
    Room,
)
from eldercare.domain.activity import PERSON_METRICS, PLUG_ACTIVITY_W

_EVENT_COMMON = frozenset({"device", "kind", "seq", "ts", "room", "type"})
_TS = attrgetter("ts")
_MAX_SPAN_HOURS = 48
# Plain str values of the vocabulary enums (a dict lookup is cheaper than the ``.value`` property).
_VALUE: dict[StrEnum, str] = {member: member.value for enum in (Metric, Room, DeviceKind) for member in enum}

ReadingRow = tuple[str, str, int, datetime, Metric, float, Room | None]
EventRow = tuple[str, str, int, datetime, str, str | None, str]


@dataclass(slots=True)
class DeviceUpdate:
    """What one batch says about one device; merged into ``devices`` with newest-wins rules."""

    device_id: str
    home_id: str
    kind: str
    first_seen_at: datetime  # of the first message naming it in this batch: registration time
    seen_at: datetime | None = None  # from events and heartbeats; readings count through value_at
    room: str | None = None
    battery_pct: float | None = None
    battery_at: datetime | None = None
    signal_lqi: int | None = None
    battery_low: bool | None = None  # the device's own flags, from heartbeats (None: not reported)
    tamper: bool | None = None
    availability: str | None = None  # what the gateway's device network says (heartbeat), and when
    availability_at: datetime | None = None
    metric: str | None = None
    value: float | None = None
    value_at: datetime | None = None

    def saw(self, ts: datetime, room: str | None) -> None:
        self.first_seen_at = min(self.first_seen_at, ts)
        if self.seen_at is None or ts >= self.seen_at:
            self.seen_at = ts
            self.room = room or self.room


@dataclass(slots=True)
class HomeUpdate:
    """What one batch says about one home's activity and gateway health."""

    home_id: str
    activity_at: datetime | None = None
    motion_at: datetime | None = None
    motion_room: str | None = None
    door_at: datetime | None = None
    door_state: str | None = None
    heartbeat_at: datetime | None = None
    queue_depth: int | None = None
    clock_offset_s: float | None = None  # the newest heartbeat's ts minus its receive time
    # Something the alert engine's rules read arrived: it judges the home at its next pass
    # (home_state.judge_pending). See _UNJUDGED_METRICS; a heartbeat marks the home only when it
    # changes a device's battery, flags or availability (store.py).
    judge: bool = False

    def activity(self, ts: datetime) -> None:
        if self.activity_at is None or ts > self.activity_at:
            self.activity_at = ts

    def motion(self, ts: datetime, room: str | None) -> None:
        self.activity(ts)
        if self.motion_at is None or ts >= self.motion_at:
            self.motion_at, self.motion_room = ts, room

    def door(self, ts: datetime, state: str) -> None:
        self.activity(ts)
        if self.door_at is None or ts >= self.door_at:
            self.door_at, self.door_state = ts, state

    def heartbeat(self, ts: datetime, queue_depth: int, received_at: datetime) -> None:
        offset_s = (ts - received_at).total_seconds()
        ts = min(ts, received_at)
        if self.heartbeat_at is None or ts >= self.heartbeat_at:
            self.heartbeat_at, self.queue_depth, self.clock_offset_s = ts, queue_depth, offset_s


@dataclass
class Rows:
    readings: list[ReadingRow] = field(default_factory=list)
    hours: set[int] = field(default_factory=set)  # UNIX hours (seconds // 3600) the readings touch
    events: list[EventRow] = field(default_factory=list)
    statuses: list[GatewayStatus] = field(default_factory=list)  # arrival order
    devices: dict[str, DeviceUpdate] = field(default_factory=dict)
    homes: dict[str, HomeUpdate] = field(default_factory=dict)

    def device(self, device_id: str, home_id: str, kind: str, ts: datetime) -> DeviceUpdate:
        update = self.devices.get(device_id)
        if update is None:
            update = self.devices[device_id] = DeviceUpdate(device_id, home_id, kind, first_seen_at=ts)
        return update

    def home(self, home_id: str) -> HomeUpdate:
        update = self.homes.get(home_id)
        if update is None:
            update = self.homes[home_id] = HomeUpdate(home_id)
        return update


#: Telemetry no periodic rule reads (alerts.snapshot): a batch of only these does not mark the home
#: for judging. Its device's liveness deadline is read again when the home is next judged (its
#: moment of concern, other input, or alerts.deadline_recheck_s at the latest).
_UNJUDGED_METRICS = frozenset({Metric.ACTIVITY_G, Metric.HUMIDITY_PCT, Metric.ENERGY_KWH})


def build_rows(messages: Iterable[Message], received_at: datetime) -> Rows:
    """Rows and state updates of accepted messages; ``received_at`` dates the gateways' clock offsets."""
    rows = Rows()
    for message in messages:
        if isinstance(message, ReadingBatch):
            _add_readings(rows, message)
        elif isinstance(message, EventBatch):
            _add_events(rows, message)
        elif isinstance(message, GatewayStatus):
            rows.statuses.append(message)
            rows.home(message.home_id)  # locked with the others, in order (see store.py)
        elif isinstance(message, Heartbeat):
            _add_heartbeat(rows, message, received_at)
    return rows


def _add_readings(rows: Rows, batch: ReadingBatch) -> None:
    # The hot path (every reading passes here): locals, no per-reading method calls. Metric and
    # Room members are str subclasses, so COPY writes their values without conversion.
    home_id = batch.home_id
    append = rows.readings.append
    devices = rows.devices
    _note_hours(rows, batch)
    judge = False
    for reading in batch.readings:
        device, ts, metric, value, room = reading.device, reading.ts, reading.metric, reading.value, reading.room
        append((home_id, device, reading.seq, ts, metric, value, room))
        update = devices.get(device)
        if update is None:
            update = devices[device] = DeviceUpdate(device, home_id, _VALUE[reading.kind], first_seen_at=ts)
        # One timestamp comparison per reading (aware datetimes compare slowly): the newest reading
        # gives the latest value, and last_seen_at is the later of it and ``seen_at`` (see store.py).
        if update.value_at is None or ts >= update.value_at:
            update.metric, update.value, update.value_at = _VALUE[metric], value, ts
            if room is not None:
                update.room = _VALUE[room]
        if metric not in _UNJUDGED_METRICS:
            judge = True
        if metric in PERSON_METRICS:
            _reading_activity(rows, home_id, metric, value, ts, room)
        elif metric is Metric.BATTERY_PCT and (update.battery_at is None or ts >= update.battery_at):
            update.battery_pct, update.battery_at = value, ts
    if judge:
        rows.home(home_id).judge = True


def _note_hours(rows: Rows, batch: ReadingBatch) -> None:
    """The UTC hours this message's readings fall in (for the activity_hourly refresh).

    From the earliest and latest reading: two timestamp conversions per message instead of one per
    reading. A message spanning more than two days (a replay) is walked reading by reading, so a
    stray old reading never makes us refresh every hour in between.
    """
    first = min(batch.readings, key=_TS).ts
    last = max(batch.readings, key=_TS).ts
    low, high = int(first.timestamp()) // 3600, int(last.timestamp()) // 3600
    if high - low <= _MAX_SPAN_HOURS:
        rows.hours.update(range(low, high + 1))
    else:
        rows.hours.update(int(reading.ts.timestamp()) // 3600 for reading in batch.readings)


def _reading_activity(rows: Rows, home_id: str, metric: Metric, value: float, ts: datetime, room: Room | None) -> None:
    if metric is Metric.MOTION:
        if value == 1:  # 0 is "motion cleared": no sign of anyone
            rows.home(home_id).motion(ts, _VALUE[room] if room is not None else None)
    elif metric is Metric.DOOR_OPEN:
        rows.home(home_id).door(ts, "open" if value == 1 else "closed")
    elif metric is Metric.BED_OCCUPIED or value > PLUG_ACTIVITY_W:  # the rest is power_w
        rows.home(home_id).activity(ts)


def reading_rows(batch: ReadingBatch) -> list[ReadingRow]:
    """The rows of a readings message, as staged (for matching conflicting duplicates)."""
    return [(batch.home_id, r.device, r.seq, r.ts, r.metric, r.value, r.room) for r in batch.readings]


def event_rows(batch: EventBatch) -> list[EventRow]:
    """The rows of an events message, as staged: the type-specific fields go to ``data`` (JSON)."""
    rows: list[EventRow] = []
    for event in batch.events:
        room = event.room.value if event.room is not None else None
        data = json.dumps(event.model_dump(mode="json", exclude=set(_EVENT_COMMON), exclude_none=True), sort_keys=True)
        rows.append((batch.home_id, event.device, event.seq, event.ts, event.type, room, data))
    return rows


def _add_events(rows: Rows, batch: EventBatch) -> None:
    home_id = batch.home_id
    rows.events.extend(event_rows(batch))
    rows.home(home_id).judge = True
    for event in batch.events:
        room = event.room.value if event.room is not None else None
        rows.device(event.device, home_id, event.kind.value, event.ts).saw(event.ts, room)
        home = rows.home(home_id)
        if event.type == "door":
            home.door(event.ts, event.state)
        elif event.type != "hazard" and not (event.type == "presence" and event.state == "cleared"):
            home.activity(event.ts)  # fall, sos, bed, presence seen: a sign of a person; an alarm, or nobody seen, is not


def _add_heartbeat(rows: Rows, heartbeat: Heartbeat, received_at: datetime) -> None:
    # A heartbeat is accepted whatever its ts (it measures the gateway's clock), so its times count
    # no later than its arrival: a fast clock must not make a gateway or a device look alive ahead.
    rows.home(heartbeat.home_id).heartbeat(heartbeat.ts, heartbeat.queue_depth, received_at)
    for health in heartbeat.devices:
        _add_health(rows, heartbeat, health, received_at)


def _add_health(rows: Rows, heartbeat: Heartbeat, health: DeviceHealth, received_at: datetime) -> None:
    last_seen = min(health.last_seen, received_at) if health.last_seen is not None else None
    update = rows.device(health.device, heartbeat.home_id, health.kind.value, last_seen or min(heartbeat.ts, received_at))
    if last_seen is not None:  # a heartbeat listing a device is no proof the device spoke
        update.saw(last_seen, health.room.value if health.room else None)
    elif health.room is not None and update.room is None:
        update.room = health.room.value
    beat_at = min(heartbeat.ts, received_at)
    if health.battery_pct is not None and (update.battery_at is None or beat_at >= update.battery_at):
        update.battery_pct, update.battery_at = health.battery_pct, beat_at
    if health.signal_lqi is not None:
        update.signal_lqi = health.signal_lqi
    if health.battery_low is not None:
        update.battery_low = health.battery_low
    if health.tamper is not None:
        update.tamper = health.tamper
    if health.availability is not None and (update.availability_at is None or beat_at >= update.availability_at):
        update.availability, update.availability_at = health.availability, beat_at


def device_ids(message: Message) -> set[str]:
    """Every device a message names: each must belong to the message's home."""
    if isinstance(message, ReadingBatch):
        return {reading.device for reading in message.readings}
    if isinstance(message, EventBatch):
        return {event.device for event in message.events}
    if isinstance(message, Heartbeat):
        return {health.device for health in message.devices}
    return set()
