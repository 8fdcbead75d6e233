"""How soon the dashboard's live stream shows a new alert: from the commit of the alert's row to
its ``alert`` event read by an SSE client.

    .venv/bin/python -m bench.stream [--alerts 50] [--clients 5] [--poll 5]

Starts the real ``eldercare api`` on a fresh database, opens ``--clients`` streams as a care-staff
user, then commits ``--alerts`` alerts one at a time (at random moments, so the polling phase is
not the same each time) and times each from its commit to its arrival on every stream. Then the
same run with the database's notifications out of the way (the trigger disabled), so the streams
only poll every ``--poll`` seconds: the same-run ratio is what LISTEN/NOTIFY buys. The target is
a new alert on screen within 200 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import psycopg

from bench.databases import fresh_database
from tests.support.processes import ServiceProcess
from tests.support.services import free_port

SECRET = "bench-stream-secret-0123456789-abcdef-xyz"
PASSWORD = "bench password 0123"


def _world(url: str) -> None:
    from api.security import hash_password

    with psycopg.connect(url, autocommit=True) as conn:
        centre = conn.execute("INSERT INTO care_centres (name) VALUES ('bench') RETURNING id").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO homes (id, care_centre_id) VALUES ('bench-home', %s)", (centre,))
        conn.execute(
            "INSERT INTO users (username, password_hash, role, care_centre_id) VALUES ('bench', %s, 'staff', %s)",
            (hash_password(PASSWORD), centre),
        )


class Listener(threading.Thread):
    """One SSE client: the wall time each alert id first arrived."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.arrived: dict[int, float] = {}
        self.synced = threading.Event()
        self.http = httpx.Client(timeout=httpx.Timeout(10.0, read=None))  # a stream is quiet for long

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with self.http.stream("GET", f"{self.url}/api/v1/alerts/stream", headers=headers) as r:
                name = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: ") and name == "alert":
                        self.arrived.setdefault(int(json.loads(line[6:])["id"]), time.perf_counter())
                    elif line.startswith("data: ") and name == "synced":
                        self.synced.set()
        except (httpx.HTTPError, RuntimeError):
            return  # closed by the run, or the API stopped

    def close(self) -> None:
        self.http.close()


def one_run(url: str, api_url: str, *, alerts: int, clients: int, notify: bool) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM alerts")
        conn.execute(f"ALTER TABLE alerts {'ENABLE' if notify else 'DISABLE'} TRIGGER alerts_notify")
    token = httpx.post(f"{api_url}/api/v1/auth/token", data={"username": "bench", "password": PASSWORD}).json()["access_token"]
    listeners = [Listener(api_url, token) for _ in range(clients)]
    for listener in listeners:
        listener.start()
        listener.synced.wait(30)
    latencies: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(alerts):
            time.sleep(random.uniform(0.05, 0.5))
            row = conn.execute(
                "INSERT INTO alerts (home_id, care_centre_id, kind, severity, explanation_en, explanation_zh, opened_at,"
                " updated_at) SELECT 'bench-home', care_centre_id, %s, 'critical', 'bench', '测试', now(), now()"
                " FROM homes RETURNING id",
                (f"bench_{i}",),
            ).fetchone()
            committed = time.perf_counter()
            alert_id = int(row[0])  # type: ignore[index]
            deadline = committed + 30
            while any(alert_id not in lst.arrived for lst in listeners) and time.perf_counter() < deadline:
                time.sleep(0.001)
            latencies += [lst.arrived[alert_id] - committed for lst in listeners if alert_id in lst.arrived]
    for listener in listeners:
        listener.close()
    return latencies


def _figures(label: str, values: list[float]) -> float:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    print(
        f"{label:<28} n={len(ordered):4d}  p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
    )
    return p50


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--poll", type=float, default=5.0, help="the streams' backstop polling interval, seconds")
    args = parser.parse_args(argv)
    with fresh_database("bench_stream") as url, tempfile.TemporaryDirectory() as work:
        _world(url)
        port = free_port()
        env = {
            "ELDERCARE_DATABASE_URL": url,
            "ELDERCARE_API__PORT": str(port),
            "ELDERCARE_API__JWT_SECRET": SECRET,
            "ELDERCARE_API__STREAM_POLL_INTERVAL_S": str(args.poll),
            "ELDERCARE_DB__POOL_MAX_SIZE": str(args.clients + 4),
        }
        api = ServiceProcess(["api"], env, Path(work) / "api.log").start()
        api_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{api_url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            print(f"{args.alerts} alerts x {args.clients} streams; backstop polling every {args.poll} s")
            notified = _figures("LISTEN/NOTIFY", one_run(url, api_url, alerts=args.alerts, clients=args.clients, notify=True))
            polled = _figures(
                "polling only (trigger off)", one_run(url, api_url, alerts=args.alerts, clients=args.clients, notify=False)
            )
            print(f"p50 ratio polling / notify: {polled / notified:.0f}x")
        finally:
            api.stop()


if __name__ == "__main__":
    main()
