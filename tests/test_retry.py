"""The one way to wait and retry (eldercare.retry): backoff with jitter, sleeps that end on stop."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from eldercare.clock import ScaledClock
from eldercare.errors import PermanentError, TransientError
from eldercare.retry import Backoff, StoppedError, cancelled_on_stop, retrying, sleep_until


def test_reconnect_backoff_grows_with_jitter_up_to_the_ceiling() -> None:
    backoff = Backoff(0.5, 30.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    assert 0.25 <= delays[0] <= 0.5
    assert 4.0 <= delays[4] <= 8.0
    assert all(15.0 <= d <= 30.0 for d in delays[7:])
    assert len({round(d, 6) for d in delays[7:]}) == 5, "jitter: gateways do not reconnect in lockstep"
    backoff.reset()
    assert backoff.next_delay() <= 0.5


async def test_a_sleep_ends_when_stop_or_wake_is_set() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_soon(wake.set)
    assert await sleep_until(stop, 3600, wake=wake) is False
    asyncio.get_running_loop().call_soon(stop.set)
    assert await sleep_until(stop, 3600) is True
    assert await sleep_until(stop, 3600) is True  # already stopped: no wait at all


async def test_a_sleep_counts_in_clock_time() -> None:
    clock = ScaledClock(start=datetime(2026, 5, 1, tzinfo=UTC), speed=10_000)
    assert await sleep_until(asyncio.Event(), 3600, clock=clock) is False  # 0.36 s of wall time


async def test_retrying_retries_what_it_is_told_to_and_reports_each_attempt() -> None:
    failures = [TransientError("down"), TransientError("still down")]
    reports: list[tuple[str, int]] = []

    async def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    result = await retrying(
        flaky,
        backoff=Backoff(0.001, 0.002),
        retry_if=lambda exc: isinstance(exc, TransientError),
        on_retry=lambda exc, attempt, delay: reports.append((str(exc), attempt)),
    )
    assert result == "done"
    assert reports == [("down", 1), ("still down", 2)]

    async def refused() -> str:
        raise PermanentError("bad credentials")

    with pytest.raises(PermanentError):
        await retrying(
            refused, backoff=Backoff(0.001, 0.002), retry_if=lambda exc: isinstance(exc, TransientError), on_retry=print
        )


async def test_retrying_gives_up_waiting_when_stopped() -> None:
    stop = asyncio.Event()

    async def down() -> None:
        stop.set()
        raise TransientError("down")

    with pytest.raises(StoppedError):
        await retrying(down, backoff=Backoff(60, 60), retry_if=lambda exc: True, on_retry=lambda *_: None, stop=stop)


async def test_work_cancelled_on_stop_ends_before_the_call_returns() -> None:
    stop, ended = asyncio.Event(), asyncio.Event()

    async def session() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await cancelled_on_stop(stop, session()) is True
    assert ended.is_set()


async def test_work_that_ends_or_fails_first_is_reported_as_it_ended() -> None:
    async def fails() -> None:
        raise TransientError("the broker went away")

    assert await cancelled_on_stop(asyncio.Event(), asyncio.sleep(0)) is False
    with pytest.raises(TransientError):
        await cancelled_on_stop(asyncio.Event(), fails())
