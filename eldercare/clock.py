"""Injectable time.

Rules take ``now``; services take a :class:`Clock`. Simulated time (the simulator runs a week in
minutes) and tests use the same seam, so nobody patches ``datetime``.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


class HeldClock:
    """Simulated time that stands at ``start`` until it is started, then runs like a :class:`ScaledClock`.

    The wall instant it starts at is a file (``path``) shared by every process of a simulated run:
    services get ready, and simulated homes connect, while the clock stands, so however long that
    takes on a loaded machine it never shows on the simulated timeline. The first :meth:`start_now`
    writes the file; every process watches for it (a look at most every ``_LOOK_EVERY_S``).
    """

    _LOOK_EVERY_S = 0.05

    def __init__(self, start: datetime, speed: float, path: Path) -> None:
        if start.tzinfo is None:
            raise ValueError("HeldClock start must be timezone-aware")
        if not speed > 0:
            raise ValueError("HeldClock speed must be positive")
        self.start = start
        self.speed = speed
        self.path = path
        self._running: ScaledClock | None = None
        self._next_look = 0.0

    @property
    def started(self) -> bool:
        return self._clock() is not None

    def now(self) -> datetime:
        running = self._clock()
        return running.now() if running is not None else self.start.astimezone(UTC)

    async def sleep(self, seconds: float) -> None:
        """``seconds`` of simulated time: while the clock stands, that is after it has started."""
        until = self.now() + timedelta(seconds=max(0.0, seconds))
        while (running := self._clock()) is None:  # noqa: ASYNC110 - another process writes the file: only a look tells
            await asyncio.sleep(self._LOOK_EVERY_S)
        await running.sleep((until - running.now()).total_seconds())

    def start_now(self) -> float:
        """Start the clock now, unless another process did first; the wall instant it started at."""
        if self._clock() is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            draft = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
            draft.write_text(repr(time.time()))
            try:
                os.link(draft, self.path)  # atomic, and never replaces an instant already written
            except FileExistsError:
                pass
            finally:
                draft.unlink()
            self._next_look = 0.0
        running = self._clock()
        if running is None:
            raise RuntimeError(f"{self.path} holds no wall-clock instant")
        return running.epoch_wall

    def _clock(self) -> ScaledClock | None:
        if self._running is None and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + self._LOOK_EVERY_S
            epoch = read_epoch(self.path)
            if epoch is not None:
                self._running = ScaledClock(self.start, self.speed, epoch)
        return self._running


def read_epoch(path: Path) -> float | None:
    """The wall-clock instant a :class:`HeldClock` started at, from its file; None before it started."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{path}: not a wall-clock instant (UNIX seconds): {text[:40]!r}") from None


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
