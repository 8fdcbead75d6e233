"""What drivers and the agent exchange: device references, the sink drivers feed, the driver interface."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy.typing as npt
from pydantic import TypeAdapter, ValidationError

from eldercare.contracts.payloads import DeviceId, DeviceKind, Metric, Room

_DEVICE_ID: TypeAdapter[str] = TypeAdapter(DeviceId)


def check_device_id(device_id: str) -> None:
    """ValueError unless ``device_id`` is valid in the contract (checked before it can spoil a batch)."""
    try:
        _DEVICE_ID.validate_python(device_id)
    except ValidationError:
        raise ValueError(
            "invalid device id: letters, digits and _-:. only, at most 64, starting with a letter or digit"
        ) from None


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """A device as a driver knows it. ``room`` may be overridden by the platform's GatewayConfig."""

    id: str
    kind: DeviceKind
    room: Room | None = None


class Sink(Protocol):
    """Where a driver puts what its devices report. Every method returns at once (no network I/O).

    Bad values (out of the contract's range, NaN, an unknown event shape) raise ValueError, so a
    driver can log and count them per message and carry on.
    """

    def reading(self, device: DeviceRef, metric: Metric, value: float) -> None:
        """A measurement; batched with others (batch_max_readings / batch_max_delay_s)."""
        ...

    def event(self, device: DeviceRef, detail: Mapping[str, object]) -> None:
        """Something happened (``{"type": "sos", "press": "single"}``, door, bed, presence, hazard); queued at once."""
        ...

    def health(
        self,
        device: DeviceRef,
        *,
        battery_pct: float | None = None,
        signal_lqi: int | None = None,
        battery_low: bool | None = None,
        tamper: bool | None = None,
    ) -> None:
        """Battery, link quality and the device's own low-battery and tamper flags for the heartbeat
        (None: not reported this time); a changed battery also becomes a reading."""
        ...

    def availability(self, device: DeviceRef, online: bool) -> None:
        """What the device network says of the device (zigbee2mqtt's availability), for the heartbeat.
        Not a report from the device: it does not make the device look alive."""
        ...

    def accelerometer(self, device: DeviceRef, samples: npt.ArrayLike, rate_hz: float) -> None:
        """Wearable samples, shape (n, 3) in g, fed to the streaming fall detector (in blocks of
        a few seconds: the samples of an unfinished block wait for the next packets)."""
        ...

    def accelerometer_paused(self, device: DeviceRef) -> None:
        """The wearable's stream ended or paused (a recording ran out, the link dropped): judge
        the samples waiting for their block now rather than when the stream resumes."""
        ...

    def now(self) -> datetime:
        """The agent's clock."""
        ...


class Driver(Protocol):
    """A source of readings and events. ``run`` returns when ``stop`` is set (or its source ends)."""

    async def run(self, sink: Sink, stop: asyncio.Event) -> None: ...
