"""Hazard latency: from a home-safety alarm's report on the home's zigbee2mqtt broker to the signed
webhook received by the care centre, at night, in quiet hours, with the resident away.

    python -m bench.hazard_latency [--rounds 10]

Everything is real and local: a private Mosquitto on a free port (playing both the home's
zigbee2mqtt broker and the platform's), a fresh database (see bench/databases.py), and as
subprocesses ``eldercare edge`` with the zigbee2mqtt driver, ``eldercare ingest`` and ``eldercare
alerts`` with their default timings. Each round publishes one alarm state per hazard (smoke, gas,
carbon monoxide, water leak) the way zigbee2mqtt does, waits for the webhook, then resolves the
alert as staff would and sends the all-clear, so the next round raises a new alert. Each latency
is publish-start to webhook receipt, both on this machine's clock.

It prints the figures and the share within the 2 s target; it asserts nothing (speed lives here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from bench.alert_latency import percentile
from bench.databases import fresh_database
from eldercare.config import load_settings
from eldercare.mqtt import connect
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess
from tests.support.services import free_port

ROOT = "bench"
BASE = "zigbee2mqtt"
HOME = "bench-home"
TARGET_S = 2.0
# friendly name -> (device, kind, room, the alarm's property)
DEVICES = {
    "Kitchen smoke": ("smoke-1", "smoke", "kitchen", "smoke"),
    "Kitchen gas": ("gas-1", "gas", "kitchen", "gas"),
    "Living CO": ("co-1", "co", "living_room", "carbon_monoxide"),
    "Bathroom leak": ("leak-1", "water_leak", "bathroom", "water_leak"),
}
KIND_OF = {name: kind for name, (_, kind, _, _) in DEVICES.items()}


class Receiver:
    """Records when each alert's first notification arrives, by alert kind."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[str, float] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with receiver.changed:
                    receiver.arrived.setdefault(body["alert"]["kind"], at)
                    receiver.changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, kinds: set[str], timeout_s: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: kinds <= set(self.arrived), timeout_s)


def seed(db_url: str, hook_url: str) -> None:
    """A centre whose quiet hours cover now, in a zone where it is night, and a resident away."""
    now = datetime.now(UTC)
    offset = (2 - now.hour) % 24
    offset = offset - 24 if offset > 14 else offset
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO care_centres (name, timezone, quiet_start, quiet_end) VALUES ('bench', %s, '22:00', '07:00')"
            " RETURNING id",
            (zone,),
        ).fetchone()
        assert row is not None
        conn.execute("INSERT INTO homes (id, care_centre_id, timezone) VALUES (%s, %s, %s)", (HOME, row[0], zone))
        resident = conn.execute("INSERT INTO residents (home_id, full_name) VALUES (%s, 'bench') RETURNING id", (HOME,))
        conn.execute(
            "INSERT INTO absences (resident_id, starts_at, ends_at, reason) VALUES (%s, %s, %s, 'holiday')",
            (resident.fetchone()[0], now - timedelta(days=1), now + timedelta(days=1)),  # type: ignore[index]
        )
        conn.execute(
            "INSERT INTO notification_channels (care_centre_id, name, kind, target, secret)"
            " VALUES (%s, 'hook', 'webhook', %s, 'bench-webhook-secret')",
            (row[0], hook_url),
        )


async def publish_round(mqtt_url: str, alarm: bool) -> dict[str, float]:
    """One state per alarm device, as zigbee2mqtt publishes it; returns when each was published."""
    settings = load_settings(mqtt_url=mqtt_url, mqtt={"topic_root": ROOT})
    published: dict[str, float] = {}
    async with connect(settings, client_id="bench-z2m") as z2m:
        for name, (_, kind, _, key) in DEVICES.items():
            state = {key: alarm, "battery": 90, "linkquality": 120}
            published[kind] = time.time()
            await z2m.publish(f"{BASE}/{name}", json.dumps(state).encode(), qos=1)
    return published


