"""Load for the ingest benchmark: contract payloads as edge gateways send them, and publisher processes."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import multiprocessing as mp
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from eldercare.config import Settings, load_settings
from eldercare.mqtt import connect

T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)  # inside ingest's window
DEVICES_PER_HOME = 5
KINDS = [
    ("temperature", "temperature_c"),
    ("motion", "motion"),
    ("plug", "power_w"),
    ("bed", "bed_occupied"),
    ("door", "door_open"),
]
ROOT = "bench"
Sent = tuple[float, float, int]  # a publisher's first publish, last PUBACK (UNIX time), messages


# -- payloads -----------------------------------------------------------------------------------


def _value(metric: str, seq: int) -> float:
    if metric == "temperature_c":
        return 18.0 + (seq % 80) / 10
    if metric == "power_w":
        return float((seq * 37) % 2000)
    return float(seq % 2)


def home_messages(home: str, readings: int, per_message: int, first_seq: int) -> list[tuple[str, bytes]]:
    """The home's readings as contract JSON, round-robin over its devices, like an edge batch."""
    out: list[tuple[str, bytes]] = []
    topic = f"{ROOT}/v1/{home}/readings"
    batch: list[dict[str, object]] = []
    for index in range(readings):
        slot = index % DEVICES_PER_HOME
        seq = first_seq + index // DEVICES_PER_HOME
        kind, metric = KINDS[slot]
        # Seconds after T0 counted from this run's first seq: inside ingest's timestamp window
        # (yesterday plus a few hours), whatever seq range a phase uses.
        ts = (T0 + timedelta(seconds=seq - first_seq)).isoformat().replace("+00:00", "Z")
        batch.append({"device": f"{home}-d{slot}", "kind": kind, "seq": seq, "ts": ts, "metric": metric,
                      "value": _value(metric, seq), "room": "kitchen"})  # fmt: skip
        if len(batch) == per_message:
            out.append((topic, json.dumps({"home_id": home, "readings": batch}).encode()))
            batch = []
    if batch:
        out.append((topic, json.dumps({"home_id": home, "readings": batch}).encode()))
    return out


def plan(
    homes: Sequence[str], readings: int, per_message: int, first_seq: int, share: int, shares: int
) -> list[tuple[str, bytes]]:
    """This publisher's share: every ``shares``-th home, messages interleaved across its homes."""
    mine = [home for index, home in enumerate(homes) if index % shares == share]
    per_home = readings // len(homes)
    by_home = [home_messages(home, per_home, per_message, first_seq) for home in mine]
    # Interleave homes, as many gateways publishing at once would.
    return [message for group in itertools.zip_longest(*by_home) for message in group if message is not None]


# -- publisher processes ------------------------------------------------------------------------

PUBACK_TIMEOUT_S = 300


def publisher_main(
    broker_url: str, messages: list[tuple[str, bytes]], ready: Event, go: Event, out: Queue[Sent], ca_file: str | None = None
) -> None:
    mqtt = {"ca_file": ca_file} if ca_file else {}
    settings = load_settings(mqtt_url=broker_url, database_url="postgresql://unused@127.0.0.1/unused", mqtt=mqtt)
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns about every deep publish window
    asyncio.run(_publish_all(settings, messages, ready, go, out))


async def _publish_all(settings: Settings, messages: list[tuple[str, bytes]], ready: Event, go: Event, out: Queue[Sent]) -> None:
    async with connect(settings, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}") as client:
        ready.set()
        await asyncio.to_thread(go.wait)
        window = asyncio.Semaphore(1000)  # unacknowledged publishes in flight per publisher

        async def one(topic: str, payload: bytes) -> None:
            try:
                # 1,000 in flight on a loaded machine: a PUBACK can take longer than aiomqtt's 10 s.
                await client.publish(topic, payload, qos=1, timeout=PUBACK_TIMEOUT_S)
            finally:
                window.release()

        started = time.time()
        async with asyncio.TaskGroup() as group:
            for topic, payload in messages:
                await window.acquire()
                group.create_task(one(topic, payload))
        out.put((started, time.time(), len(messages)))


def run_publishers(broker_url: str, shares: list[list[tuple[str, bytes]]], *, ca_file: str | None = None) -> tuple[float, float]:
    """Publish every share from its own process, all starting together; (first publish, last PUBACK).

    ``ca_file`` verifies the broker's certificate when ``broker_url`` is mqtts://."""
    ctx = mp.get_context("spawn")
    out: Queue[Sent] = ctx.Queue()
    go = ctx.Event()
    readies = [ctx.Event() for _ in shares]
    procs = [
        ctx.Process(target=publisher_main, args=(broker_url, share, ready, go, out, ca_file))
        for share, ready in zip(shares, readies, strict=True)
    ]
    for proc in procs:
        proc.start()
    for ready in readies:
        if not ready.wait(120):
            raise RuntimeError("a publisher did not connect")
    go.set()
    results = [out.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return min(r[0] for r in results), max(r[1] for r in results)
