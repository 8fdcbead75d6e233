"""The fall pipeline end to end: six homes of the simulator (real edge agents and their fall
detector, real ingest and alert engine subprocesses, a real broker and database) each play one
fall scenario, and ``eldercare simulate score`` says what the platform made of each, with the
time to alert."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.alerts.support import sql
from tests.e2e.support import platform, simulation_settings
from tests.support.processes import run_cli

pytestmark = pytest.mark.e2e

# Every wall second of the platform's own latency (edge queue, broker, ingest, inbox) is SPEED
# simulated seconds: the bounds below leave room for a loaded machine. The time-to-alert table of
# docs/ comes from the same scenario at speed 10.
SPEED = 20.0
SCENARIO = {
    "incidents": [
        {"kind": "fall", "home": 0, "at": "2m"},  # a hard fall nobody cancels
        {"kind": "fall_cancelled", "home": 1, "at": "3m"},  # a false trigger: "I'm OK"
        {"kind": "soft_fall", "home": 2, "at": "4m"},  # a faint from a chair, then stillness
        {"kind": "sofa_rest", "home": 3, "at": "5m"},
        {"kind": "turning_over", "home": 4, "at": "6m"},  # in bed: the scripts put the mat's state
        {"kind": "fall_out_of_bed", "home": 5, "at": "7m"},
    ],
}


@pytest.mark.timeout(600)  # 30 simulated minutes at speed 20: 90 s of wall time, more on a loaded machine
def test_each_fall_scenario_ends_as_it_should(db_url: str, env_for: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    env = env_for(
        clock__start="2026-03-02T20:00:00+08:00",  # before any resident's bedtime (21:00-23:00)
        clock__speed=str(SPEED),
        clock__epoch_wall_s=repr(time.time()),
        **simulation_settings(tmp_path, homes=6),
    )
    with platform(env, tmp_path) as (_, alerts):
        simulated = run_cli(["simulate", "run", "--scenario", str(scenario), "--duration", "30m"], env, timeout_s=400)
        assert simulated.returncode == 0, simulated.stderr[-4000:]
        assert json.loads(simulated.stdout.strip().splitlines()[-1])["incidents"] == 6
        scored = run_cli(["simulate", "score", "--json"], env, timeout_s=60)
        table = run_cli(["simulate", "score"], env, timeout_s=60)
    assert scored.returncode == 0, f"{scored.stdout}\n{scored.stderr}\n{alerts.log_text()[-3000:]}"
    print(table.stdout)
    query = "SELECT home_id, status, outcome, explanation_en, explanation_zh FROM alerts WHERE kind = 'fall' ORDER BY home_id"
    for row in sql(db_url, query):
        print(*row, sep="\n  ")  # every step of each fall, as staff read it
    result = json.loads(scored.stdout)
    incidents = result["incidents"]
    for kind in ("fall", "soft_fall", "fall_out_of_bed"):
        assert incidents[kind]["detected"] == 1, result
    # A hard fall is raised when its 30-s cancel window ends (counted from the impact), a soft one
    # once 120 s without a sign of life have passed: never before, and not much later.
    assert 30 <= incidents["fall"]["latency_sim_s"]["max"] < 150
    assert 120 <= incidents["soft_fall"]["latency_sim_s"]["max"] < 270
    assert 30 <= incidents["fall_out_of_bed"]["latency_sim_s"]["max"] < 150
    assert incidents["fall_cancelled"]["closed"] == 1
    assert incidents["turning_over"]["closed"] == 1
    # Nobody is called for the cancel, the sofa or turning over (the gateways go offline when the
    # simulator stops, before the scoring: those alerts are the run's end, not a scenario's).
    assert set(result["false_alerts"]) <= {"gateway_offline", "device_offline"}, result
