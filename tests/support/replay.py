"""Replaying simulated homes through the real ingest store and the real alert engine, step by step.

The deadline-driven engine (alerts.deadlines) must judge exactly what the engine that judges
every home every pass judges, on the same inputs. This replays the simulator's routine (the rows
``simulator.backfill.home_history`` gives, as the messages a gateway would have sent) into a
database through ingest's own :class:`ingest.store.Store`, one evaluation interval at a time on a
:class:`FixedClock`: each step writes what was measured in it, then the engine handles its inbox,
decides pending falls and runs its periodic pass. Run once per ``alerts.evaluation_mode`` on two
copies of the same database, the alerts and their history must be the same, to the second.

Used by tests/alerts/test_deadline_equivalence.py (hours of a few homes) and bench/deadlines.py
(a week of more homes, with the cost of each mode).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from eldercare.clock import FixedClock
from eldercare.config import Settings
from eldercare.contracts import Decoded
from eldercare.contracts.payloads import (
    BedEvent,
    DeviceKind,
    DoorEvent,
    EventBatch,
    GatewayStatus,
    Heartbeat,
    Message,
    Metric,
    Reading,
    ReadingBatch,
)
from eldercare.contracts.topics import MessageKind, Topic
from eldercare.mqtt.manual_ack import Delivery
from ingest.batch import Batch
from ingest.store import Store
from simulator.backfill import EventRow, ReadingRow
from tests.alerts.support import engine_for

_KIND_OF_METRIC = {
    Metric.MOTION: DeviceKind.MOTION,
    Metric.DOOR_OPEN: DeviceKind.DOOR,
    Metric.BED_OCCUPIED: DeviceKind.BED,
    Metric.POWER_W: DeviceKind.PLUG,
    Metric.ACTIVITY_G: DeviceKind.WEARABLE,
    Metric.TEMPERATURE_C: DeviceKind.TEMPERATURE,
}
_EVENT_KIND = {"door": DeviceKind.DOOR, "bed": DeviceKind.BED}
_MESSAGE_KIND = {
    ReadingBatch: MessageKind.READINGS,
    EventBatch: MessageKind.EVENTS,
    GatewayStatus: MessageKind.STATUS,
    Heartbeat: MessageKind.HEARTBEAT,
}
ALERT_COLUMNS = "home_id, kind, severity, status, opened_at, resolved_at, outcome"


@dataclass
class Replayed:
    """What one replay produced, and what it cost."""

    alerts: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    evaluations: int
    cpu_s: float  # this process's CPU time over the replay (engine and ingest's Python both)
    steps: int


def messages_of(readings: Sequence[ReadingRow], events: Sequence[EventRow]) -> list[tuple[datetime, Message]]:
    """The rows of ``home_history`` as the messages a gateway sends: one per reading and event,
    dated by its measurement (the replay batches them per step as ingest batches deliveries)."""
    out: list[tuple[datetime, Message]] = []
    for home_id, device, seq, ts, metric, value, room in readings:
        device_kind = _KIND_OF_METRIC[Metric(metric)]
        reading = Reading(device=device, kind=device_kind, seq=seq, ts=ts, metric=Metric(metric), value=value, room=room)
        out.append((ts, ReadingBatch(home_id=home_id, readings=[reading])))
    for home_id, device, seq, ts, kind, room, data in events:
        state = json.loads(data)["state"]
        base = {"device": device, "kind": _EVENT_KIND[kind], "seq": seq, "ts": ts, "room": room, "state": state}
        event = DoorEvent(type="door", **base) if kind == "door" else BedEvent(type="bed", **base)
        out.append((ts, EventBatch(home_id=home_id, events=[event])))
    out.sort(key=lambda pair: pair[0])
    return out


def online(home_ids: Iterable[str], at: datetime) -> list[tuple[datetime, Message]]:
    """Each gateway's retained ``online`` status at ``at``."""
    return [(at, GatewayStatus(home_id=home, state="online", ts=at, reason="connected")) for home in home_ids]


async def replay(settings: Settings, messages: Sequence[tuple[datetime, Message]], *, start: datetime, end: datetime) -> Replayed:
    """Replay ``messages`` into ``settings.database_url`` from ``start`` to ``end`` on the engine's
    evaluation interval, under ``settings.alerts.evaluation_mode``."""
    step = timedelta(seconds=settings.alerts.evaluation_interval_s)
    by_step: dict[int, list[Message]] = defaultdict(list)
    for ts, message in messages:
        index = max(0, -(-(ts - start) // step))  # the first step at or after the measurement
        by_step[index].append(message)
    store = Store(settings.database_url, connect_timeout_s=10, statement_timeout_s=60)
    clock = FixedClock(start)
    cpu = time.process_time()
    steps = 0
    try:
        async with engine_for(settings, clock) as engine:
            while clock.current < end:
                arrived = by_step.get(steps, [])
                if arrived:
                    await store.write(batch_of(settings, arrived), clock.current)
                await engine.drain_inbox()
                await engine.decide_falls_once()
                await engine.evaluate_once()
                steps += 1
                clock.current = start + steps * step
            evaluations = engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0.0
    finally:
        await store.close()
    cpu_s = time.process_time() - cpu
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        alerts = conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts ORDER BY home_id, opened_at, kind").fetchall()  # noqa: S608 - constant columns
        history = conn.execute(
            "SELECT a.home_id, a.kind, h.action, h.at FROM alert_history h JOIN alerts a ON a.id = h.alert_id"
            " ORDER BY a.home_id, h.at, a.kind, h.action"
        ).fetchall()
    return Replayed(alerts, history, int(evaluations), cpu_s, steps)


def batch_of(settings: Settings, messages: list[Message]) -> Batch:
    """``messages`` as one batch of decoded deliveries, as ingest's receiver builds it."""
    batch = Batch()
    root = settings.mqtt.topic_root
    for number, message in enumerate(messages):
        topic = Topic(root, message.home_id, _MESSAGE_KIND[type(message)])
        delivery = Delivery(str(topic), b"", mid=number, qos=1, generation=0, received=time.monotonic())
        batch.add(delivery, Decoded(topic, message))
    return batch
