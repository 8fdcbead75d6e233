"""One virtual home: the player that acts out the resident's life through the edge's simulated driver.

The real :class:`edge.agent.EdgeAgent` runs :class:`edge.drivers.simulated.SimulatedDriver` as its
driver; :class:`HomePlayer` calls that driver's methods (motion, door, bed, SOS, kettle power,
temperature, battery, accelerometer) as the routine and the incidents unfold, so everything the
platform sees (sequence numbers, batching, fall detection, disk queue, reconnects) is real edge
code. Time is the shared simulated clock: the player sleeps on it until the next thing happens.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from edge.drivers.simulated import SimulatedDriver
from eldercare.clock import Clock
from eldercare.contracts.payloads import DeviceKind, Room
from simulator import script
from simulator.incidents import Incident, IncidentKind
from simulator.radar import RADAR, RADAR_ROOM, Radar, has_radar
from simulator.relay import Relay
from simulator.reporting import kit_rhythms
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
from simulator.script import Action, Alarm, Battery, Cut, FallWear, Restore, Scripted, Sos, Temperature
from simulator.signals import SisFallLibrary, everyday

TEMPERATURE_EVERY_S = 600.0
Reporter = Callable[[Incident, datetime, dict[str, object]], None]
Queue = list[tuple[datetime, int, "Scripted | Incident | Emission | str"]]
_REPORT = "report:"  # queue item of a device's periodic report: "report:<device>"


KETTLE = "plug-kettle"
THERMOMETER = "temp-living"
# Every device also reports by itself on its own rhythm (simulator.reporting), as zigbee devices
# do whether or not their state changes: battery devices every 50-60 min or every 17 h by make,
# mains-powered ones hourly. A bed or a PIR left unused is silent that long and still alive.
# The home-safety alarms of a care programme's kit: a battery smoke alarm in the kitchen, a mains gas
# alarm above the cooker, a battery leak sensor under the bathroom sink.
SMOKE, GAS, LEAK = "smoke-kitchen", "gas-kitchen", "leak-bathroom"
HAZARD_KIT = {
    SMOKE: (DeviceKind.SMOKE, Room.KITCHEN),
    GAS: (DeviceKind.GAS, Room.KITCHEN),
    LEAK: (DeviceKind.WATER_LEAK, Room.BATHROOM),
}
BATTERY_DEVICES = (
    *(f"pir-{room.value}" for room in MOTION_ROOMS),
    "door-entry",
    "bed-1",
    "wearable-1",
    "sos-1",
    "temp-living",
    SMOKE,
    LEAK,
)
MAINS_DEVICES = (KETTLE, GAS)


def declare_devices(driver: SimulatedDriver, *, radar: bool = False) -> None:
    """Name every device of the home up front (so battery reports may precede their first reading)."""
    for room in MOTION_ROOMS:
        driver.device(f"pir-{room.value}", DeviceKind.MOTION, room)
    driver.device("door-entry", DeviceKind.DOOR, Room.ENTRY)
    driver.device("bed-1", DeviceKind.BED, Room.BEDROOM)
    driver.device("wearable-1", DeviceKind.WEARABLE)
    driver.device("sos-1", DeviceKind.SOS_BUTTON)
    driver.device(KETTLE, DeviceKind.PLUG, Room.KITCHEN)
    driver.device(THERMOMETER, DeviceKind.TEMPERATURE, Room.LIVING_ROOM)
    for name, (kind, room) in HAZARD_KIT.items():
        driver.device(name, kind, room)
    if radar:
        driver.device(RADAR, DeviceKind.PRESENCE, RADAR_ROOM)


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


class HomePlayer:
    """Plays one home's life into its agent's simulated driver until cancelled."""

    def __init__(self, setup: HomeSetup, clock: Clock, report: Reporter, driver: SimulatedDriver) -> None:
        self.setup = setup
        self.clock = clock
        self.report = report
        self.driver = driver
        # The presence radar of some homes' kits (simulator.radar): a mains device.
        self.radar = Radar(RADAR_ROOM) if has_radar(setup.seed, setup.index, setup.incidents) else None
        self.mains = (*MAINS_DEVICES, RADAR) if self.radar else MAINS_DEVICES
        declare_devices(driver, radar=self.radar is not None)
        self.profile = Profile.draw(home_rng(setup.seed, setup.index, None, "profile"))
        self.counters = HomeCounters()
        self._rng = home_rng(setup.seed, setup.index, None, "driver")
        self._np = np.random.default_rng(self._rng.randrange(2**32))
        self._batteries = {name: self._rng.uniform(60, 100) for name in BATTERY_DEVICES}
        self.rhythms = kit_rhythms(setup.seed, setup.index, BATTERY_DEVICES, self.mains)
        self._battery_override: dict[str, float] = {}
        self._temperature_override: float | None = None
        self._windows: list[tuple[datetime, datetime, IncidentKind]] = []
        self._room = Room.LIVING_ROOM
        self._order = itertools.count()
        self._stream: Iterator[tuple[datetime, Emission]] = iter(())

    async def play(self) -> None:
        """Run until cancelled (the runner cancels players before it stops their agents)."""
        await self.driver.attached()
        await self._play()

    async def _play(self) -> None:
        queue = self.begin(self.clock.now())
        while queue:
            await self._sleep_until(queue[0][0])
            await self.step(queue)

    def begin(self, start: datetime) -> Queue:
        """The home's queue of things to happen from ``start`` on (routine, reports, incidents).

        :meth:`play` sleeps until the head of the queue is due, then calls :meth:`step`; the simulator's
        load mode (simulator/load.py) steps thousands of homes from one scheduler instead."""
        queue: Queue = []
        self._stream = routine(self.profile, self.setup.seed, self.setup.index, start, self.setup.zone)
        self._push_routine(queue)
        first = start + timedelta(seconds=self._rng.uniform(0, TEMPERATURE_EVERY_S))
        heapq.heappush(queue, (first, next(self._order), "temperature"))
        for name, rhythm in self.rhythms.items():
            heapq.heappush(queue, (rhythm.first_after(start, self._rng), next(self._order), f"{_REPORT}{name}"))
        for incident in self.setup.incidents:
            if incident.end > start:
                heapq.heappush(queue, (max(incident.start, start), next(self._order), incident))
        return queue

    async def step(self, queue: Queue) -> None:
        """Act out the head of ``queue`` (due now), pushing what follows from it."""
        at, _, item = heapq.heappop(queue)
        if isinstance(item, Scripted):
            await self._apply(item.item)
        elif isinstance(item, Incident):
            self._inject(queue, item, at)
        elif isinstance(item, str):
            await self._tick(queue, at, item)
        else:
            self._push_routine(queue)
            if not self._suppressed(at, item):
                await self._apply(item)

    def _push_routine(self, queue: Queue) -> None:
        at, emission = next(self._stream)
        heapq.heappush(queue, (at, next(self._order), emission))

    async def _tick(self, queue: Queue, at: datetime, item: str) -> None:
        name = item.removeprefix(_REPORT)
        later = at + timedelta(seconds=TEMPERATURE_EVERY_S) if name == item else self.rhythms[name].next_after(at, self._rng)
        heapq.heappush(queue, (later, next(self._order), item))
        if self._offline(at):
            return
        if name == item:
            await self.driver.temperature(self._temperature(at), name=THERMOMETER, room=Room.LIVING_ROOM)
        else:
            await self._report(name)

    def _inject(self, queue: Queue, incident: Incident, at: datetime) -> None:
        moved = self._when_it_can_happen(incident, at)
        if moved is not None:
            heapq.heappush(queue, (moved, next(self._order), replace(incident, start=moved)))
            return
        ctx = script.Context(
            room=self._room,
            rate_hz=self.setup.wearable_rate_hz,
            rng=home_rng(self.setup.seed, self.setup.index, None, f"incident{incident.start.timestamp():.0f}"),
            np_rng=self._np,
            sisfall=self.setup.sisfall,
            battery_devices=BATTERY_DEVICES,
            zone=self.setup.zone,
            radar_room=RADAR_ROOM if self.radar else None,
        )
        played = script.build(incident, at, ctx)
        self._windows.append((at, at + timedelta(seconds=incident.duration_s), incident.kind))
        for when, action in played.actions:
            heapq.heappush(queue, (when, next(self._order), action))
        self.counters.incidents += 1
        self.report(incident, played.truth_start, played.details)

    def _when_it_can_happen(self, incident: Incident, at: datetime) -> datetime | None:
        """Not getting up happens at the resident's wake-up time, wandering at night: a later start, or None (now)."""
        local = at.astimezone(self.setup.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if incident.kind is IncidentKind.NOT_UP:
            wake = midnight + timedelta(seconds=self.profile.wake_s - 600)
            target = wake if local <= wake + timedelta(hours=1) else wake + timedelta(days=1)
        elif incident.kind is IncidentKind.STILL_PRESENT:
            if 9 <= local.hour < 15:
                return None  # by day, when she would be up and about
            target = midnight + timedelta(days=1 if local.hour >= 15 else 0, hours=10, minutes=self._rng.randrange(120))
        elif incident.kind is IncidentKind.NIGHT_WANDERING:
            if local.hour < 5 or local.hour >= 23:
                return None
            target = midnight + timedelta(days=1, hours=2, minutes=self._rng.randrange(90))
        else:
            return None
        return target if target - local > timedelta(minutes=1) else None

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

    async def _report(self, name: str) -> None:
        """A device's periodic report: battery devices their level, mains ones their link quality."""
        if name in self.mains:
            await self.driver.link(name, self._rng.randint(90, 200))
            return
        level = self._battery_override.get(name)
        if level is None:
            level = max(35.0, self._batteries[name] - 0.05)
            self._batteries[name] = level
        await self.driver.battery(name, float(round(level)), lqi=self._rng.randint(90, 200))

    # -- applying one emission or action -----------------------------------------------------

    async def _apply(self, item: Action | Emission) -> None:
        self.counters.emitted += 1
        drv = self.driver
        if isinstance(item, Motion):
            self._room = item.room if item.on else self._room
            await drv.motion(item.room, item.on)
            change = self.radar.seen(item.room, item.on) if self.radar else None
            if change is not None:
                await drv.presence(change, name=RADAR, room=RADAR_ROOM)
        elif isinstance(item, Door):
            await drv.door(item.open)
        elif isinstance(item, Bed):
            await drv.bed(item.occupied)
        elif isinstance(item, Power):
            await drv.plug_power(item.watts, name=KETTLE, room=Room.KITCHEN)
        elif isinstance(item, Wear):
            rate = self.setup.wearable_rate_hz
            await drv.accelerometer(everyday(item.activity, item.seconds, rate, self._np), rate)
        else:
            await self._apply_action(item)

    async def _apply_action(self, item: Action) -> None:
        if isinstance(item, FallWear):
            await self.driver.accelerometer(item.samples, self.setup.wearable_rate_hz)
        elif isinstance(item, Sos):
            await self.driver.sos(item.press)
        elif isinstance(item, Temperature):
            self._temperature_override = item.celsius
            await self.driver.temperature(item.celsius, name=THERMOMETER, room=Room.LIVING_ROOM)
        elif isinstance(item, Battery):
            if item.pct is None:
                self._battery_override.pop(item.device, None)
                self._batteries[item.device] = 100.0
            else:
                self._battery_override[item.device] = item.pct
            await self.driver.battery(item.device, item.pct if item.pct is not None else 100.0)
        elif isinstance(item, Alarm):
            kind, room = HAZARD_KIT[item.device]
            await self.driver.hazard(item.hazard, item.detected, name=item.device, kind=kind, room=room)
        elif isinstance(item, Cut):
            if self.setup.relay is not None:
                self.setup.relay.cut()
        elif isinstance(item, Restore) and self.setup.relay is not None:
            self.setup.relay.restore()
