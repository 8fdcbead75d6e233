"""What the simulator's end-to-end tests share: the settings of a simulated run, and the platform's
ingest and alert engine as real subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import ServiceProcess


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
    """``eldercare ingest`` and ``eldercare alerts``, ready; on the way out the engine is stopped
    (if the caller has not) and ingest must stop cleanly."""
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log").start()
    alerts = ServiceProcess(["alerts"], env, tmp_path / "alerts.log").start()
    try:
        ingest.wait_for_log("ingest_ready", timeout_s=60)
        alerts.wait_for_log("alerts_started", timeout_s=60)
        yield ingest, alerts
    finally:
        alerts.stop()
        assert ingest.stop() == 0, ingest.log_text()[-3000:]
