"""An ordinary morning in ten simulated homes, with no incident: the whole system (gateways, ingest,
the alert engine) must raise no alert at all. It caught every home's unused bed and kettle being
reported offline two hours after their last use (they sent nothing while their state held)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.support import simulate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # a loaded machine takes minutes

START = datetime.fromisoformat("2026-03-03T05:00:00+08:00")  # before the residents get up (the simulator's zone)
# Five simulated minutes per wall second: a false bathroom alert needs the platform 9 wall seconds
# behind (45 simulated minutes), a false device_offline 24 (2 hours). At 600x a loaded machine got there.
SPEED = 300.0
DURATION = timedelta(minutes=330)  # past devices.offline_after_s (2 h) after the bed is left and the kettle used


def test_an_ordinary_morning_raises_no_alert(env_for: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    run = simulate(
        env_for,
        tmp_path,
        homes=10,
        speed=SPEED,
        clock_start=START,
        until=START + DURATION,
        scenario={"incidents": []},
        status_interval_s=5,
        require_all=False,
    )
    assert run.summary["failed_homes"] == 0, run.log[-4000:]
    assert run.score["false_alerts"] == {}, run.table
    assert run.score["alerts_total"] == 0, run.table
