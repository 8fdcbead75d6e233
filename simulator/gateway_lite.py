"""One virtual home of the load mode: what its gateway would publish, without a gateway of its own.

:class:`LiteGateway` is the :class:`edge.model.Sink` that a home's :class:`SimulatedDriver` feeds in
``eldercare simulate load`` (simulator/load.py). It renders exactly the topics and payloads the edge
agent renders (edge/intake.py, edge/uplink.py): readings batched for ``batch_delay_s`` after the first
(at most 500 per message), events at once (one message each), a heartbeat listing every device's
health (through the agent's own :class:`DeviceRegistry`), a retained ``online`` status. What it leaves
out is what makes an agent cost: a connection, a disk queue and a task per home. Instead it hands each
message to a shared :class:`Outbox` (a few connections for thousands of homes) and asks the load's
scheduler (:class:`Timers`) to call it back when a batch is due.

Sequence numbers are per device, shared by readings and events, as the agent's; they start at the
run's start in milliseconds, so a later run never reuses one (there is no disk to keep them on).

The wearable: the normal simulator synthesises 50 Hz samples and the edge's detector turns each
minute into an ``activity_g`` reading; at 100,000 homes that alone would take the machine. Here an
everyday minute becomes its ``activity_g`` reading directly (a value like the detector's for that
activity), and only an incident's fall-shaped samples go through the real detector
(:class:`edge.wearable.WearableMonitor`, created for the home when the first arrive).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy.typing as npt
from pydantic import TypeAdapter

from edge.devices import DeviceRegistry, Flags
from edge.model import DeviceRef
from edge.wearable import WearableMonitor
from eldercare import __version__
from eldercare.clock import Clock
from eldercare.contracts.codec import encode
from eldercare.contracts.payloads import Event, EventBatch, GatewayStatus, Heartbeat, Metric
from eldercare.contracts.topics import MessageKind, Topic

_EVENT: TypeAdapter[Any] = TypeAdapter(Event)
BATCH_MAX_READINGS = 500  # as the simulator's agents (simulator/runner.py agent_config)
ACTIVITY_INTERVAL_S = 60.0
# activity_g (RMS of |a| - 1 over a minute) that the edge's detector gives for simulator.signals.everyday
_ACTIVITY_G = {"walking": (0.18, 0.28), "sitting": (0.01, 0.03), "lying": (0.005, 0.015)}


class Outbox(Protocol):
    def send(self, home_index: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish (QoS 1) soon; never blocks."""


class Timers(Protocol):
    def flush_at(self, home_index: int, at: datetime) -> None:
        """Call :meth:`LiteGateway.flush` of this home at ``at``."""


@dataclass
class Counts:
    """What every home of a process has handed to the outbox."""

    messages: int = 0
    readings: int = 0
    events: int = 0
    heartbeats: int = 0


