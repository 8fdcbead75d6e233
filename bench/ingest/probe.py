"""Event latency under load: publish an SOS event every few hundred ms while the readings stream
runs, and time each from its publish to the NOTIFY that follows its commit into alert_inbox.

This is ingest's share of the alert latency budget (publish-to-webhook p99 <= 250 ms later).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import psycopg

from eldercare.config import load_settings
from eldercare.mqtt import connect

PROBE_DEVICE = "probe-sos"


def probe_main(
    broker_url: str, db_url: str, root: str, home: str, interval_s: float, ready: Event, stop: Event, out: Queue[list[float]]
) -> None:
    settings = load_settings(mqtt_url=broker_url, database_url=db_url)
    out.put(asyncio.run(_probe(settings, db_url, root, home, interval_s, ready, stop)))


async def _probe(
    settings: object, db_url: str, root: str, home: str, interval_s: float, ready: Event, stop: Event
) -> list[float]:
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    started: dict[int, float] = {}  # when ingest began the transaction (alert_inbox.received_at)
    async with (
        await psycopg.AsyncConnection.connect(db_url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(db_url, autocommit=True) as reader,
    ):
        await listener.execute("LISTEN eldercare_inbox")
        watcher = asyncio.create_task(_watch(listener, reader, seen, started))
        async with connect(settings, client_id=f"bench-probe-{home}") as client:  # type: ignore[arg-type]
            ready.set()
            seq = 0
            while not stop.is_set():
                seq += 1
                event = {"device": PROBE_DEVICE, "kind": "sos_button", "seq": seq, "type": "sos",
                         "ts": datetime.now(UTC).isoformat()}  # fmt: skip
                sent[seq] = time.time()
                await client.publish(f"{root}/v1/{home}/events", json.dumps({"home_id": home, "events": [event]}).encode(), qos=1)
                await asyncio.sleep(interval_s)
        await asyncio.sleep(5)  # the last events' commits (the streams are drained by now)
        watcher.cancel()
    pick = sorted((seen[seq] - sent[seq], started[seq] - sent[seq]) for seq in sent if seq in seen)
    print("    slowest SOS events (publish->NOTIFY, publish->ingest transaction start) ms:",
          [(round(a * 1000), round(b * 1000)) for a, b in pick[-8:]])  # fmt: skip
    return [a for a, _ in pick]


async def _watch(
    listener: psycopg.AsyncConnection, reader: psycopg.AsyncConnection, seen: dict[int, float], started: dict[int, float]
) -> None:
    last_id = 0
    async for _ in listener.notifies():
        at = time.time()
        cur = await reader.execute(
            "SELECT id, seq, received_at FROM alert_inbox WHERE id > %s AND device_id = %s ORDER BY id", (last_id, PROBE_DEVICE)
        )
        for row_id, seq, received_at in await cur.fetchall():
            last_id = max(last_id, row_id)
            seen.setdefault(seq, at)
            started.setdefault(seq, received_at.timestamp())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


@contextmanager
def latency_probe(broker_url: str, db_url: str, root: str, home: str, interval_s: float = 0.2) -> Iterator[list[float]]:
    """Probe while inside; the yielded list holds the sorted latencies (seconds) afterwards."""
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    out: Queue[list[float]] = ctx.Queue()
    process = ctx.Process(target=probe_main, args=(broker_url, db_url, root, home, interval_s, ready, stop, out))
    process.start()
    if not ready.wait(60):
        process.kill()
        raise RuntimeError("the latency probe did not connect")
    latencies: list[float] = []
    try:
        yield latencies
    finally:
        stop.set()
        latencies.extend(out.get(timeout=120))
        process.join(timeout=30)
