"""Devices the gateway has heard from: where they are (GatewayConfig wins) and their health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge.model import DeviceRef
from eldercare.contracts.payloads import Availability, DeviceAssignment, DeviceHealth, DeviceKind, Room

MAX_HEARTBEAT_DEVICES = 256  # the contract's limit on Heartbeat.devices


@dataclass(frozen=True, slots=True)
class Flags:
    """A device's own status flags (zigbee IAS zone status); None = not reported this time."""

    battery_low: bool | None = None
    tamper: bool | None = None


@dataclass(slots=True)
class _Health:
    kind: DeviceKind
    room: Room | None
    battery_pct: float | None = None
    signal_lqi: int | None = None
    last_seen: datetime | None = None
    battery_low: bool | None = None
    tamper: bool | None = None
    availability: Availability | None = None  # "online" / "offline" as the device network says; None: not tracked


class DeviceRegistry:
    def __init__(self) -> None:
        self._devices: dict[str, _Health] = {}
        self._assigned: dict[str, DeviceAssignment] = {}

    def assign(self, assignments: list[DeviceAssignment]) -> None:
        """Apply the platform's device list: its kind and room override what a driver says."""
        self._assigned = {a.device: a for a in assignments}
        for device_id, health in self._devices.items():
            assignment = self._assigned.get(device_id)
            if assignment is not None:
                health.kind, health.room = assignment.kind, assignment.room

    def resolve(self, device: DeviceRef) -> DeviceRef:
        assignment = self._assigned.get(device.id)
        if assignment is None:
            return device
        return DeviceRef(device.id, assignment.kind, assignment.room if assignment.room is not None else device.room)

    def seen(self, device: DeviceRef, at: datetime) -> _Health:
        health = self._devices.get(device.id)
        if health is None:
            health = self._devices[device.id] = _Health(device.kind, device.room)
        health.last_seen = at
        return health

    def availability(self, device: DeviceRef, online: bool) -> None:
        """Record what the device network says, without counting it as the device being seen."""
        health = self._devices.get(device.id)
        if health is None:
            health = self._devices[device.id] = _Health(device.kind, device.room)
        health.availability = "online" if online else "offline"

    def update(
        self, device: DeviceRef, at: datetime, battery_pct: float | None, signal_lqi: int | None, flags: Flags | None = None
    ) -> bool:
        """Record health; True when the battery level changed (worth a battery_pct reading)."""
        health = self.seen(device, at)
        flags = flags or Flags()
        if flags.battery_low is not None:
            health.battery_low = flags.battery_low
        if flags.tamper is not None:
            health.tamper = flags.tamper
        changed = battery_pct is not None and battery_pct != health.battery_pct
        if battery_pct is not None:
            health.battery_pct = battery_pct
        if signal_lqi is not None:
            health.signal_lqi = signal_lqi
        return changed

    def health(self) -> list[DeviceHealth]:
        items = sorted(self._devices.items())[:MAX_HEARTBEAT_DEVICES]
        return [
            DeviceHealth(
                device=device_id,
                kind=h.kind,
                room=h.room,
                battery_pct=h.battery_pct,
                signal_lqi=h.signal_lqi,
                last_seen=h.last_seen,
                battery_low=h.battery_low,
                tamper=h.tamper,
                availability=h.availability,
            )
            for device_id, h in items
        ]
