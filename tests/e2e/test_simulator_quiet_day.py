"""An ordinary morning in ten simulated homes, with no incident: the whole system (gateways, ingest,
the alert engine) must raise no alert at all. It caught every home's unused bed and kettle being
reported offline two hours after their last use (they sent nothing while their state held)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess, run_cli

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
        ingest__metrics_port="0",
        alerts__metrics_port="0",
        simulator__homes="10",
        simulator__data_dir=str(tmp_path / "sim"),
        simulator__ground_truth_file=str(tmp_path / "truth.jsonl"),
        simulator__status_interval_s="5",
    )
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log").start()
    alerts = ServiceProcess(["alerts"], env, tmp_path / "alerts.log").start()
    try:
        ingest.wait_for_log("ingest_ready", timeout_s=60)
        alerts.wait_for_log("alerts_started", timeout_s=60)
        simulated = run_cli(["simulate", "run", "--scenario", str(scenario), "--duration", DURATION], env, timeout_s=180)
        assert simulated.returncode == 0, simulated.stderr[-4000:]
        assert json.loads(simulated.stdout.strip().splitlines()[-1])["failed_homes"] == 0
        # Stop the engine before it sees the homes go offline as the simulator ends.
        assert alerts.stop() == 0, alerts.log_text()[-3000:]
        scored = run_cli(["simulate", "score", "--json", "--since", START], env, timeout_s=60)
    finally:
        assert ingest.stop() == 0, ingest.log_text()[-3000:]
        alerts.stop()
    assert scored.returncode == 0, scored.stderr[-3000:]
    result = json.loads(scored.stdout)
    assert result["false_alerts"] == {}, result
    assert result["alerts_total"] == 0, result