def ts_text(moment: datetime) -> str:
    """An instant as pydantic renders a UTC datetime in the contract's JSON (``...Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


class LiteGateway:
    """A home's gateway, as far as the platform can tell: see the module docstring."""

    __slots__ = (
        "_activity_rng",
        "_batch_delay_s",
        "_clock",
        "_counts",
        "_held",
        "_monitors",
        "_outbox",
        "_root",
        "_seq_base",
        "_seqs",
        "_staged",
        "_started",
        "_timers",
        "home_id",
        "index",
        "offline",
        "registry",
    )

    def __init__(
        self,
        *,
        index: int,
        home_id: str,
        root: str,
        clock: Clock,
        outbox: Outbox,
        timers: Timers,
        counts: Counts,
        batch_delay_s: float,
        seq_base: int,
        activity_rng: random.Random,
    ) -> None:
        self.index = index
        self.home_id = home_id
        self._root = root
        self._clock = clock
        self._outbox = outbox
        self._timers = timers
        self._counts = counts
        self._batch_delay_s = batch_delay_s
        self._seq_base = seq_base
        self._activity_rng = activity_rng
        self.registry = DeviceRegistry()
        self._seqs: dict[str, int] = {}
        self._staged: list[dict[str, object]] = []
        self._monitors: dict[str, WearableMonitor] | None = None
        self._held: list[tuple[str, bytes, bool]] | None = None  # while the home's "connection" is cut
        self._started = clock.now()
        self.offline = False

    # -- Sink --------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock.now()

    def reading(self, device: DeviceRef, metric: Metric, value: float) -> None:
        self._reading(device, metric, value, self._clock.now())

    def event(self, device: DeviceRef, detail: Mapping[str, object]) -> None:
        self._events([(device, detail, self._clock.now())])

    def health(
        self,
        device: DeviceRef,
        *,
        battery_pct: float | None = None,
        signal_lqi: int | None = None,
        battery_low: bool | None = None,
        tamper: bool | None = None,
    ) -> None:
        now = self._clock.now()
        changed = self.registry.update(device, now, battery_pct, signal_lqi, Flags(battery_low, tamper))
        if changed and battery_pct is not None:
            self._reading(device, Metric.BATTERY_PCT, battery_pct, now)

    def availability(self, device: DeviceRef, online: bool) -> None:
        self.registry.availability(device, online)

    def accelerometer(self, device: DeviceRef, samples: npt.ArrayLike, rate_hz: float) -> None:
        """An incident's samples: through the edge's real fall detector (a monitor made on first use)."""
        monitors = self._monitors = self._monitors if self._monitors is not None else {}
        monitor = monitors.get(device.id)
        if monitor is None or monitor.rate_hz != rate_hz:
            monitor = monitors[device.id] = WearableMonitor(rate_hz, ACTIVITY_INTERVAL_S)
        pushed = monitor.push(samples, True)
        if pushed is None:
            return
        now = self._clock.now()
        falls = [
            (device, {"type": "fall", "confidence": f.detection.confidence, "evidence": f.evidence}, now - _seconds(f.ago_s))
            for f in pushed.falls
        ]
        if falls:
            self._events(falls)
        for window in pushed.activity:
            self._reading(device, Metric.ACTIVITY_G, window.rms_g, now - _seconds(window.ago_s))

    def accelerometer_paused(self, device: DeviceRef) -> None:
        return None

    def activity(self, device: DeviceRef, kind: str) -> None:
        """An everyday minute of wearing the wearable: its ``activity_g`` reading."""
        low, high = _ACTIVITY_G.get(kind, _ACTIVITY_G["sitting"])
        self._reading(device, Metric.ACTIVITY_G, round(self._activity_rng.uniform(low, high), 4), self._clock.now())

    # -- messages ----------------------------------------------------------------------------

    def _seq(self, device_id: str) -> int:
        seq = self._seqs.get(device_id, self._seq_base)
        self._seqs[device_id] = seq + 1
        return seq

    def _reading(self, device: DeviceRef, metric: Metric, value: float, ts: datetime) -> None:
        device = self.registry.resolve(device)
        self.registry.seen(device, ts)
        # The field order of eldercare.contracts.payloads.Reading, as the agent's model_dump_json renders it.
        record: dict[str, object] = {
            "device": device.id,
            "kind": device.kind.value,
            "seq": self._seq(device.id),
            "ts": ts_text(ts),
            "metric": metric.value,
            "value": float(value),
        }
        if device.room is not None:
            record["room"] = device.room.value
        self._staged.append(record)
        if len(self._staged) >= BATCH_MAX_READINGS:
            self.flush()
        elif len(self._staged) == 1:
            self._timers.flush_at(self.index, self._clock.now() + _seconds(self._batch_delay_s))

    def flush(self) -> None:
        """Seal the staged readings into one ``readings`` message (a no-op when none are staged)."""
        if not self._staged:
            return
        readings, self._staged = self._staged, []
        payload = json.dumps({"home_id": self.home_id, "readings": readings}, separators=(",", ":"), ensure_ascii=False)
        self._counts.readings += len(readings)
        self._send(self._topic(MessageKind.READINGS), payload.encode())

    def _events(self, happened: Sequence[tuple[DeviceRef, Mapping[str, object], datetime]]) -> None:
        """Events in one message, as edge/intake.py ``_events`` renders them."""
        events = []
        for device, detail, ts in happened:
            device = self.registry.resolve(device)
            fields: dict[str, Any] = {**detail, "device": device.id, "kind": device.kind, "seq": self._seq(device.id), "ts": ts}
            if device.room is not None:
                fields["room"] = device.room
            events.append(_EVENT.validate_python(fields))
            self.registry.seen(device, ts)
        payload = EventBatch(home_id=self.home_id, events=events).model_dump_json(exclude_none=True).encode()
        self._counts.events += len(events)
        self._send(self._topic(MessageKind.EVENTS), payload)

    def heartbeat(self) -> None:
        if self.offline:
            return
        now = self._clock.now()
        beat = Heartbeat(
            home_id=self.home_id,
            ts=now,
            uptime_s=max(0.0, (now - self._started).total_seconds()),
            queue_depth=len(self._held or ()),
            devices=self.registry.health(),
        )
        topic, payload = encode(self._root, beat)
        self._counts.heartbeats += 1
        self._send(topic, payload)

    def status(self, state: str, reason: str) -> None:
        """A retained status (``online`` when the home starts or its connection comes back)."""
        status = GatewayStatus.model_validate(
            {"home_id": self.home_id, "state": state, "ts": self._clock.now(), "reason": reason, "agent_version": __version__}
        )
        topic, payload = encode(self._root, status)
        self._counts.messages += 1
        self._outbox.send(self.index, topic, payload, retain=True)

    def cut(self) -> None:
        """The home's connection drops: the broker publishes its last will; messages wait as in a disk queue."""
        if self.offline:
            return
        self.status("offline", "connection_lost")
        self.offline = True
        self._held = []

    def restore(self) -> None:
        """The connection is back: ``online``, then what waited, oldest first."""
        if not self.offline:
            return
        self.offline = False
        self.status("online", "connected")
        held, self._held = self._held or [], None
        for topic, payload, retain in held:
            self._send(topic, payload, retain=retain)

    def _send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if self._held is not None:
            self._held.append((topic, payload, retain))
            return
        self._counts.messages += 1
        self._outbox.send(self.index, topic, payload, retain=retain)

    def _topic(self, kind: MessageKind) -> str:
        return str(Topic(self._root, self.home_id, kind))


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
