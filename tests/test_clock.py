"""The held clock: simulated time that stands at its start until a shared file says when it started."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eldercare.clock import HeldClock, read_epoch
from eldercare.config import load_settings
from eldercare.errors import ConfigError
from eldercare.lifecycle import clock_from

START = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)


def test_it_stands_at_its_start_until_started_then_every_process_agrees(tmp_path: Path) -> None:
    path = tmp_path / "clock" / "epoch"
    first, second = HeldClock(START, 600, path), HeldClock(START, 600, path)
    assert (first.now(), first.started, read_epoch(path)) == (START, False, None)
    epoch = first.start_now()
    assert read_epoch(path) == epoch
    assert second.start_now() == epoch, "a later start_now keeps the instant already written"
    assert first.now() >= START
    assert abs((first.now() - second.now()).total_seconds()) < 600 * 0.5  # both read the same epoch
    assert list(path.parent.iterdir()) == [path], "no draft left behind"


async def test_a_sleep_while_it_stands_ends_that_long_after_it_started(tmp_path: Path) -> None:
    clock = HeldClock(START, 6000, tmp_path / "epoch")
    sleeper = asyncio.ensure_future(clock.sleep(600))  # 0.1 wall s once started
    await asyncio.sleep(0.2)
    assert not sleeper.done(), "time stands: nothing is due yet"
    clock.start_now()
    await asyncio.wait_for(sleeper, timeout=30)
    assert clock.now() >= START + timedelta(seconds=600)


def test_the_settings_choose_it_and_refuse_two_epochs(tmp_path: Path) -> None:
    path = tmp_path / "epoch"
    clock = clock_from(load_settings(clock={"start": START.isoformat(), "speed": 60, "epoch_file": str(path)}))
    assert isinstance(clock, HeldClock)
    assert clock.path == path
    with pytest.raises(ConfigError, match="not both"):
        load_settings(clock={"start": START.isoformat(), "epoch_file": str(path), "epoch_wall_s": time.time()})


def test_a_file_that_holds_no_instant_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "epoch"
    path.write_text("soon")
    with pytest.raises(ValueError, match="not a wall-clock instant"):
        HeldClock(START, 60, path).now()
