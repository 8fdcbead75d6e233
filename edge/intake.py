"""The agent's side of the :class:`~edge.model.Sink`: validates, batches and queues what drivers report.

A reading is written to the disk queue's staging table as soon as it is accepted, so a crash or a
power cut loses none. When ``batch_max_readings`` are staged or ``batch_max_delay_s`` has passed
since the first, they are sealed into one ``readings`` message. Readings a crash left staged are
sealed when the agent starts again. Events (fall, SOS, door...) are queued at once, one message
each. Sequence numbers are allocated in the same transaction that queues the message (see
:mod:`edge.queue`).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy.typing as npt
from pydantic import TypeAdapter

from edge.devices import DeviceRegistry, Flags
from edge.model import DeviceRef, check_device_id
from edge.queue import READINGS, DiskQueue, Dropped
from edge.wearable import MIN_BLOCK_S, Pushed, WearableMonitor
from eldercare import logs
from eldercare.clock import Clock
from eldercare.contracts.payloads import (
    BINARY_METRICS,
    MAX_READINGS_PER_MESSAGE,
    METRIC_RANGES,
    Event,
    EventBatch,
    Metric,
    Reading,
    ReadingBatch,
)
from eldercare.contracts.topics import MessageKind, Topic

_EVENT = TypeAdapter(Event)
_DROP_WARNING_EVERY_S = 60.0


@dataclass(slots=True)
class Tuning:
    """What the platform's GatewayConfig may change while the agent runs."""

    batch_max_readings: int
    batch_max_delay_s: float
    heartbeat_interval_s: float
    fall_detection_enabled: bool = True
    activity_interval_s: float = 60.0
    # Samples per detector push (edge.wearable.MIN_BLOCK_S); the benchmark compares block lengths.
    wearable_block_s: float = MIN_BLOCK_S


