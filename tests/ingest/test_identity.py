"""Copies of ingest started with identical settings (as compose scales them) get distinct client ids,
and a copy that dies is replaced under the same id, so the broker resumes its persistent session."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


def _events(process: ServiceProcess, event: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in process.log_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def _started(env: dict[str, str], log: Path) -> tuple[ServiceProcess, str]:
    process = ServiceProcess(["ingest"], env, log).start()
    process.wait_for_log('"ingest_ready"', 60)
    (started,) = _events(process, "ingest_started")
    return process, str(started["client_id"])


def test_scaled_copies_have_stable_unique_client_ids(
    env_for: Callable[..., dict[str, str]], tmp_path: Path, topic_root: str
) -> None:
    env = env_for(ingest__metrics_port="0")  # the same environment for every copy, as under compose
    first, first_id = _started(env, tmp_path / "first.log")
    second, second_id = _started(env, tmp_path / "second.log")
    replacement = None
    try:
        assert {first_id, second_id} == {f"{topic_root}-ingest-0", f"{topic_root}-ingest-1"}
        first.kill()  # SIGKILL: no goodbye to the broker or the database
        replacement, replacement_id = _started(env, tmp_path / "replacement.log")
        assert replacement_id == first_id
        # The broker kept the killed copy's sessions (bulk and urgent lanes) and hands them back.
        connected = _events(replacement, "mqtt_connected")
        assert len(connected) == 2
        assert all(event["session_present"] is True for event in connected)
    finally:
        for process in (second, replacement):
            if process is not None:
                assert process.stop() == 0