def resolve_all(db_url: str) -> None:
    """What staff do after checking (a bench shortcut past the API: the alerts table only)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = now(), outcome = 'false_alarm' WHERE status <> 'resolved'"
        )


def services(db_url: str, mqtt_url: str, tmp: Path) -> list[ServiceProcess]:
    device_map = tmp / "devices.json"
    device_map.write_text(json.dumps({n: {"device": d, "kind": k, "room": r} for n, (d, k, r, _) in DEVICES.items()}))
    env = {
        "ELDERCARE_DATABASE_URL": db_url,
        "ELDERCARE_MQTT_URL": mqtt_url,
        "ELDERCARE_MQTT__TOPIC_ROOT": ROOT,
        "ELDERCARE_LOG_LEVEL": "info",
        "ELDERCARE_INGEST__METRICS_PORT": "0",
        "ELDERCARE_ALERTS__METRICS_PORT": "0",
    }
    edge = {
        **env,
        "ELDERCARE_EDGE__HOME_ID": HOME,
        "ELDERCARE_EDGE__DRIVER": "zigbee2mqtt",
        "ELDERCARE_EDGE__ZIGBEE2MQTT_URL": mqtt_url,
        "ELDERCARE_EDGE__ZIGBEE2MQTT_BASE_TOPIC": BASE,
        "ELDERCARE_EDGE__ZIGBEE2MQTT_DEVICE_MAP": str(device_map),
        "ELDERCARE_EDGE__DATA_DIR": str(tmp / "gateway"),
    }
    return [
        ServiceProcess(["ingest"], env, tmp / "ingest.log"),
        ServiceProcess(["alerts"], env, tmp / "alerts.log"),
        ServiceProcess(["edge"], edge, tmp / "edge.log"),
    ]


def run_rounds(db_url: str, mqtt_url: str, receiver: Receiver, rounds: int) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {kind: [] for kind in KIND_OF.values()}
    for _ in range(rounds):
        receiver.arrived.clear()
        published = asyncio.run(publish_round(mqtt_url, alarm=True))
        if not receiver.wait_for(set(published), 30):
            print(f"missing notifications: {sorted(set(published) - set(receiver.arrived))}")
        for kind, at in published.items():
            if kind in receiver.arrived:
                latencies[kind].append(receiver.arrived[kind] - at)
        resolve_all(db_url)
        asyncio.run(publish_round(mqtt_url, alarm=False))
    return latencies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, fresh_database("bench_hazard") as db_url:
        receiver = Receiver()
        broker = PrivateBroker(directory=Path(tmp) / "broker", persistence=False)
        broker.start()
        procs = services(db_url, broker.url, Path(tmp))
        try:
            seed(db_url, f"http://127.0.0.1:{receiver.port}/hook")
            for proc in procs:
                proc.start()
            procs[0].wait_for_log('"ingest_ready"', 60)
            procs[1].wait_for_log("alerts_started", 60)
            procs[2].wait_for_log('"edge_z2m_subscribed"', 60)
            latencies = run_rounds(db_url, broker.url, receiver, args.rounds)
        finally:
            for proc in reversed(procs):
                proc.stop()
            broker.stop()
            receiver.server.shutdown()
    report(latencies)


def report(latencies: dict[str, list[float]]) -> None:
    every = [s for values in latencies.values() for s in values]
    if not every:
        print("no notification arrived")
        raise SystemExit(1)
    for kind, values in latencies.items():
        ms = [s * 1000 for s in values]
        if ms:
            print(f"{kind}: {len(ms)} alarms, p50 {percentile(ms, 0.5):.0f} ms, max {max(ms):.0f} ms")
    within = sum(1 for s in every if s <= TARGET_S)
    print(
        f"zigbee2mqtt report -> webhook, {len(every)} alarms at night, quiet hours, resident away: "
        f"p50 {statistics.median(every) * 1000:.0f} ms, p99 {percentile(every, 0.99) * 1000:.0f} ms, "
        f"max {max(every) * 1000:.0f} ms; {within}/{len(every)} within {TARGET_S:g} s"
    )


if __name__ == "__main__":
    main()
