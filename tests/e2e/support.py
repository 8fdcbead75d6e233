"""What the simulator's end-to-end tests share: a simulated run with the platform's ingest and alert
engine as real subprocesses, on a clock that starts only when everything is up, then its score.

Every step waits on a condition, never on a guessed delay, so a loaded machine makes a run slower,
never different: the services start with the shared clock held at its start instant (a
``clock.epoch_file`` that does not exist yet); once ingest and the engine are ready the simulator
registers and connects its homes, and only when every home is connected does it start the clock
(it writes the file). The run ends when the clock reads the end instant: the engine is stopped
first, then the simulator (stopping homes say "offline", which the engine would otherwise judge).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eldercare.clock import read_epoch
from tests.support.processes import ServiceProcess, run_cli

# Bounds a failing run only (a service that never gets ready, homes that never connect).
READY_TIMEOUT_S = 120.0


def simulation_settings(tmp_path: Path, homes: int, *, status_interval_s: float = 1.0) -> dict[str, str]:
    """``env_for`` keywords of a simulated run with ``homes`` homes, its files under ``tmp_path``."""
    return {
        "ingest__metrics_port": "0",
        "alerts__metrics_port": "0",
        "simulator__homes": str(homes),
        "simulator__data_dir": str(tmp_path / "sim"),
        "simulator__ground_truth_file": str(tmp_path / "truth.jsonl"),
        "simulator__status_interval_s": f"{status_interval_s:g}",
    }


@contextmanager
def platform(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """``eldercare ingest`` and ``eldercare alerts``, ready (they log it when their ``GET /ready``
    turns 200); on the way out the engine is stopped (if the caller has not) and ingest must stop cleanly."""
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log").start()
    alerts = ServiceProcess(["alerts"], env, tmp_path / "alerts.log").start()
    try:
        ingest.wait_for_log("ingest_ready", timeout_s=READY_TIMEOUT_S)
        alerts.wait_for_log("alerts_started", timeout_s=READY_TIMEOUT_S)
        yield ingest, alerts
    finally:
        alerts.stop()
        assert ingest.stop() == 0, ingest.log_text()[-3000:]


@dataclass
class Run:
    score: dict[str, Any]  # `simulate score --json`
    truth: list[dict[str, Any]]  # the ground truth file, one record per injected incident
    summary: dict[str, Any]  # the simulator's closing line
    table: str  # `simulate score`, for failure messages
    log: str  # the simulator's output


def simulate(
    env_for: Callable[..., dict[str, str]],
    tmp_path: Path,
    *,
    homes: int,
    speed: float,
    clock_start: datetime,
    until: datetime,
    scenario: dict[str, Any],
    history_days: int = 0,
    status_interval_s: float = 1.0,
    require_all: bool = True,
) -> Run:
    """Ingest, alerts and ``simulate run`` from ``clock_start`` until the clock reads ``until``, then
    ``simulate score`` of every alert opened from ``clock_start`` on.

    With ``history_days``, home 0 first gets that much routine history ending at ``clock_start``
    (``simulate backfill``), so that the engine learns its routine."""
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    settings = simulation_settings(tmp_path, homes, status_interval_s=status_interval_s)
    if history_days:
        args = ["simulate", "backfill", "--days", str(history_days), "--homes", "1", "--end", clock_start.isoformat()]
        backfilled = run_cli(args, env_for(**settings), timeout_s=120)
        assert backfilled.returncode == 0, backfilled.stderr[-4000:]
    epoch_file = tmp_path / "clock-epoch"
    env = env_for(clock__start=clock_start.isoformat(), clock__speed=str(speed), clock__epoch_file=str(epoch_file), **settings)
    with platform(env, tmp_path) as (ingest, alerts):
        sim = ServiceProcess(["simulate", "run", "--scenario", str(path)], env, tmp_path / "simulate.log").start()
        try:
            services = (ingest, alerts, sim)
            epoch = _wait(
                lambda: read_epoch(epoch_file), services, READY_TIMEOUT_S, "the homes to connect and the clock to start"
            )
            end_wall = epoch + (until - clock_start).total_seconds() / speed
            _wait(lambda: time.time() >= end_wall or None, services, end_wall - time.time() + READY_TIMEOUT_S, "the end")
            assert alerts.stop() == 0, alerts.log_text()[-3000:]
            assert sim.stop() == 0, sim.log_text()[-4000:]
        finally:
            sim.stop()
    # A gateway's client id is gw-<home id>: two runs with the same home names on one broker take each
    # other's persistent sessions over in a loop, and with them each other's subscriptions (configs, commit
    # acknowledgements), which the gateway then refuses for their topic root. Such a run fails with false
    # alerts and messages left unacknowledged; say why instead (env_for names the homes after the topic root).
    foreign = [line for line in sim.log_text().splitlines() if '"edge_config_rejected"' in line and "topic root" in line]
    assert not foreign, f"another run uses these home names on this broker (session takeovers):\n{foreign[0]}"
    summaries = [line for line in sim.log_text().splitlines() if line.startswith("{") and '"failed_homes"' in line]
    assert summaries, sim.log_text()[-4000:]
    since = ["--since", clock_start.isoformat()]
    scored = run_cli(["simulate", "score", "--json", *(["--require-all"] if require_all else []), *since], env, timeout_s=60)
    table = run_cli(["simulate", "score", *since], env, timeout_s=60)
    assert scored.returncode == 0, f"{scored.stdout}\n{scored.stderr}\n{alerts.log_text()[-3000:]}"
    truth_file = tmp_path / "truth.jsonl"
    truth = [json.loads(line) for line in truth_file.read_text().splitlines() if line.strip()] if truth_file.exists() else []
    print(table.stdout)
    return Run(json.loads(scored.stdout), truth, json.loads(summaries[-1]), table.stdout, sim.log_text())


def _wait(condition: Callable[[], Any], services: tuple[ServiceProcess, ...], timeout_s: float, what: str) -> Any:
    """Poll ``condition`` until it returns something other than None, every service still running."""
    deadline = time.monotonic() + timeout_s
    while (result := condition()) is None:
        for service in services:
            assert service.process is not None
            assert service.process.poll() is None, (
                f"{service.args} exited while waiting for {what}:\n{service.log_text()[-4000:]}"
            )
        assert time.monotonic() < deadline, (
            f"still waiting for {what} after {timeout_s:.0f} s:\n{services[-1].log_text()[-4000:]}"
        )
        time.sleep(0.05)
    return result
