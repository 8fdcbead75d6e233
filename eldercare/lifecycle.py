"""Process lifecycle: one event loop, signals that stop intake, and a grace period to drain."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from eldercare.clock import Clock, HeldClock, ScaledClock, SystemClock
from eldercare.config import Settings


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``; a service then stops intake and drains what it holds."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def run_until_stopped(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` with ``stop`` wired to SIGTERM/SIGINT."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    await main(stop)


def clock_from(settings: Settings) -> Clock:
    """The clock every service uses: wall time, or the shared simulated timeline when configured."""
    cfg = settings.clock
    if cfg.start is None:
        return SystemClock()
    if cfg.epoch_file is not None:
        return HeldClock(cfg.start, cfg.speed, cfg.epoch_file)
    if cfg.epoch_wall_s is None:
        return ScaledClock(start=cfg.start, speed=cfg.speed)
    return ScaledClock(start=cfg.start, speed=cfg.speed, epoch_wall=cfg.epoch_wall_s)
