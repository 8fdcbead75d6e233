"""Run the real ``eldercare`` CLI as subprocesses, for crash and end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ELDERCARE = [sys.executable, "-m", "eldercare"]


def cli_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The parent environment without any ELDERCARE_* variable, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ELDERCARE_")}
    env.update(settings)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def end_process(process: subprocess.Popen[bytes], *, kill: bool = False, timeout_s: float = 10) -> None:
    """SIGTERM (or SIGKILL) a helper process we started and reap it; SIGKILL if it ignores SIGTERM."""
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def run_cli(
    args: list[str], settings: Mapping[str, str], *, timeout_s: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ELDERCARE, *args], input=stdin, env=cli_env(settings), capture_output=True, text=True, timeout=timeout_s, check=False
    )


class ServiceProcess:
    """A long-running ``eldercare <service>`` whose output goes to a log file."""

    def __init__(self, args: list[str], settings: Mapping[str, str], log_path: Path) -> None:
        self.args = args
        self.settings = dict(settings)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*ELDERCARE, *self.args], env=cli_env(self.settings), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # Bounds on a failing test, not measurements: a service starting on a loaded two-core machine
    # (load 20) took more than 30 s to import, connect and log, and more than 20 s to stop.
    def wait_for_log(self, needle: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.args} exited with {self.process.returncode}:\n{self.log_text()[-4000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not seen in {timeout_s} s:\n{self.log_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: the crash that no code gets to react to."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 90) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(f"{self.args} did not stop within {timeout_s} s:\n{self.log_text()[-4000:]}") from None
        return self.process.returncode


def readiness(port: int, path: str = "/ready") -> tuple[int, dict[str, object]]:
    """(HTTP status, JSON body) of a service's readiness endpoint."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
