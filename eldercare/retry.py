"""One way to wait and one way to retry, for every service.

- :func:`sleep_until`: sleep for a while, or less when the process is asked to stop (or another
  task wakes us). Every loop that waits between rounds uses it, so a SIGTERM is never held up by a
  sleep; :func:`stopped_first` waits for a task or the stop, whichever comes first.
- :class:`Backoff`: exponential backoff with full-range jitter, so thousands of gateways (or a
  dozen service copies) that lost the same broker or database do not come back in lockstep.
- :func:`retrying`: run an operation until it works, waiting a backoff after each failure that
  ``retry_if`` accepts, and saying so through ``on_retry`` (logs, metrics, readiness).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eldercare.clock import Clock

T = TypeVar("T")


async def sleep_until(
    stop: asyncio.Event, seconds: float, *, wake: asyncio.Event | None = None, clock: Clock | None = None
) -> bool:
    """Sleep ``seconds`` (of ``clock`` time when given: shorter in wall time under an accelerated
    clock), returning early once ``stop`` or ``wake`` is set. True when ``stop`` is set."""
    if stop.is_set():
        return True
    sleeper: Awaitable[object] = clock.sleep(seconds) if clock is not None else asyncio.sleep(seconds)
    waiters = [asyncio.ensure_future(sleeper), asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Cancelled, never awaited: awaiting them here could swallow a cancellation of this very
        # task that arrives meanwhile (a task group tearing down would then wait for it forever).
        for waiter in waiters:
            waiter.cancel()
    return stop.is_set()


async def stopped_first(stop: asyncio.Event, task: asyncio.Future[Any]) -> bool:
    """Wait until ``task`` is done or ``stop`` is set; True when ``stop`` came first (``task`` then
    still runs: the caller ends it its own way, gracefully or by cancelling)."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()  # not awaited, for the reason given in sleep_until
    return not task.done()


async def cancelled_on_stop(stop: asyncio.Event, work: Awaitable[Any]) -> bool:
    """Run ``work`` until it ends or ``stop`` is set; on ``stop`` cancel it, wait for it to end and
    return True. Otherwise return False, or raise what ``work`` raised (a session that failed)."""
    task = asyncio.ensure_future(work)
    if await stopped_first(stop, task):
        task.cancel()
        await asyncio.wait({task})
        return True
    task.result()
    return False


@dataclass
class Backoff:
    """Delays that double from ``min_s`` up to ``max_s``, each drawn from the upper half of its
    ceiling (never zero, never synchronised). :meth:`reset` after a success."""

    min_s: float
    max_s: float
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.min_s * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    retry_if: Callable[[Exception], bool],
    on_retry: Callable[[Exception, int, float], None],
    stop: asyncio.Event | None = None,
) -> T:
    """``operation()`` until it returns; a failure ``retry_if`` accepts is reported to
    ``on_retry(error, attempt, delay_s)`` and retried after the backoff, any other propagates.

    Without ``stop`` it retries until cancelled; with ``stop``, :class:`StoppedError` ends the wait."""
    while True:
        try:
            result = await operation()
        except Exception as exc:
            if not retry_if(exc):
                raise
            delay = backoff.next_delay()
            on_retry(exc, backoff.attempt, delay)
            if stop is None:
                await asyncio.sleep(delay)
            elif await sleep_until(stop, delay):
                raise StoppedError from exc
        else:
            backoff.reset()
            return result


class StoppedError(Exception):
    """The process was asked to stop while waiting to retry."""
