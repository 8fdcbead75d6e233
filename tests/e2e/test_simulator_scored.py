"""The simulator end to end: real ingest and alert engine subprocesses, a short accelerated run with
a fall, an SOS, a collapse, a network outage and a powered-off gateway, then
``eldercare simulate score`` against the alerts they raised."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.support import platform, simulation_settings
from tests.support.processes import run_cli

pytestmark = pytest.mark.e2e

SPEED = 300.0  # five simulated minutes per wall second
SCENARIO = {
    "incidents": [
        {"kind": "fall", "home": 0, "at": "3m"},
        {"kind": "sos", "home": 1, "at": "4m"},
        {"kind": "collapse", "home": 2, "at": "5m", "duration": "3h"},
        # The line to the broker is cut (the relay drops the TCP connection): the gateway queues on
        # disk and replays when it is back; and a gateway that loses power for 20 minutes.
        {"kind": "network_outage", "home": 3, "at": "8m", "duration": "4m"},
        {"kind": "gateway_offline", "home": 4, "at": "8m", "duration": "20m"},
    ],
    # An untrained routine waits 3 h of daytime silence; the collapse test does not need to.
    "rule_settings": {"inactivity": {"default_threshold_s": 1800}},
}


def test_fall_sos_and_collapse_are_each_detected_with_latency(env_for: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    env = env_for(
        clock__start="2026-03-02T09:00:00+08:00",
        clock__speed=str(SPEED),
        clock__epoch_wall_s=repr(time.time()),
        **simulation_settings(tmp_path, homes=5),
    )
    with platform(env, tmp_path) as (_, alerts):
        simulated = run_cli(["simulate", "run", "--scenario", str(scenario), "--duration", "75m"], env, timeout_s=120)
        assert simulated.returncode == 0, simulated.stderr[-4000:]
        summary = json.loads(simulated.stdout.strip().splitlines()[-1])
        assert summary["failed_homes"] == 0
        assert summary["incidents"] == 5
        assert "simulator_status" in simulated.stderr
        scored = run_cli(["simulate", "score", "--json", "--require-all"], env, timeout_s=60)
        table = run_cli(["simulate", "score"], env, timeout_s=60)
    assert scored.returncode == 0, f"{scored.stdout}\n{scored.stderr}\n{alerts.log_text()[-3000:]}"
    result = json.loads(scored.stdout)["incidents"]
    for kind in ("fall", "sos", "collapse", "gateway_offline"):
        assert result[kind]["detected"] == 1, result
        assert result[kind]["latency_sim_s"]["max"] >= 0
        assert result[kind]["latency_wall_s"]["max"] == pytest.approx(result[kind]["latency_sim_s"]["max"] / SPEED, abs=0.01)
    # A fall is reported as soon as the detector has seen the stillness after the impact; a collapse
    # only once the 30-minute silence (counted from the last motion before it) has passed.
    assert result["fall"]["latency_sim_s"]["max"] < 300
    assert result["collapse"]["latency_sim_s"]["max"] >= 900
    # The outage's readings (dated inside it) reached the database after the line came back.
    assert result["network_outage"]["replayed"] == 1
    # Within the 20 minutes the gateway is off (the rule waits 5 minutes after the last will arrived).
    assert result["gateway_offline"]["latency_sim_s"]["max"] < 1200
    assert "collapse" in table.stdout
    assert "false alerts" in table.stdout
    print(table.stdout)
