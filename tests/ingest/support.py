"""Helpers for the ingest tests: registered homes, contract messages, publishing, counting rows."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import psycopg

from eldercare.config import Settings
from eldercare.contracts import encode
from eldercare.contracts.payloads import DeviceKind, Message, Metric, Reading, ReadingBatch, Room
from eldercare.mqtt import connect
from ingest import service

# Yesterday 07:00 UTC: inside ingest's accepted timestamp window (which is relative to the receive time).
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)


def register_homes(db_url: str, homes: Iterable[str]) -> None:
    """A care centre and ``homes``: ingest accepts messages of registered homes only."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        (centre,) = conn.execute("INSERT INTO care_centres (name) VALUES ('Test centre') RETURNING id").fetchone()  # type: ignore[misc]
        for home in homes:
            conn.execute("INSERT INTO homes (id, care_centre_id) VALUES (%s, %s)", (home, centre))


def scalar(db_url: str, query: str, params: Sequence[object] = ()) -> object:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def rows(db_url: str, query: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchall()


def temperature_batch(home: str, device: str, first_seq: int, count: int) -> ReadingBatch:
    """``count`` temperature readings with consecutive sequence numbers, one second apart."""
    readings = [
        Reading(
            device=device,
            kind=DeviceKind.TEMPERATURE,
            seq=seq,
            ts=T0 + timedelta(seconds=seq),
            metric=Metric.TEMPERATURE_C,
            value=20.0 + (seq % 50) / 10,
            room=Room.LIVING_ROOM,
        )
        for seq in range(first_seq, first_seq + count)
    ]
    return ReadingBatch(home_id=home, readings=readings)


def stream(homes: Sequence[str], readings: int, per_message: int) -> list[ReadingBatch]:
    """``readings`` readings spread over the homes (one device each), ``per_message`` per message."""
    messages: list[ReadingBatch] = []
    seqs = dict.fromkeys(homes, 0)
    for index in range(readings // per_message):
        home = homes[index % len(homes)]
        messages.append(temperature_batch(home, f"{home}-temp", seqs[home], per_message))
        seqs[home] += per_message
    return messages


async def publish(settings: Settings, messages: Iterable[Message], *, client_id: str | None = None, pause_s: float = 0.0) -> int:
    """Publish contract messages with QoS 1 (each waits for its PUBACK); returns how many.

    ``pause_s`` between messages stretches a stream, so that a fault lands in the middle of it.
    """
    count = 0
    async with connect(settings, client_id=client_id or f"test-publisher-{uuid.uuid4().hex[:8]}") as client:
        for message in messages:
            topic, payload = encode(settings.mqtt.topic_root, message)
            await client.publish(topic, payload, qos=1)
            count += 1
            if pause_s:
                await asyncio.sleep(pause_s)
    return count


async def publish_raw(settings: Settings, items: Iterable[tuple[str, bytes]], *, client_id: str | None = None) -> None:
    async with connect(settings, client_id=client_id or f"test-raw-{uuid.uuid4().hex[:8]}") as client:
        for topic, payload in items:
            await client.publish(topic, payload, qos=1)


@asynccontextmanager
async def running_ingest(settings: Settings) -> AsyncIterator[asyncio.Task[None]]:
    """The ingest service in this event loop, subscribed; stopped (drained) on exit."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(service.run(settings, stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        if task in done:
            task.result()  # raises what stopped it
        task.cancel()
        raise AssertionError("ingest did not subscribe within 30 s")
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def wait_until(check: Callable[[], object], *, timeout_s: float = 60, what: str = "condition") -> None:
    """Poll ``check()`` (a sync callable, run in a thread so that a service in this event loop keeps
    serving meanwhile) until true; a deadline, not a timing assertion."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def read_metric(port: int, name: str, labels: str = "") -> float:
    """:func:`metric` from a thread: the endpoint may be served by this very event loop."""
    return await asyncio.to_thread(metric, port, name, labels)


def metric(port: int, name: str, labels: str = "") -> float:
    """One sample from an ingest /metrics endpoint (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"{name}{labels} "):
                return float(line.split()[-1])
    return 0.0
