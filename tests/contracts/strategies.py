"""Hypothesis strategies producing valid contract messages of every kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from eldercare.contracts.payloads import (
    BINARY_METRICS,
    MAX_READINGS_PER_MESSAGE,
    METRIC_RANGES,
    BedEvent,
    DeviceAssignment,
    DeviceHealth,
    DeviceKind,
    DoorEvent,
    EventBatch,
    FallEvent,
    FallEvidence,
    GatewayConfig,
    GatewayStatus,
    Hazard,
    HazardEvent,
    Heartbeat,
    Metric,
    PresenceEvent,
    Reading,
    ReadingBatch,
    Room,
    SosEvent,
)

home_ids = st.from_regex(r"\A[a-z0-9][a-z0-9_\-]{1,20}\Z")
device_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_\-:.]{0,20}\Z")
seqs = st.integers(min_value=0, max_value=2**63 - 1)
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
timestamps = st.builds(
    lambda dt, tz: dt.replace(tzinfo=UTC).astimezone(tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59)),  # noqa: DTZ001 - made aware above
    offsets,
)
rooms = st.none() | st.sampled_from(Room)
kinds = st.sampled_from(DeviceKind)


def _value_for(metric: Metric) -> st.SearchStrategy[float]:
    if metric in BINARY_METRICS:
        return st.sampled_from([0.0, 1.0])
    low, high = METRIC_RANGES[metric]
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


readings = st.sampled_from(Metric).flatmap(
    lambda metric: st.builds(
        Reading,
        device=device_ids,
        kind=kinds,
        seq=seqs,
        ts=timestamps,
        metric=st.just(metric),
        value=_value_for(metric),
        room=rooms,
    )
)

unit = st.floats(min_value=0, max_value=1, allow_nan=False)
g = st.floats(min_value=0, max_value=64, allow_nan=False)
evidence = st.builds(
    FallEvidence,
    peak_g=g,
    orientation_change_deg=st.floats(min_value=0, max_value=180, allow_nan=False),
    stillness_g=g,
    free_fall_min_g=st.none() | g,
)
_common = {"device": device_ids, "kind": kinds, "seq": seqs, "ts": timestamps, "room": rooms}
events = st.one_of(
    st.builds(FallEvent, type=st.just("fall"), confidence=unit, evidence=evidence, **_common),
    st.builds(SosEvent, type=st.just("sos"), press=st.sampled_from(["single", "double", "long"]), **_common),
    st.builds(DoorEvent, type=st.just("door"), state=st.sampled_from(["open", "closed"]), **_common),
    st.builds(BedEvent, type=st.just("bed"), state=st.sampled_from(["occupied", "vacated"]), **_common),
    st.builds(PresenceEvent, type=st.just("presence"), state=st.sampled_from(["detected", "cleared"]), **_common),
    st.builds(
        HazardEvent,
        type=st.just("hazard"),
        hazard=st.sampled_from(Hazard),
        state=st.sampled_from(["detected", "cleared"]),
        **_common,
    ),
)

reading_batches = st.builds(ReadingBatch, home_id=home_ids, readings=st.lists(readings, min_size=1, max_size=5))
event_batches = st.builds(EventBatch, home_id=home_ids, events=st.lists(events, min_size=1, max_size=4))
statuses = st.builds(
    GatewayStatus,
    home_id=home_ids,
    state=st.sampled_from(["online", "offline"]),
    ts=timestamps,
    reason=st.none() | st.sampled_from(["connected", "shutdown", "connection_lost"]),
    agent_version=st.none() | st.text(max_size=32),
)
heartbeats = st.builds(
    Heartbeat,
    home_id=home_ids,
    ts=timestamps,
    uptime_s=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    queue_depth=st.integers(min_value=0, max_value=10**9),
    devices=st.lists(
        st.builds(
            DeviceHealth,
            device=device_ids,
            kind=kinds,
            room=rooms,
            battery_pct=st.none() | st.floats(min_value=0, max_value=100, allow_nan=False),
            signal_lqi=st.none() | st.integers(min_value=0, max_value=255),
            last_seen=st.none() | timestamps,
            battery_low=st.none() | st.booleans(),
            tamper=st.none() | st.booleans(),
            availability=st.none() | st.sampled_from(["online", "offline"]),
        ),
        max_size=3,
    ),
)
configs = st.builds(
    GatewayConfig,
    home_id=home_ids,
    revision=st.integers(min_value=0, max_value=10**6),
    ts=timestamps,
    timezone=st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Berlin"]),
    heartbeat_interval_s=st.floats(min_value=1, max_value=86_400, allow_nan=False),
    batch_max_readings=st.integers(min_value=1, max_value=MAX_READINGS_PER_MESSAGE),
    batch_max_delay_s=st.floats(min_value=0.01, max_value=600, allow_nan=False),
    fall_detection_enabled=st.booleans(),
    devices=st.lists(st.builds(DeviceAssignment, device=device_ids, kind=kinds, room=rooms), max_size=3),
)
messages = st.one_of(reading_batches, event_batches, statuses, heartbeats, configs)
