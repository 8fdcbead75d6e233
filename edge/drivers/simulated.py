"""The ``simulated`` driver: the simulator (or a test) drives it in-process, one per virtual home.

Every method validates its input and queues through the agent at once; a value outside the
contract raises ValueError. Device ids are ``<home id>:<name>`` so that they are unique across
the platform, as the contract requires. Methods are async so that a future version may apply
backpressure without changing callers; today they never block.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import numpy.typing as npt

from edge.model import DeviceRef, Sink, check_device_id
from eldercare.contracts.payloads import DeviceKind, Metric, Room


class SimulatedDriver:
    def __init__(self, home_id: str) -> None:
        self.home_id = home_id
        self._sink: Sink | None = None
        self._attached = asyncio.Event()
        self._devices: dict[str, DeviceRef] = {}

    async def run(self, sink: Sink, stop: asyncio.Event) -> None:
        self._sink = sink
        self._attached.set()
        try:
            await stop.wait()
        finally:
            self._sink = None
            self._attached.clear()

    def attach(self, sink: Sink) -> None:
        """Feed ``sink`` without an agent running this driver (the simulator's load mode brings its own sink)."""
        self._sink = sink
        self._attached.set()

    async def attached(self) -> None:
        """Wait until the agent runs this driver (calls before that raise RuntimeError)."""
        await self._attached.wait()

    def device(self, name: str, kind: DeviceKind, room: Room | None = None) -> DeviceRef:
        """The device called ``name`` in this home (created on first use; kind and room fixed then)."""
        known = self._devices.get(name)
        if known is not None:
            return known
        device_id = f"{self.home_id}:{name}"
        check_device_id(device_id)
        ref = self._devices[name] = DeviceRef(device_id, kind, room)
        return ref

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            raise RuntimeError("the simulated driver is not attached to a running agent")
        return self._sink

    async def motion(self, room: Room, on: bool) -> None:
        self.sink.reading(self.device(f"pir-{room.value}", DeviceKind.MOTION, room), Metric.MOTION, 1.0 if on else 0.0)

    async def door(self, open_: bool, name: str = "door-entry", room: Room = Room.ENTRY) -> None:
        device = self.device(name, DeviceKind.DOOR, room)
        self.sink.reading(device, Metric.DOOR_OPEN, 1.0 if open_ else 0.0)
        self.sink.event(device, {"type": "door", "state": "open" if open_ else "closed"})

    async def bed(self, occupied: bool, name: str = "bed-1", room: Room = Room.BEDROOM) -> None:
        device = self.device(name, DeviceKind.BED, room)
        self.sink.reading(device, Metric.BED_OCCUPIED, 1.0 if occupied else 0.0)
        self.sink.event(device, {"type": "bed", "state": "occupied" if occupied else "vacated"})

    async def sos(self, press: Literal["single", "double", "long"] = "single", name: str = "sos-1") -> None:
        self.sink.event(self.device(name, DeviceKind.SOS_BUTTON), {"type": "sos", "press": press})

    async def hazard(self, hazard: str, detected: bool, *, name: str, kind: DeviceKind, room: Room | None = None) -> None:
        """A home-safety alarm starts (``detected``) or stops: smoke, gas, co or water_leak."""
        state = "detected" if detected else "cleared"
        self.sink.event(self.device(name, kind, room), {"type": "hazard", "hazard": hazard, "state": state})

    async def presence(self, present: bool, *, name: str, room: Room | None = None) -> None:
        """A presence radar sees someone (``present``) or nobody any more."""
        device = self.device(name, DeviceKind.PRESENCE, room)
        self.sink.event(device, {"type": "presence", "state": "detected" if present else "cleared"})

    async def plug_power(self, watts: float, name: str = "plug-1", room: Room | None = None) -> None:
        self.sink.reading(self.device(name, DeviceKind.PLUG, room), Metric.POWER_W, watts)

    async def temperature(
        self, celsius: float, humidity_pct: float | None = None, name: str = "temp-1", room: Room | None = None
    ) -> None:
        device = self.device(name, DeviceKind.TEMPERATURE, room)
        self.sink.reading(device, Metric.TEMPERATURE_C, celsius)
        if humidity_pct is not None:
            self.sink.reading(device, Metric.HUMIDITY_PCT, humidity_pct)

    async def battery(self, name: str, pct: float, lqi: int | None = None) -> None:
        """Battery (and link quality) of a device already used by another method."""
        device = self._devices.get(name)
        if device is None:
            raise ValueError(f"unknown simulated device {name!r}: use it once before reporting its battery")
        self.sink.health(device, battery_pct=pct, signal_lqi=lqi)

    async def link(self, name: str, lqi: int) -> None:
        """Link quality of a mains-powered device (no battery): a periodic sign that it is alive."""
        device = self._devices.get(name)
        if device is None:
            raise ValueError(f"unknown simulated device {name!r}: use it once before reporting its link")
        self.sink.health(device, signal_lqi=lqi)

    async def accelerometer(self, samples: npt.ArrayLike, rate_hz: float, name: str = "wearable-1") -> None:
        """Wearable samples, shape (n, 3) in g at ``rate_hz``; any chunk size."""
        self.sink.accelerometer(self.device(name, DeviceKind.WEARABLE), samples, rate_hz)
