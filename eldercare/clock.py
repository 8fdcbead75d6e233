"""Injectable time.

Rules take ``now``; services take a :class:`Clock`. Simulated time (the simulator runs a week in
minutes) and tests use the same seam, so nobody patches ``datetime``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where a service gets the current instant and how it waits."""

    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass
class ScaledClock:
    """Simulated time: starts at ``start`` and runs ``speed`` times faster than the wall clock.

    Every process given the same ``start``, ``speed`` and ``epoch_wall`` agrees on the time, which
    is how the simulator, ingest and the alert engine share one accelerated timeline.
    """

    start: datetime
    speed: float = 1.0
    epoch_wall: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("ScaledClock start must be timezone-aware")
        if not self.speed > 0:
            raise ValueError("ScaledClock speed must be positive")

    def now(self) -> datetime:
        elapsed = (time.time() - self.epoch_wall) * self.speed
        return (self.start + timedelta(seconds=elapsed)).astimezone(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


@dataclass
class FixedClock:
    """A clock that only moves when told to: for tests and step-by-step evaluation."""

    current: datetime

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("FixedClock time must be timezone-aware")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)
