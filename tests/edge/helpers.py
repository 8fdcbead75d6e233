"""Test helpers for the edge agent: a subscriber that collects contract messages, an agent runner."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from edge.agent import AgentConfig, EdgeAgent
from edge.model import Driver
from eldercare.clock import SystemClock
from eldercare.config import Settings, parse_mqtt_url
from eldercare.contracts.codec import Decoded, decode
from eldercare.contracts.payloads import EventBatch, GatewayStatus, Heartbeat, ReadingBatch
from eldercare.contracts.topics import subscription
from eldercare.mqtt import connect


class Collector:
    """Subscribes to every topic of one home and keeps what arrives, decoded, in arrival order."""

    def __init__(self, settings: Settings, home_id: str, *, client_id: str | None = None, persistent: bool = False) -> None:
        self.settings = settings
        self.home_id = home_id
        self.client_id = client_id or f"collector-{uuid.uuid4().hex[:8]}"
        self.persistent = persistent
        self.messages: list[Decoded] = []
        self.rejected: list[Any] = []
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        client = await self._stack.enter_async_context(
            connect(self.settings, client_id=self.client_id, persistent=self.persistent)
        )
        await client.subscribe(subscription(self.settings.mqtt.topic_root, home_id=self.home_id), qos=1)
        self._task = asyncio.create_task(self._collect(client))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        await self._stack.aclose()

    async def _collect(self, client: Any) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            result = decode(message.topic.value, payload, root=self.settings.mqtt.topic_root)
            if isinstance(result, Decoded):
                self.messages.append(result)
            else:
                self.rejected.append(result)

    def of(self, model: type[Any]) -> list[Any]:
        return [d.message for d in self.messages if isinstance(d.message, model)]

    def readings(self) -> list[Any]:
        return [r for batch in self.of(ReadingBatch) for r in batch.readings]

    def events(self) -> list[Any]:
        return [e for batch in self.of(EventBatch) for e in batch.events]

    def statuses(self) -> list[GatewayStatus]:
        return self.of(GatewayStatus)

    def heartbeats(self) -> list[Heartbeat]:
        return self.of(Heartbeat)

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
        await wait_until(condition, timeout_s, lambda: f"collected {len(self.messages)} messages")


async def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0, describe: Callable[[], str] = lambda: "") -> None:
    """Poll ``condition``; the timeout only bounds a failing test, it is not what the test asserts."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; {describe()}")
        await asyncio.sleep(0.02)


def agent_config(settings: Settings, home_id: str, queue_path: Path, **overrides: Any) -> AgentConfig:
    values: dict[str, Any] = {
        "home_id": home_id,
        "endpoint": parse_mqtt_url(settings.mqtt_url),
        "queue_path": queue_path,
        "mqtt": settings.mqtt,
        "batch_max_delay_s": 0.05,
        "queue_sync": "normal",
        "shutdown_grace_s": 5.0,
        # No ingest runs in these tests: nobody acknowledges commits, so a message leaves the queue at its
        # PUBACK (tests/edge/test_commit_ack.py and tests/ingest/test_commit_ack.py run with ingest).
        "commit_ack": False,
    }
    values.update(overrides)
    return AgentConfig(**values)


@asynccontextmanager
async def running(agent: EdgeAgent) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``agent`` in a task; stop it (SIGTERM path) on exit and re-raise what it raised."""
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait({task})
    task.result()


def make_agent(config: AgentConfig, driver: Driver) -> EdgeAgent:
    return EdgeAgent(config, driver, SystemClock())
