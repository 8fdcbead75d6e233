"""Alert latency: from an SOS or fall event published by a gateway to the signed webhook received.

    python -m bench.alert_latency [--events 200] [--rate 4] [--load-fraction 0.5]

Everything is real and local: a private Mosquitto on a free port, a fresh database (created from
``EC_TEST_PG_ADMIN_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``, dropped at
the end), ``eldercare ingest`` and ``eldercare alerts`` as subprocesses, a webhook receiver in a
thread of this process.

1. Capacity: a publisher process sends reading batches as fast as it can; ingest's capacity is the
   readings committed per second (first publish to last row committed).
2. Latency: a publisher process keeps ingest busy at ``--load-fraction`` of that capacity, while
   this process publishes one event per home (alternately SOS and fall, contract-encoded, QoS 1,
   as a gateway does) at ``--rate`` per second; each latency is publish-start to webhook receipt,
   both on this machine's clock.

``--engine-only`` measures the engine's own share instead: inbox rows written the way ingest
writes them (row + NOTIFY, committed), to the webhook received; no broker, no ingest.

It prints the figures; it asserts nothing (speed lives here, never in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from bench.databases import fresh_database
from eldercare.config import load_settings
from eldercare.contracts.payloads import (
    DeviceKind,
    EventBatch,
    FallEvent,
    FallEvidence,
    Metric,
    Reading,
    ReadingBatch,
    Room,
    SosEvent,
)
from eldercare.mqtt import connect, publish
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess
from tests.support.services import free_port

ROOT = "bench"
SECRET = "bench-webhook-secret"
PER_MESSAGE = 200  # readings per background message, a typical gateway batch
LOAD_HOMES = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------- infrastructure


def seed(db_url: str, event_homes: list[str], load_homes: list[str], hook_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO care_centres (name) VALUES ('bench') RETURNING id").fetchone()
        assert row is not None
        centre = row[0]
        for home in event_homes + load_homes:
            conn.execute("INSERT INTO homes (id, care_centre_id) VALUES (%s, %s)", (home, centre))
            conn.execute("INSERT INTO residents (home_id, full_name) VALUES (%s, 'bench')", (home,))
        conn.execute(
            "INSERT INTO notification_channels (care_centre_id, name, kind, target, secret)"
            " VALUES (%s, 'hook', 'webhook', %s, %s)",
            (centre, hook_url, SECRET),
        )


def count(db_url: str, query: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


class Receiver:
    """Webhook receiver: records the arrival time of each alert's first notification, by home."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                home = json.loads(body)["alert"]["home_id"]
                receiver.arrivals.setdefault(home, at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- publishers


def _reading_batch(home: str, first_seq: int) -> ReadingBatch:
    start = datetime.now(UTC)
    readings = [
        Reading(
            device=f"{home}-t", kind=DeviceKind.TEMPERATURE, seq=seq, ts=start + timedelta(milliseconds=seq - first_seq),
            metric=Metric.TEMPERATURE_C, value=21.5, room=Room.LIVING_ROOM,
        )
        for seq in range(first_seq, first_seq + PER_MESSAGE)
    ]  # fmt: skip
    return ReadingBatch(home_id=home, readings=readings)


async def _load(mqtt_url: str, homes: list[str], readings_per_s: float | None, total: int | None, stop_at: float) -> None:
    settings = load_settings(mqtt_url=mqtt_url, mqtt={"topic_root": ROOT})
    seqs = dict.fromkeys(homes, 0)
    sent, started = 0, time.monotonic()
    async with connect(settings, client_id=f"bench-load-{os.getpid()}") as client:
        while time.time() < stop_at and (total is None or sent < total):
            home = homes[(sent // PER_MESSAGE) % len(homes)]
            await publish(client, ROOT, _reading_batch(home, seqs[home]))
            seqs[home] += PER_MESSAGE
            sent += PER_MESSAGE
            if readings_per_s:
                ahead = sent / readings_per_s - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)


def load_worker(mqtt_url: str, homes: list[str], readings_per_s: float | None, total: int | None, stop_at: float) -> None:
    asyncio.run(_load(mqtt_url, homes, readings_per_s, total, stop_at))


async def publish_events(mqtt_url: str, homes: list[str], rate: float) -> dict[str, float]:
    settings = load_settings(mqtt_url=mqtt_url, mqtt={"topic_root": ROOT})
    published: dict[str, float] = {}
    async with connect(settings, client_id="bench-gateway") as client:
        for index, home in enumerate(homes):
            now = datetime.now(UTC)
            event: SosEvent | FallEvent
            if index % 2:
                event = FallEvent(
                    device=f"{home}-w", kind=DeviceKind.WEARABLE, seq=1, ts=now, type="fall", confidence=0.9,
                    evidence=FallEvidence(peak_g=3.0, orientation_change_deg=75, stillness_g=0.04),
                )  # fmt: skip
            else:
                event = SosEvent(device=f"{home}-b", kind=DeviceKind.SOS_BUTTON, seq=1, ts=now, type="sos")
            published[home] = time.time()
            await publish(client, ROOT, EventBatch(home_id=home, events=[event]))
            await asyncio.sleep(1 / rate)
    return published


# --------------------------------------------------------------------------- phases


def services(db_url: str, mqtt_url: str, logs: Path) -> list[ServiceProcess]:
    env = {
        "ELDERCARE_DATABASE_URL": db_url,
        "ELDERCARE_MQTT_URL": mqtt_url,
        "ELDERCARE_MQTT__TOPIC_ROOT": ROOT,
        "ELDERCARE_LOG_LEVEL": "info",  # readiness lines are info; ingest logs one line per batch
        "ELDERCARE_INGEST__METRICS_PORT": "0",
        "ELDERCARE_INGEST__CLIENT_ID": "bench-ingest",
        "ELDERCARE_ALERTS__METRICS_PORT": "0",
    }
    return [
        ServiceProcess(["ingest"], env, logs / "ingest.log"),
        ServiceProcess(["alerts"], env, logs / "alerts.log"),
    ]


def measure_capacity(db_url: str, mqtt_url: str, homes: list[str], total: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    started = time.time()
    worker = ctx.Process(target=load_worker, args=(mqtt_url, homes, None, total, started + 600))
    worker.start()
    while count(db_url, "SELECT count(*) FROM readings") < total:
        time.sleep(0.1)
    elapsed = time.time() - started
    worker.join(timeout=30)
    return total / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=4.0, help="events per second")
    parser.add_argument("--load-fraction", type=float, default=0.5)
    parser.add_argument("--capacity-readings", type=int, default=200_000)
    parser.add_argument("--engine-only", action="store_true", help="no MQTT or ingest: inbox rows written as ingest does")
    args = parser.parse_args(argv)
    if args.engine_only:
        engine_only(args.events, args.rate)
        return

    event_homes = [f"ev-{i:04d}" for i in range(args.events)]
    load_homes = [f"load-{i:03d}" for i in range(LOAD_HOMES)]
    with tempfile.TemporaryDirectory() as tmp, fresh_database("bench_alerts") as db_url, Receiver() as receiver:
        broker = PrivateBroker(directory=Path(tmp) / "broker", persistence=False)
        broker.start()
        procs = services(db_url, broker.url, Path(tmp))
        try:
            seed(db_url, event_homes, load_homes, f"http://127.0.0.1:{receiver.port}/hook")
            for proc in procs:
                proc.start()
            procs[0].wait_for_log('"ingest_ready"', 60)
            procs[1].wait_for_log("alerts_started", 60)
            capacity = measure_capacity(db_url, broker.url, load_homes, args.capacity_readings)
            print(f"ingest capacity: {capacity:,.0f} readings/s ({PER_MESSAGE} per message, {args.capacity_readings:,} readings)")
            rate = capacity * args.load_fraction
            before = count(db_url, "SELECT count(*) FROM readings")
            ctx = multiprocessing.get_context("spawn")
            duration = args.events / args.rate + 15
            started = time.time()
            loader = ctx.Process(target=load_worker, args=(broker.url, load_homes, rate, None, started + duration))
            loader.start()
            time.sleep(3)  # let the background load settle before the first event
            published = asyncio.run(publish_events(broker.url, event_homes, args.rate))
            deadline = time.time() + 60
            while len(receiver.arrivals) < len(event_homes) and time.time() < deadline:
                time.sleep(0.1)
            loader.join(timeout=duration + 30)
            load_rate = (count(db_url, "SELECT count(*) FROM readings") - before) / (time.time() - started)
            stages = stage_times(db_url)
        finally:
            for proc in reversed(procs):
                proc.stop()
            broker.stop()
        report(published, receiver.arrivals, rate, load_rate, capacity)
        report_stages(published, receiver.arrivals, stages)
        report_passes(procs[1].log_text())


def stage_times(db_url: str) -> dict[str, tuple[float, float]]:
    """Per event home: (ingest committed the event, the engine opened the alert), UNIX seconds."""
    query = """
        SELECT e.home_id, extract(epoch FROM e.received_at), extract(epoch FROM a.opened_at)
          FROM events e JOIN alerts a ON a.home_id = e.home_id AND a.kind IN ('sos', 'fall')
    """
    with psycopg.connect(db_url) as conn:
        return {home: (float(ingested), float(opened)) for home, ingested, opened in conn.execute(query).fetchall()}


def report_stages(published: dict[str, float], arrivals: dict[str, float], stages: dict[str, tuple[float, float]]) -> None:
    """Where the time goes: publish -> ingest commit -> alert opened -> webhook received (medians, p99)."""
    homes = [h for h in published if h in arrivals and h in stages]
    parts = {
        "publish -> ingest batch time": [(stages[h][0] - published[h]) * 1000 for h in homes],
        "ingest -> engine opened alert": [(stages[h][1] - stages[h][0]) * 1000 for h in homes],
        "alert opened -> webhook received": [(arrivals[h] - stages[h][1]) * 1000 for h in homes],
    }
    for name, values in parts.items():
        if values:
            print(f"  {name}: p50 {percentile(values, 0.5):.0f} ms, p99 {percentile(values, 0.99):.0f} ms")


def report_passes(log: str) -> None:
    """How long the engine's periodic passes over every home took (they share its CPU)."""
    passes = [json.loads(line)["ms"] for line in log.splitlines() if '"periodic_pass"' in line]
    if passes:
        print(f"  engine periodic passes: {len(passes)}, median {statistics.median(passes):.0f} ms, max {max(passes)} ms")


def report(published: dict[str, float], arrivals: dict[str, float], target: float, achieved: float, capacity: float) -> None:
    latencies = [(arrivals[h] - t) * 1000 for h, t in published.items() if h in arrivals]
    missing = len(published) - len(latencies)
    share = achieved / capacity
    print(f"background load: target {target:,.0f} readings/s, committed {achieved:,.0f} readings/s ({share:.0%} of capacity)")
    if not latencies:
        print("no notification arrived")
        sys.exit(1)
    print(
        f"event -> webhook over {len(latencies)} events ({missing} missing): "
        f"p50 {percentile(latencies, 0.5):.0f} ms, p90 {percentile(latencies, 0.9):.0f} ms, "
        f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms, mean {statistics.fmean(latencies):.0f} ms"
    )


def engine_only(events: int, rate: float) -> None:
    """The engine's own share: from the commit of an inbox row (what ingest writes, with its
    NOTIFY) to the webhook received, with nothing else running."""
    homes = [f"ev-{i:04d}" for i in range(events)]
    with tempfile.TemporaryDirectory() as tmp, fresh_database("bench_alerts") as db_url, Receiver() as receiver:
        seed(db_url, homes, [], f"http://127.0.0.1:{receiver.port}/hook")
        alerts = services(db_url, "mqtt://127.0.0.1:1", Path(tmp))[1].start()
        committed: dict[str, float] = {}
        try:
            alerts.wait_for_log("alerts_started", 60)
            with psycopg.connect(db_url) as conn:
                for home in homes:
                    with conn.transaction():
                        conn.execute(
                            "INSERT INTO alert_inbox (home_id, device_id, seq, ts, type, data)"
                            " VALUES (%s, %s, 1, now(), 'sos', '{\"press\": \"single\"}')",
                            (home, f"{home}-b"),
                        )
                        conn.execute("NOTIFY eldercare_inbox")
                    committed[home] = time.time()
                    time.sleep(1 / rate)
            deadline = time.time() + 60
            while len(receiver.arrivals) < len(homes) and time.time() < deadline:
                time.sleep(0.1)
        finally:
            alerts.stop()
    latencies = [(receiver.arrivals[h] - t) * 1000 for h, t in committed.items() if h in receiver.arrivals]
    print(
        f"engine only, inbox commit -> webhook over {len(latencies)} SOS ({len(homes) - len(latencies)} missing): "
        f"p50 {percentile(latencies, 0.5):.0f} ms, p90 {percentile(latencies, 0.9):.0f} ms, "
        f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
    )


if __name__ == "__main__":
    main()