class Intake:
    def __init__(
        self,
        *,
        home_id: str,
        topic_root: str,
        queue: DiskQueue,
        registry: DeviceRegistry,
        clock: Clock,
        tuning: Tuning,
        on_queued: Callable[[], None],
    ) -> None:
        self.home_id = home_id
        self._log = logs.get("edge").bind(home_id=home_id)
        self.tuning = tuning
        self._queue = queue
        self._registry = registry
        self._clock = clock
        self._on_queued = on_queued
        self._readings_topic = str(Topic(topic_root, home_id, MessageKind.READINGS))
        self._events_topic = str(Topic(topic_root, home_id, MessageKind.EVENTS))
        self._buffer_started = asyncio.Event()
        self._wearables: dict[str, WearableMonitor] = {}
        self._wearable_refs: dict[str, DeviceRef] = {}
        self._checked_ids: set[str] = set()
        self._drops_unreported = 0
        self._last_drop_warning: datetime | None = None
        self.readings_queued = 0
        self.events_queued = 0
        queue.on_drop = self._dropped
        if queue.staged:
            # Accepted before a crash or power cut, never sealed: they go out first.
            self._log.info("edge_staged_readings_recovered", readings=queue.staged)
            self.flush()

    # -- Sink --------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock.now()

    def reading(self, device: DeviceRef, metric: Metric, value: float) -> None:
        self._reading(device, metric, value, self._clock.now())

    def event(self, device: DeviceRef, detail: Mapping[str, object]) -> None:
        now = self._clock.now()
        if detail.get("type") == "sos":
            # A press may answer a fall whose samples still wait for their block ("I'm OK" within
            # the platform's cancel window): judge them first, and send a fall they hold in the same
            # message as the press, so that the platform always sees the fall before the press
            # (separate messages may be stored in either order by ingest's parallel lanes).
            self._events([*self._flush_wearables(), (device, detail, now)])
            return
        self._event(device, detail, now)

    def health(
        self,
        device: DeviceRef,
        *,
        battery_pct: float | None = None,
        signal_lqi: int | None = None,
        battery_low: bool | None = None,
        tamper: bool | None = None,
    ) -> None:
        if battery_pct is not None:
            _check_value(Metric.BATTERY_PCT, battery_pct)
        if signal_lqi is not None and not 0 <= signal_lqi <= 255:
            raise ValueError(f"signal_lqi {signal_lqi} out of range [0, 255]")
        self._check_id(device.id)
        now = self._clock.now()
        device = self._registry.resolve(device)
        flags = Flags(battery_low, tamper)
        if self._registry.update(device, now, battery_pct, signal_lqi, flags) and battery_pct is not None:
            self._reading(device, Metric.BATTERY_PCT, battery_pct, now)

    def availability(self, device: DeviceRef, online: bool) -> None:
        self._check_id(device.id)
        self._registry.availability(self._registry.resolve(device), online)

    def accelerometer(self, device: DeviceRef, samples: npt.ArrayLike, rate_hz: float) -> None:
        # Runs for every packet (several a second per wearable): the common case, a packet that
        # does not complete a block, is a dictionary lookup and a list append.
        monitor = self._wearables.get(device.id)
        if monitor is None or monitor.rate_hz != rate_hz:
            self._check_id(device.id)
            tuning = self.tuning
            monitor = WearableMonitor(rate_hz, tuning.activity_interval_s, tuning.wearable_block_s)
            self._wearables[device.id] = monitor
            self._wearable_refs[device.id] = device
        pushed = monitor.push(samples, self.tuning.fall_detection_enabled)
        if pushed is not None:
            self._wearable_pushed(device, pushed)
            _raise_refused(pushed)

    def accelerometer_paused(self, device: DeviceRef) -> None:
        monitor = self._wearables.get(device.id)
        pushed = monitor.flush(self.tuning.fall_detection_enabled) if monitor is not None else None
        if pushed is not None:
            self._wearable_pushed(device, pushed)
            _raise_refused(pushed)

    def _flush_wearables(self) -> list[tuple[DeviceRef, Mapping[str, object], datetime]]:
        """Judge every wearable's waiting samples now; returns the falls they held (not yet queued)."""
        found: list[tuple[DeviceRef, Mapping[str, object], datetime]] = []
        for device_id, monitor in self._wearables.items():
            pushed = monitor.flush(self.tuning.fall_detection_enabled)
            if pushed is None:
                continue
            device = self._wearable_refs[device_id]
            found += self._falls(device, pushed)
            self._activity(device, pushed)
            if pushed.refused:  # the press must go out whatever the samples held: say it, go on
                self._log.warning("edge_accelerometer_refused", device=device_id, samples=pushed.refused)
        return found

    def _wearable_pushed(self, device: DeviceRef, pushed: Pushed) -> None:
        """Queue what a block gave: falls at once (one message each), activity readings batched."""
        for fall in self._falls(device, pushed):
            self._events([fall])
        self._activity(device, pushed)

    def _falls(self, device: DeviceRef, pushed: Pushed) -> list[tuple[DeviceRef, Mapping[str, object], datetime]]:
        if not pushed.falls:
            return []
        now = self._clock.now()
        for fall in pushed.falls:
            self._log.info("edge_fall_detected", device=device.id, pattern=fall.detection.pattern.value)
        return [
            (
                device,
                {"type": "fall", "confidence": f.detection.confidence, "evidence": f.evidence},
                now - timedelta(seconds=f.ago_s),
            )
            for f in pushed.falls
        ]

    def _activity(self, device: DeviceRef, pushed: Pushed) -> None:
        if pushed.activity:
            now = self._clock.now()
            for window in pushed.activity:
                self._reading(device, Metric.ACTIVITY_G, window.rms_g, now - timedelta(seconds=window.ago_s))

    # -- batching ----------------------------------------------------------------------------

    def _reading(self, device: DeviceRef, metric: Metric, value: float, ts: datetime) -> None:
        _check_value(metric, value)
        self._check_id(device.id)
        device = self._registry.resolve(device)
        self._registry.seen(device, ts)
        record = {"device": device.id, "kind": device.kind.value, "room": device.room, "metric": metric.value}
        self._queue.stage(device.id, json.dumps({**record, "value": float(value), "ts": ts.isoformat()}))
        if self._queue.staged >= self._batch_limit:
            self.flush()
        else:
            self._buffer_started.set()

    @property
    def _batch_limit(self) -> int:
        return min(self.tuning.batch_max_readings, MAX_READINGS_PER_MESSAGE)

    def _check_id(self, device_id: str) -> None:
        # A bad id would make the whole batch fail validation when it is queued: refuse it here.
        if device_id not in self._checked_ids:
            check_device_id(device_id)
            self._checked_ids.add(device_id)

    def flush(self) -> None:
        """Seal the staged readings into messages of at most the batch size (no-op when none)."""
        self._buffer_started.clear()
        if not self._queue.staged:
            return
        while self._queue.staged:
            sealed = self._queue.seal(READINGS, self._readings_topic, self._batch_limit, self._render_readings)
            self.readings_queued += sealed
            self._log.debug("edge_batch_queued", readings=sealed, queue_depth=self._queue.depth)
        self._on_queued()

    def _render_readings(self, records: list[str], seqs: list[int]) -> bytes:
        readings = []
        for record, seq in zip(records, seqs, strict=True):
            fields = json.loads(record)
            # Our own staged record (validated when it was staged), with its ts as JSON text: not strict.
            readings.append(Reading.model_validate({**fields, "seq": seq}, strict=False))
        return ReadingBatch(home_id=self.home_id, readings=readings).model_dump_json(exclude_none=True).encode()

    async def run_flusher(self) -> None:
        """Flush a partial batch ``batch_max_delay_s`` after its first reading. Runs until cancelled."""
        while True:
            await self._buffer_started.wait()
            await self._clock.sleep(self.tuning.batch_max_delay_s)
            self.flush()

    # -- events ------------------------------------------------------------------------------

    def _event(self, device: DeviceRef, detail: Mapping[str, object], ts: datetime) -> None:
        self._events([(device, detail, ts)])

    def _events(self, happened: list[tuple[DeviceRef, Mapping[str, object], datetime]]) -> None:
        """Queue events as one message (in this order: the platform stores them by time)."""
        templates: list[Event] = []
        resolved = [(self._registry.resolve(device), ts) for device, _, ts in happened]
        for (device, ts), (_, detail, _) in zip(resolved, happened, strict=True):
            fields: dict[str, Any] = {**detail, "device": device.id, "kind": device.kind, "seq": 0, "ts": ts}
            if device.room is not None:
                fields["room"] = device.room
            templates.append(_EVENT.validate_python(fields))  # raises ValueError before any number is used
        for device, ts in resolved:
            self._registry.seen(device, ts)
        devices = [device.id for device, _ in resolved]

        def render(seqs: list[int]) -> bytes:
            events = [t.model_copy(update={"seq": seq}) for t, seq in zip(templates, seqs, strict=True)]
            return EventBatch(home_id=self.home_id, events=events).model_dump_json(exclude_none=True).encode()

        seqs = self._queue.put(MessageKind.EVENTS.value, self._events_topic, devices, render)
        self.events_queued += len(seqs)
        for device_id, seq in zip(devices, seqs, strict=True):
            self._log.info("edge_event_queued", device=device_id, seq=seq, queue_depth=self._queue.depth)
        self._on_queued()

    # -- bound policy reporting --------------------------------------------------------------

    def _dropped(self, dropped: Dropped) -> None:
        """Warn at the first drop, then at most once a minute with the count since the last warning."""
        self._drops_unreported += dropped.messages
        now = self._clock.now()
        if self._last_drop_warning is not None and (now - self._last_drop_warning).total_seconds() < _DROP_WARNING_EVERY_S:
            return
        self._log.warning(
            "edge_queue_full_dropped_oldest_readings",
            dropped_messages=self._drops_unreported,
            dropped_total=self._queue.dropped_messages,
            queue_depth=dropped.depth,
            queue_max=self._queue.max_messages,
        )
        self._drops_unreported = 0
        self._last_drop_warning = now


def _raise_refused(pushed: Pushed) -> None:
    """Refused packets reach the driver the way bad values do: ValueError (after the good ones were queued)."""
    if pushed.refused:
        raise ValueError(
            f"{pushed.refused} accelerometer samples refused: a packet held a value that is not finite or a magnitude beyond 64 g"
        )


def _check_value(metric: Metric, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{metric.value}: value is not a finite number")
    low, high = METRIC_RANGES[metric]
    if not low <= value <= high:
        raise ValueError(f"{metric.value}: value out of range [{low:g}, {high:g}]")
    if metric in BINARY_METRICS and value not in (0.0, 1.0):
        raise ValueError(f"{metric.value}: takes 0 or 1")
