"""One virtual home: its devices, and the driver that plays the routine and incidents into the agent.

:class:`HomeDriver` implements the edge agent's ``Driver`` protocol: the real
:class:`edge.agent.EdgeAgent` runs it exactly as it runs a Zigbee driver, so everything the platform
sees (sequence numbers, batching, fall detection, disk queue, reconnects) is the real edge code.
Time is the shared simulated clock: the driver sleeps on it until the next thing happens.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from edge.model import DeviceRef, Sink
from eldercare.clock import Clock
from eldercare.contracts.payloads import DeviceKind, Metric, Room
from simulator import script
from simulator.incidents import Incident, IncidentKind
from simulator.relay import Relay
from simulator.routine import (
    MOTION_ROOMS,
    Bed,
    Door,
    Emission,
    Motion,
    Power,
    Profile,
    Wear,
    home_rng,
    routine,
    temperature_at,
)
from simulator.script import Action, Battery, Cut, FallWear, Restore, Scripted, Sos, Temperature
from simulator.signals import SisFallLibrary, everyday

TEMPERATURE_EVERY_S = 600.0
HEALTH_EVERY_S = 1800.0
Reporter = Callable[[Incident, datetime, dict[str, object]], None]
_Queue = list[tuple[datetime, int, "Scripted | Incident | Emission | str"]]


@dataclass(frozen=True)
class Devices:
    """The sensors of one home; ids are unique across the platform (prefixed with the home id)."""

    motion: dict[Room, DeviceRef]
    door: DeviceRef
    bed: DeviceRef
    wearable: DeviceRef
    sos: DeviceRef
    kettle: DeviceRef
    thermometer: DeviceRef

    @classmethod
    def of(cls, home_id: str) -> Devices:
        return cls(
            motion={room: DeviceRef(f"{home_id}-pir-{room.value}", DeviceKind.MOTION, room) for room in MOTION_ROOMS},
            door=DeviceRef(f"{home_id}-door-front", DeviceKind.DOOR, Room.ENTRY),
            bed=DeviceRef(f"{home_id}-bed", DeviceKind.BED, Room.BEDROOM),
            wearable=DeviceRef(f"{home_id}-wearable", DeviceKind.WEARABLE, None),
            sos=DeviceRef(f"{home_id}-sos", DeviceKind.SOS_BUTTON, None),
            kettle=DeviceRef(f"{home_id}-plug-kettle", DeviceKind.PLUG, Room.KITCHEN),
            thermometer=DeviceRef(f"{home_id}-temp-living", DeviceKind.TEMPERATURE, Room.LIVING_ROOM),
        )

    def battery_powered(self) -> list[DeviceRef]:
        return [*self.motion.values(), self.door, self.wearable, self.sos, self.thermometer]


@dataclass
class HomeSetup:
    index: int
    home_id: str
    seed: int
    zone: ZoneInfo
    wearable_rate_hz: float = 50.0
    incidents: list[Incident] = field(default_factory=list)
    sisfall: SisFallLibrary | None = None
    relay: Relay | None = None


@dataclass
class HomeCounters:
    emitted: int = 0
    incidents: int = 0


class HomeDriver:
    """Plays one home's life into the edge agent's sink until stopped."""

    def __init__(self, setup: HomeSetup, clock: Clock, report: Reporter) -> None:
        self.setup = setup
        self.clock = clock
        self.report = report
        self.devices = Devices.of(setup.home_id)
        self.profile = Profile.draw(home_rng(setup.seed, setup.index, None, "profile"))
        self.counters = HomeCounters()
        self._rng = home_rng(setup.seed, setup.index, None, "driver")
        self._np = np.random.default_rng(self._rng.randrange(2**32))
        self._batteries = {d.id: self._rng.uniform(60, 100) for d in self.devices.battery_powered()}
        self._battery_override: dict[str, float] = {}
        self._temperature_override: float | None = None
        self._windows: list[tuple[datetime, datetime, IncidentKind]] = []
        self._room = Room.LIVING_ROOM
        self._order = itertools.count()

    async def run(self, sink: Sink, stop: asyncio.Event) -> None:
        """The Driver protocol: play until ``stop`` is set."""
        play = asyncio.create_task(self._play(sink), name=f"sim-home-{self.setup.index}")
        waiter = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({play, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (play, waiter):
                task.cancel()
            await asyncio.gather(play, waiter, return_exceptions=True)
        if play.done() and not play.cancelled() and play.exception() is not None:
            raise play.exception()  # type: ignore[misc]

    async def _play(self, sink: Sink) -> None:
        start = self.clock.now()
        queue: _Queue = []
        stream = routine(self.profile, self.setup.seed, self.setup.index, start, self.setup.zone)
        self._push_routine(queue, stream)
        for name, every in (("temperature", TEMPERATURE_EVERY_S), ("health", HEALTH_EVERY_S)):
            heapq.heappush(queue, (start + timedelta(seconds=self._rng.uniform(0, every)), next(self._order), name))
        for incident in self.setup.incidents:
            if incident.end > start:
                heapq.heappush(queue, (max(incident.start, start), next(self._order), incident))
        while queue:
            at, _, item = heapq.heappop(queue)
            await self._sleep_until(at)
            if isinstance(item, Scripted):
                self._apply(sink, item.item)
            elif isinstance(item, Incident):
                self._inject(queue, item, at)
            elif isinstance(item, str):
                self._tick(queue, at, item, sink)
            else:
                self._push_routine(queue, stream)
                if not self._suppressed(at, item):
                    self._apply(sink, item)

    def _push_routine(self, queue: _Queue, stream: Iterator[tuple[datetime, Emission]]) -> None:
        at, emission = next(stream)
        heapq.heappush(queue, (at, next(self._order), emission))

    def _tick(self, queue: _Queue, at: datetime, item: str, sink: Sink) -> None:
        every = TEMPERATURE_EVERY_S if item == "temperature" else HEALTH_EVERY_S
        heapq.heappush(queue, (at + timedelta(seconds=every), next(self._order), item))
        if self._offline(at):
            return
        if item == "temperature":
            sink.reading(self.devices.thermometer, Metric.TEMPERATURE_C, self._temperature(at))
        else:
            self._health(sink)

    def _inject(self, queue: _Queue, incident: Incident, at: datetime) -> None:
        ctx = script.Context(
            room=self._room,
            rate_hz=self.setup.wearable_rate_hz,
            rng=home_rng(self.setup.seed, self.setup.index, None, f"incident{incident.start.timestamp():.0f}"),
            np_rng=self._np,
            sisfall=self.setup.sisfall,
            battery_devices=tuple(d.id for d in self.devices.battery_powered()),
            zone=self.setup.zone,
        )
        played = script.build(incident, at, ctx)
        self._windows.append((at, at + timedelta(seconds=incident.duration_s), incident.kind))
        for when, action in played.actions:
            heapq.heappush(queue, (when, next(self._order), action))
        self.counters.incidents += 1
        self.report(incident, played.truth_start, played.details)

    async def _sleep_until(self, at: datetime) -> None:
        delay = (at - self.clock.now()).total_seconds()
        if delay > 0:
            await self.clock.sleep(delay)

    # -- what an incident changes ------------------------------------------------------------

    def _active(self, at: datetime) -> list[IncidentKind]:
        self._windows = [w for w in self._windows if w[1] > at - timedelta(hours=1)]
        return [kind for start, end, kind in self._windows if start <= at < end]

    def _offline(self, at: datetime) -> bool:
        return IncidentKind.GATEWAY_OFFLINE in self._active(at)

    def _suppressed(self, at: datetime, item: Emission) -> bool:
        """Routine emissions are replaced while the resident is in an incident (or the gateway is off)."""
        active = self._active(at)
        if IncidentKind.GATEWAY_OFFLINE in active:
            return True
        if any(kind in script.PERSON for kind in active):
            return True
        return isinstance(item, Door) and IncidentKind.DOOR_LEFT_OPEN in active

    def _temperature(self, at: datetime) -> float:
        if IncidentKind.COLD_HOME in self._active(at) and self._temperature_override is not None:
            return self._temperature_override
        return temperature_at(self.profile, at, self.setup.zone, self._rng)

    def _health(self, sink: Sink) -> None:
        for device in self.devices.battery_powered():
            level = self._battery_override.get(device.id)
            if level is None:
                level = max(35.0, self._batteries[device.id] - 0.05)
                self._batteries[device.id] = level
            sink.health(device, battery_pct=float(round(level)), signal_lqi=self._rng.randint(90, 200))

    # -- applying one emission or action -----------------------------------------------------

    def _apply(self, sink: Sink, item: Action | Emission) -> None:
        self.counters.emitted += 1
        d = self.devices
        if isinstance(item, Motion):
            self._room = item.room if item.on else self._room
            sink.reading(d.motion[item.room], Metric.MOTION, 1.0 if item.on else 0.0)
        elif isinstance(item, Door):
            sink.reading(d.door, Metric.DOOR_OPEN, 1.0 if item.open else 0.0)
            sink.event(d.door, {"type": "door", "state": "open" if item.open else "closed"})
        elif isinstance(item, Bed):
            sink.reading(d.bed, Metric.BED_OCCUPIED, 1.0 if item.occupied else 0.0)
            sink.event(d.bed, {"type": "bed", "state": "occupied" if item.occupied else "vacated"})
        elif isinstance(item, Power):
            sink.reading(d.kettle, Metric.POWER_W, item.watts)
        elif isinstance(item, Wear):
            sink.accelerometer(
                d.wearable,
                everyday(item.activity, item.seconds, self.setup.wearable_rate_hz, self._np),
                self.setup.wearable_rate_hz,
            )
        else:
            self._apply_action(sink, item)

    def _apply_action(self, sink: Sink, item: Action) -> None:
        d = self.devices
        if isinstance(item, FallWear):
            sink.accelerometer(d.wearable, item.samples, self.setup.wearable_rate_hz)
        elif isinstance(item, Sos):
            sink.event(d.sos, {"type": "sos", "press": "single"})
        elif isinstance(item, Temperature):
            self._temperature_override = item.celsius
            sink.reading(d.thermometer, Metric.TEMPERATURE_C, item.celsius)
        elif isinstance(item, Battery):
            if item.pct is None:
                self._battery_override.pop(item.device, None)
                self._batteries[item.device] = 100.0
            else:
                self._battery_override[item.device] = item.pct
            device = next(x for x in d.battery_powered() if x.id == item.device)
            sink.health(device, battery_pct=item.pct if item.pct is not None else 100.0)
        elif isinstance(item, Cut):
            if self.setup.relay is not None:
                self.setup.relay.cut()
        elif isinstance(item, Restore) and self.setup.relay is not None:
            self.setup.relay.restore()
