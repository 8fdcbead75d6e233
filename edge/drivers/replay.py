"""The ``replay`` driver: plays a recorded accelerometer file through the agent's fall detector.

The file is in SisFall's format: one sample per line, nine comma-separated integer ADC counts and a
``;``; columns 1-3 are the ADXL345 (±16 g, 13 bit: g = counts / 256), sampled at 200 Hz. Samples
are fed in chunks of ``chunk_s`` at ``speed`` times real time (speed 10 plays 15 s in 1.5 s); the
agent sees them exactly as it would see a live wearable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.model import DeviceRef, Sink, check_device_id
from eldercare import logs
from eldercare.clock import Clock
from eldercare.contracts.payloads import DeviceKind
from eldercare.errors import ConfigError

SISFALL_RATE_HZ = 200.0
ADXL345_COUNTS_PER_G = 256.0
_COLUMNS = 9


def load_sisfall(path: Path) -> npt.NDArray[np.float64]:
    """The ADXL345 samples of a SisFall trial, shape (n, 3) in g. ValueError when the file is not one."""
    text = path.read_text(encoding="ascii", errors="strict").replace(";", ",")
    fields = [f for f in (part.strip() for part in text.split(",")) if f]
    if not fields or len(fields) % _COLUMNS:
        raise ValueError(f"{path.name}: expected lines of {_COLUMNS} comma-separated values ending with ';'")
    try:
        counts = np.array(fields, dtype=np.float64).reshape(-1, _COLUMNS)
    except ValueError:
        raise ValueError(f"{path.name}: a value is not a number") from None
    return counts[:, 0:3] / ADXL345_COUNTS_PER_G


class ReplayDriver:
    def __init__(
        self,
        samples: npt.NDArray[np.float64],
        *,
        device: DeviceRef,
        clock: Clock,
        speed: float = 1.0,
        rate_hz: float = SISFALL_RATE_HZ,
        chunk_s: float = 0.25,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._samples = samples
        self._device = device
        self._clock = clock
        self._speed = speed
        self._rate_hz = rate_hz
        self._chunk = max(1, round(chunk_s * rate_hz))
        self.samples_played = 0
        self.finished = asyncio.Event()

    @classmethod
    def from_file(cls, path: Path, *, device_id: str, clock: Clock, speed: float = 1.0) -> ReplayDriver:
        try:
            check_device_id(device_id)
        except ValueError as exc:
            raise ConfigError([f"ELDERCARE_EDGE__REPLAY_DEVICE_ID: {exc}"]) from None
        try:
            samples = load_sisfall(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError([f"ELDERCARE_EDGE__REPLAY_FILE: {exc}"]) from None
        return cls(samples, device=DeviceRef(device_id, DeviceKind.WEARABLE), clock=clock, speed=speed)

    async def run(self, sink: Sink, stop: asyncio.Event) -> None:
        log = logs.get("edge").bind(driver="replay", device=self._device.id)
        log.info("edge_replay_started", samples=len(self._samples), rate_hz=self._rate_hz, speed=self._speed)
        for start in range(0, len(self._samples), self._chunk):
            if stop.is_set():
                break
            chunk = self._samples[start : start + self._chunk]
            sink.accelerometer(self._device, chunk, self._rate_hz)
            self.samples_played += len(chunk)
            await self._clock.sleep(len(chunk) / self._rate_hz / self._speed)
        sink.accelerometer_paused(self._device)  # the recording's last samples do not wait for more
        log.info("edge_replay_finished", samples=self.samples_played)
        self.finished.set()
        await stop.wait()  # the agent keeps running (and delivering) after the recording ends
