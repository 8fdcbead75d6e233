"""Publishes the broker refuses (MQTT 5 PUBACK reason >= 0x80) stay queued and are retried in order.

Mosquitto 2 answers a QoS 1 publish its ACL denies with PUBACK 0x87 "Not authorized" and keeps the
connection; on SIGHUP it re-reads the ACL file and applies it to clients already connected. Real
broker throughout, no mocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from edge.drivers.simulated import SimulatedDriver
from eldercare.config import Settings, parse_mqtt_url
from eldercare.mqtt.edge_client import PublishRefusedError, connect_edge
from tests.edge.helpers import Collector, agent_config, make_agent, running, wait_until
from tests.support.broker import PrivateBroker

DEVICES = ("temp-a", "temp-b")
MARKER = "temp-marker"  # the last reading: whatever was delivered twice arrives before it
ROUNDS = 20  # readings per device
BATCH = 5  # readings per message
NOT_AUTHORIZED = 0x87


def _most_retries_within(elapsed_s: float, min_s: float = 0.1, max_s: float = 1.0) -> int:
    """Most retries that a backoff from ``min_s`` to ``max_s`` (each delay at least half its doubling
    ceiling) fits into ``elapsed_s``, counting the first retry as free (its delay may have started
    before the clock did)."""
    retries, spent, ceiling = 1, 0.0, min_s
    while True:
        ceiling = min(max_s, ceiling * 2)
        spent += ceiling / 2
        if spent > elapsed_s:
            return retries
        retries += 1


def _acl(root: str, *writable: str) -> str:
    """Anonymous clients (the agent and the collector) may read everything under ``root``, write only ``writable``."""
    return "\n".join([f"topic read {root}/#", *(f"topic write {topic}" for topic in writable)]) + "\n"


async def test_the_edge_client_raises_on_a_refused_puback_and_completes_on_success_codes(
    edge_settings: Callable[..., Settings], private_broker: Callable[..., PrivateBroker], topic_root: str
) -> None:
    allowed, denied = f"{topic_root}/allowed", f"{topic_root}/denied"
    broker = private_broker(persistence=False, acl=_acl(topic_root, allowed))
    settings = edge_settings(mqtt_url=broker.url)
    async with connect_edge(settings.mqtt, parse_mqtt_url(broker.url), client_id="refusal-probe", persistent=False) as conn:
        await conn.publish(allowed, b"x", timeout_s=5)  # 0x10 no matching subscribers: a success
        with pytest.raises(PublishRefusedError) as refused:
            await conn.publish(denied, b"x", timeout_s=5)
        assert (refused.value.topic, refused.value.reason_code, refused.value.reason_name) == (
            denied,
            NOT_AUTHORIZED,
            "Not authorized",
        )
        await conn.subscribe(f"{topic_root}/#", timeout_s=5)
        await conn.publish(allowed, b"x", timeout_s=5)  # 0x00 success
        with pytest.raises(PublishRefusedError):
            await conn.publish(denied, b"x", retain=True, timeout_s=5)  # the connection survives a refusal

        # The PUBACK hook relies on aiomqtt internals (Client._client, its on_publish): if aiomqtt
        # changes them this fails, as does aiomqtt's own publish, which our hook must chain to.
        aiomqtt_client = conn._client
        assert conn._pubacks.chained == aiomqtt_client._on_publish
        await aiomqtt_client.publish(allowed, b"x", qos=1, timeout=5)


async def test_refused_messages_stay_queued_and_arrive_once_in_order_when_the_acl_is_fixed(
    edge_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    topic_root: str,
    home_id: str,
    tmp_path: Path,
) -> None:
    broker = private_broker(persistence=False, acl=_acl(topic_root))  # every topic of the home denied
    settings = edge_settings(mqtt_url=broker.url)
    driver = SimulatedDriver(home_id)
    config = agent_config(settings, home_id, tmp_path / "q.sqlite3", batch_max_readings=BATCH, max_unacked_messages=10)
    agent = make_agent(config, driver)
    queued = len(DEVICES) * ROUNDS // BATCH + 2  # readings messages plus two SOS events
    with capture_logs() as logged:
        async with Collector(settings, home_id) as collector, running(agent):
            await driver.attached()
            await wait_until(lambda: agent.stats.connected)
            for i in range(ROUNDS):
                for name in DEVICES:
                    await driver.temperature(20 + i / 10, name=name)
                if i in (3, 12):
                    await driver.sos(name="sos-1")
            await wait_until(lambda: agent.stats.readings_queued == len(DEVICES) * ROUNDS and agent.stats.events_queued == 2)
            await wait_until(lambda: agent.stats.publishes_refused >= 1)
            # The rest of the in-flight window settles (refused too): from then on only the head is sent.
            await wait_until(lambda: agent.uplink.holding and agent.uplink._inflight == 0)

            # Held for a while: retried alone with backoff (0.1 s .. 1 s here), nothing deleted, nothing delivered.
            started, cpu_before, refused_before = time.monotonic(), time.process_time(), agent.uplink.refused
            await wait_until(lambda: agent.uplink.refused - refused_before >= 3 and time.monotonic() - started >= 2.0)
            elapsed, cpu_used = time.monotonic() - started, time.process_time() - cpu_before
            retries = agent.uplink.refused - refused_before
            assert agent.uplink.holding
            assert agent.stats.queue_depth == queued
            assert agent.stats.messages_published == 0
            assert collector.readings() == []
            assert collector.events() == []
            # A machine under load makes fewer retries in the time, never more.
            assert retries <= _most_retries_within(elapsed), (
                f"{retries} retries in {elapsed:.2f} s: the head is retried with backoff"
            )
            assert cpu_used < 0.5 * elapsed, "a refused head must not spin the CPU"
            assert agent.stats.connected
            assert agent.stats.sessions == 1, "a refusal is not a connection problem"

            broker.acl = _acl(topic_root, f"{topic_root}/+/{home_id}/#")
            await asyncio.to_thread(broker.reload)
            await wait_until(lambda: agent.stats.queue_depth == 0 and not agent.uplink.holding, timeout_s=30)
            await collector.wait_for(lambda: len(collector.readings()) >= len(DEVICES) * ROUNDS and len(collector.events()) >= 2)
            # A duplicate would arrive before anything published after it (one session, in order):
            # one more reading, from a device of its own, closes the stream.
            await driver.temperature(30.0, name=MARKER)
            await collector.wait_for(lambda: any(r.device == f"{home_id}:{MARKER}" for r in collector.readings()))

    # Exactly once, in order, per device (both SOS events in one device's sequence).
    for name in DEVICES:
        device = f"{home_id}:{name}"
        assert [r.seq for r in collector.readings() if r.device == device] == list(range(ROUNDS))
    assert [e.seq for e in collector.events()] == [0, 1]
    assert len(collector.readings()) == len(DEVICES) * ROUNDS + 1  # and the marker
    assert agent.stats.messages_published == queued + 1
    assert agent.stats.sessions == 1, "delivered by retrying in the same session, not by reconnecting"

    refusals = [e for e in logged if e["event"] == "edge_publish_refused" and e.get("queued")]
    assert refusals
    assert refusals[0]["log_level"] == "error"
    assert refusals[0]["reason_code"] == NOT_AUTHORIZED
    assert refusals[0]["reason"] == "Not authorized"
    assert refusals[0]["topic"].startswith(f"{topic_root}/v1/{home_id}/")
    assert any(e["event"] == "edge_refused_message_accepted" for e in logged)
