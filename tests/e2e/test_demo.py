"""``eldercare demo`` as a subprocess: it serves the dashboard, and stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.processes import ELDERCARE, cli_env, end_process
from tests.support.services import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # a loaded machine takes minutes


def _wait_for(path: Path, pattern: str, process: subprocess.Popen[bytes], timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found
        if process.poll() is not None:
            raise AssertionError(f"demo exited with {process.returncode}:\n{path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not seen within {timeout_s} s:\n{path.read_text(errors='replace')[-4000:]}")


def test_demo_serves_the_dashboard_and_stops_on_sigterm(
    env_for: Callable[..., dict[str, str]], db_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "demo.log"
    port = free_port()
    args = ["demo", "--homes", "3", "--port", str(port), "--fall-after", "2", "--sos-after", "4"]
    with log.open("wb") as out:
        process = subprocess.Popen([*ELDERCARE, *args], env=cli_env(env_for()), stdout=out, stderr=subprocess.STDOUT)
    try:
        # 400 s bounds a failure only: the demo starts five processes, which takes minutes under load.
        url = _wait_for(log, r"dashboard[^\n]*(http://127\.0\.0\.1:\d+/)", process, 400)[1]
        assert url == f"http://127.0.0.1:{port}/"
        for role in ("admin", "staff", "family", "district"):
            assert re.search(rf"{role}\s+demo-{role}\s+\S{{10,}}", log.read_text()), log.read_text()
        # A lived-in system: every home has its fortnight of history, so routines and "usual" are real.
        assert re.search(r"history:\s+14 days for 3 homes", log.read_text()), log.read_text()
        with psycopg.connect(db_url) as conn:
            spans = conn.execute(
                "SELECT home_id, max(ts) - min(ts) FROM readings WHERE seq >= 10000000000000 GROUP BY home_id"
            ).fetchall()
        assert len(spans) == 3
        assert all(span.days >= 13 for _, span in spans), spans
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, log.read_text(errors="replace")[-4000:]
    finally:
        # SIGTERM first: the demo stops its children (SIGKILL would leave them running).
        end_process(process, timeout_s=120)
    text = log.read_text(errors="replace")
    for service in ("simulator", "api", "alerts", "ingest"):
        assert re.search(rf'"service": "{service}", "exit_code": 0', text), f"{service} did not exit cleanly:\n{text[-4000:]}"
