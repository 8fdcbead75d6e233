"""The simulator end to end: real ingest and alert engine subprocesses, a short accelerated run with
a fall, an SOS, a collapse, a network outage and a powered-off gateway, then
``eldercare simulate score`` against the alerts they raised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.support import simulate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # a loaded machine takes minutes

# 150 simulated seconds per wall second: a fall must be reported within 300 simulated seconds, two
# wall seconds however loaded the machine (tests/e2e/test_simulator_incidents.py says why).
SPEED = 150.0
START = datetime.fromisoformat("2026-03-02T09:00:00+08:00")
SCENARIO = {
    # Instants relative to the clock's start (the simulator starts its homes' routines then).
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
    run = simulate(
        env_for, tmp_path, homes=5, speed=SPEED, clock_start=START, until=START + timedelta(minutes=75), scenario=SCENARIO
    )
    assert run.summary["failed_homes"] == 0, run.log[-4000:]
    assert run.summary["incidents"] == 5
    assert "simulator_status" in run.log
    result = run.score["incidents"]
    for kind in ("fall", "sos", "collapse", "gateway_offline"):
        assert result[kind]["detected"] == 1, run.table
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
    assert "collapse" in run.table
    assert "false alerts" in run.table
