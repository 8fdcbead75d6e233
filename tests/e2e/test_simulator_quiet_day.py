"""An ordinary morning in ten simulated homes, with no incident: the whole system (gateways, ingest,
the alert engine) must raise no alert at all. It caught every home's unused bed and kettle being
reported offline two hours after their last use (they sent nothing while their state held)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import platform, simulation_settings
from tests.support.processes import run_cli

pytestmark = pytest.mark.e2e

START = "2026-03-03T05:00:00+08:00"  # before the residents get up (the simulator's zone is Asia/Shanghai)
SPEED = 600.0  # ten simulated minutes per wall second
DURATION = "330m"  # past devices.offline_after_s (2 h) after the bed is left and the kettle used


def test_an_ordinary_morning_raises_no_alert(env_for: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"incidents": []}))
    env = env_for(
        clock__start=START,
        clock__speed=str(SPEED),
        clock__epoch_wall_s=repr(time.time() + 4),  # the clock starts once the services are up
        **simulation_settings(tmp_path, homes=10, status_interval_s=5),
    )
    with platform(env, tmp_path) as (_, alerts):
        simulated = run_cli(["simulate", "run", "--scenario", str(scenario), "--duration", DURATION], env, timeout_s=180)
        assert simulated.returncode == 0, simulated.stderr[-4000:]
        assert json.loads(simulated.stdout.strip().splitlines()[-1])["failed_homes"] == 0
        # Stop the engine before it sees the homes go offline as the simulator ends.
        assert alerts.stop() == 0, alerts.log_text()[-3000:]
        scored = run_cli(["simulate", "score", "--json", "--since", START], env, timeout_s=60)
    assert scored.returncode == 0, scored.stderr[-3000:]
    result = json.loads(scored.stdout)
    assert result["false_alerts"] == {}, result
    assert result["alerts_total"] == 0, result
