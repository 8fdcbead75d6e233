"""Store-and-forward: the broker goes away mid-stream and comes back; nothing is lost or reordered."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.drivers.simulated import SimulatedDriver
from eldercare.config import Settings
from tests.edge.helpers import Collector, agent_config, make_agent, running, wait_until
from tests.support.broker import PrivateBroker

DEVICES = ("temp-a", "temp-b", "temp-c")
ROUNDS = 600  # readings per device
MAX_UNACKED = 40


async def _produce(driver: SimulatedDriver, rounds: range) -> None:
    for i in rounds:
        for name in DEVICES:
            await driver.temperature(15 + (i % 100) / 10, name=name)
        if i % 100 == 0:
            await driver.sos(name="sos-1")
        if i % 10 == 0:
            await asyncio.sleep(0.005)  # a live home: readings trickle in while the uplink works


def _first_arrivals(items: list[Any]) -> tuple[dict[str, list[int]], int]:
    """Per device, the seqs in order of first arrival; and how many arrivals were duplicates."""
    seen: set[tuple[str, int]] = set()
    order: dict[str, list[int]] = defaultdict(list)
    duplicates = 0
    for item in items:
        key = (item.device, item.seq)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        order[item.device].append(item.seq)
    return order, duplicates


async def test_broker_outage_mid_stream_loses_nothing_and_keeps_order(
    edge_settings: Callable[..., Settings], private_broker: Callable[..., PrivateBroker], home_id: str, tmp_path: Path
) -> None:
    broker = private_broker(persistence=True)
    settings = edge_settings(mqtt_url=broker.url)
    collector_id = f"collector-{home_id}"
    async with Collector(settings, home_id, client_id=collector_id, persistent=True):
        pass  # a persistent session: the broker keeps (and persists) everything for it meanwhile

    driver = SimulatedDriver(home_id)
    config = agent_config(
        settings, home_id, tmp_path / "q.sqlite3", batch_max_readings=10, max_unacked_messages=MAX_UNACKED, ack_timeout_s=3.0
    )
    agent = make_agent(config, driver)
    async with running(agent):
        await driver.attached()
        await wait_until(lambda: agent.stats.connected)
        await _produce(driver, range(0, 200))
        await asyncio.to_thread(broker.stop)  # SIGTERM: Mosquitto saves its queues and goes away
        await _produce(driver, range(200, 400))
        await wait_until(lambda: not agent.stats.connected)
        await asyncio.sleep(0.5)  # down for a while: reconnect attempts fail meanwhile
        await _produce(driver, range(400, 450))
        queued_while_down = agent.stats.queue_depth
        await asyncio.to_thread(broker.start)  # same port, same persistence file
        await _produce(driver, range(450, ROUNDS))
        await wait_until(lambda: agent.stats.sessions >= 2 and agent.stats.queue_depth == 0, timeout_s=60)

    async with Collector(settings, home_id, client_id=collector_id, persistent=True) as collector:
        expected = len(DEVICES) * ROUNDS + ROUNDS // 100
        await collector.wait_for(
            lambda: len({(x.device, x.seq) for x in collector.readings() + collector.events()}) >= expected, 60
        )

    assert queued_while_down > 0, "the outage happened while data was flowing"
    readings, reading_dups = _first_arrivals(collector.readings())
    events, event_dups = _first_arrivals(collector.events())
    for name in DEVICES:
        assert readings[f"{home_id}:{name}"] == list(range(ROUNDS)), f"{name}: every seq once, in order"
    assert events[f"{home_id}:sos-1"] == list(range(ROUNDS // 100))
    # QoS 1 may redeliver what was in flight when the broker went away (the platform deduplicates on
    # device+seq); never more than the in-flight window, in readings messages of 10 plus events.
    assert reading_dups + event_dups <= MAX_UNACKED * 10
    assert agent.stats.messages_dropped == 0


async def test_when_acknowledgements_stop_the_agent_reconnects_and_replays(
    edge_settings: Callable[..., Settings], private_broker: Callable[..., PrivateBroker], home_id: str, tmp_path: Path
) -> None:
    broker = private_broker(persistence=False)
    assert broker._process is not None
    settings = edge_settings(mqtt_url=broker.url, mqtt={"connect_timeout_s": 1.0})
    driver = SimulatedDriver(home_id)
    config = agent_config(settings, home_id, tmp_path / "q.sqlite3", batch_max_readings=5, ack_timeout_s=1.0)
    agent = make_agent(config, driver)
    async with Collector(settings, home_id) as collector:
        async with running(agent):
            await driver.attached()
            await wait_until(lambda: agent.stats.connected)
            await _produce(driver, range(0, 50))
            await collector.wait_for(lambda: len(collector.readings()) == 150)
            broker._process.send_signal(signal.SIGSTOP)  # the broker hangs: TCP stays up, no PUBACK comes
            try:
                await _produce(driver, range(50, 100))
                await wait_until(lambda: not agent.stats.connected)  # the ack deadline ended the session
            finally:
                broker._process.send_signal(signal.SIGCONT)
            await _produce(driver, range(100, 150))
            await wait_until(lambda: agent.stats.connected and agent.stats.queue_depth == 0, timeout_s=60)
            await collector.wait_for(lambda: len({(r.device, r.seq) for r in collector.readings()}) == 450, 60)
            await collector.wait_for(lambda: collector.statuses()[-1].state == "online")
        await collector.wait_for(lambda: collector.statuses()[-1].reason == "shutdown")
    readings, _ = _first_arrivals(collector.readings())
    assert agent.stats.sessions == 2
    assert [(s.state, s.reason) for s in collector.statuses()] == [
        ("online", "connected"),
        ("offline", "connection_lost"),  # the will, once the broker noticed the abandoned connection
        ("online", "connected"),
        ("offline", "shutdown"),
    ]
    assert all(readings[f"{home_id}:{name}"] == list(range(150)) for name in DEVICES)


async def test_a_restart_with_a_full_queue_delivers_what_the_bound_kept_and_continues_the_seqs(
    edge_settings: Callable[..., Settings], private_broker: Callable[..., PrivateBroker], home_id: str, tmp_path: Path
) -> None:
    broker = private_broker(persistence=False)
    settings = edge_settings(mqtt_url=broker.url)
    await asyncio.to_thread(broker.stop)  # the gateway starts with no connection at all
    queue_path = tmp_path / "q.sqlite3"
    config = agent_config(settings, home_id, queue_path, batch_max_readings=1, queue_max_messages=20, shutdown_grace_s=0.1)

    first = SimulatedDriver(home_id)
    offline_agent = make_agent(config, first)
    async with running(offline_agent):
        await first.attached()
        await first.sos(name="sos-1")  # the oldest message: an event, never dropped
        for i in range(30):
            await first.temperature(10 + i, name="temp-a")
        await wait_until(lambda: offline_agent.stats.readings_queued == 30)
    assert offline_agent.stats.queue_depth == 20
    assert offline_agent.stats.messages_dropped == 11  # 31 messages, bound 20: the 11 oldest readings

    await asyncio.to_thread(broker.start)
    second = SimulatedDriver(home_id)
    agent = make_agent(config, second)
    async with Collector(settings, home_id) as collector, running(agent):
        await second.attached()
        await wait_until(lambda: agent.stats.queue_depth == 0 and agent.stats.connected)
        await second.temperature(99, name="temp-a")
        await collector.wait_for(lambda: len(collector.readings()) == 20)
    assert [e.seq for e in collector.events()] == [0]
    assert [(r.seq, r.value) for r in collector.readings()] == [(s, 10.0 + s) for s in range(11, 30)] + [(30, 99.0)]
