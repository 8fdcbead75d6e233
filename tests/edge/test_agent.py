"""The agent end to end on a real broker, driven in-process by the simulated driver."""

from __future__ import annotations

import asyncio
import os
import select
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge.drivers.simulated import SimulatedDriver
from edge.wearable import MIN_BLOCK_S
from eldercare.config import Settings
from eldercare.contracts.payloads import (
    DeviceAssignment,
    DeviceKind,
    FallEvent,
    FallEvidence,
    GatewayConfig,
    Metric,
    ReadingBatch,
    Room,
)
from eldercare.mqtt import connect, publish
from tests.edge import signals
from tests.edge.helpers import Collector, agent_config, make_agent, running, wait_until


async def test_readings_and_events_arrive_with_per_device_seqs_and_status(
    edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path
) -> None:
    settings = edge_settings()
    driver = SimulatedDriver(home_id)
    agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3", batch_max_readings=5), driver)
    async with Collector(settings, home_id) as collector:
        async with running(agent):
            await driver.attached()
            await collector.wait_for(lambda: any(s.state == "online" for s in collector.statuses()))
            for i in range(12):
                await driver.motion(Room.KITCHEN, i % 2 == 0)
            await driver.temperature(21.5, humidity_pct=40)
            await driver.sos()
            await collector.wait_for(lambda: len(collector.readings()) == 14 and len(collector.events()) == 1)
        await collector.wait_for(lambda: collector.statuses()[-1].state == "offline")
    motion = [r for r in collector.readings() if r.metric is Metric.MOTION]
    assert [r.seq for r in motion] == list(range(12))
    assert [r.value for r in motion] == [1.0, 0.0] * 6
    assert all(r.room is Room.KITCHEN and r.device == f"{home_id}:pir-kitchen" for r in motion)
    assert collector.events()[0].type == "sos"
    assert collector.statuses()[-1].reason == "shutdown"
    assert collector.heartbeats(), "a heartbeat goes out when the session starts"
    assert agent.queue.depth == 0


RATE_HZ = 50.0


async def _feed(driver: SimulatedDriver, samples: np.ndarray, chunk: int = 25) -> None:
    for start in range(0, len(samples), chunk):
        await driver.accelerometer(samples[start : start + chunk], RATE_HZ)


async def test_a_fall_on_the_wearable_is_published_at_once_with_its_evidence(
    edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path
) -> None:
    settings = edge_settings()
    driver = SimulatedDriver(home_id)
    # A long batch delay: the fall event must not wait for the readings batch.
    config = agent_config(settings, home_id, tmp_path / "q.sqlite3", batch_max_delay_s=600.0, activity_interval_s=2.0)
    agent = make_agent(config, driver)
    async with Collector(settings, home_id) as collector:
        async with running(agent):
            await driver.attached()
            # The wearable keeps streaming while its wearer lies still: the block holding the
            # fall's 2-s wait completes.
            stream = np.vstack(
                [signals.daily_activity(RATE_HZ), signals.fall(RATE_HZ), signals.hold(signals.LYING, MIN_BLOCK_S, RATE_HZ)]
            )
            await _feed(driver, stream)
            await collector.wait_for(lambda: len(collector.events()) == 1)
            assert collector.readings() == [], "readings are still batching; the event went ahead of them"
        # One activity_g reading per 2 s of the samples that completed a block; the rest waits for
        # the next block. The partial batch is queued when the agent stops.
        judged = len(stream) // round(MIN_BLOCK_S * RATE_HZ) * MIN_BLOCK_S
        await collector.wait_for(lambda: len(collector.readings()) >= judged // 2)
    [event] = collector.events()
    assert isinstance(event, FallEvent)
    assert event.device == f"{home_id}:wearable-1"
    assert event.kind is DeviceKind.WEARABLE
    assert event.confidence >= 0.5
    assert isinstance(event.evidence, FallEvidence)
    assert event.evidence.peak_g > 3.0
    assert event.evidence.orientation_change_deg > 60
    assert event.evidence.stillness_g < 0.1
    assert event.evidence.free_fall_min_g is not None
    assert event.evidence.free_fall_min_g < 0.6
    activity = [r for r in collector.readings() if r.metric is Metric.ACTIVITY_G]
    assert len(activity) == judged // 2
    assert activity[0].value > 0.1, "walking moves"
    assert activity[-1].value < 0.05, "lying still after the fall"


async def test_gateway_config_highest_revision_wins_and_can_switch_fall_detection_off(
    edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path
) -> None:
    settings = edge_settings()
    root = settings.mqtt.topic_root
    wearable = f"{home_id}:wearable-1"
    newer = GatewayConfig(
        home_id=home_id,
        revision=5,
        ts=datetime.now(UTC),
        fall_detection_enabled=False,
        devices=[DeviceAssignment(device=wearable, kind=DeviceKind.WEARABLE, room=Room.BEDROOM)],
    )
    older = newer.model_copy(update={"revision": 4, "fall_detection_enabled": True, "devices": []})
    driver = SimulatedDriver(home_id)
    config = agent_config(settings, home_id, tmp_path / "q.sqlite3", activity_interval_s=2.0)
    agent = make_agent(config, driver)
    async with connect(settings, client_id=f"platform-{home_id}") as platform:
        await publish(platform, root, newer)  # retained: waiting for the gateway when it connects
        async with Collector(settings, home_id) as collector, running(agent):
            await wait_until(lambda: agent.config_revision == 5)
            await publish(platform, root, older)
            await driver.attached()
            stream = np.vstack([signals.fall(RATE_HZ), signals.hold(signals.LYING, MIN_BLOCK_S, RATE_HZ)])
            await _feed(driver, stream)
            # One reading per 2 s of the samples that completed a block (the fall's 2 s wait is in them).
            judged = len(stream) // round(MIN_BLOCK_S * RATE_HZ) * MIN_BLOCK_S
            await collector.wait_for(
                lambda: len([r for r in collector.readings() if r.metric is Metric.ACTIVITY_G]) == judged // 2
            )
        await platform.publish(f"{root}/v1/{home_id}/config", b"", qos=1, retain=True)  # clear the retained config
    assert agent.config_revision == 5, "revision 4 arrived later and was ignored"
    assert collector.events() == [], "fall detection is off"
    assert {r.room for r in collector.readings()} == {Room.BEDROOM}, "the platform's room assignment applies"


async def test_an_agent_torn_down_without_stop_still_reports_offline(
    edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path
) -> None:
    settings = edge_settings()
    agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3"), SimulatedDriver(home_id))
    async with Collector(settings, home_id) as collector:
        task = asyncio.create_task(agent.run(asyncio.Event()))
        await collector.wait_for(lambda: any(s.state == "online" for s in collector.statuses()))
        task.cancel()  # what a failing driver or a simulator's teardown does to the agent
        await asyncio.wait({task})
        await collector.wait_for(lambda: collector.statuses()[-1].state == "offline")
    assert task.cancelled()
    assert collector.statuses()[-1].reason == "connection_lost"


async def test_an_agent_cancelled_while_connecting_ends_and_leaves_no_socket(
    edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path
) -> None:
    open_before = _open_sockets()
    with socket.socket() as blackhole:  # accepts TCP connections into its backlog, never answers MQTT
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)
        port = blackhole.getsockname()[1]
        settings = edge_settings(mqtt_url=f"mqtt://127.0.0.1:{port}", mqtt={"connect_timeout_s": 1.0})
        agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3"), SimulatedDriver(home_id))
        task = asyncio.create_task(agent.run(asyncio.Event()))
        # Once the connection is in the backlog, the uplink waits for a CONNACK that never comes.
        pending, _, _ = await asyncio.to_thread(select.select, [blackhole], [], [], 30)
        assert pending, "the agent never connected"
        task.cancel()
        await asyncio.wait({task})
    assert task.cancelled()
    assert agent.stats.sessions == 0
    assert _open_sockets() == open_before, "the half-open MQTT connection was closed"


def _open_sockets() -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if _is_socket(fd))


def _is_socket(fd: Path) -> bool:
    try:
        return os.readlink(fd).startswith("socket:")
    except OSError:
        return False  # closed meanwhile


async def test_failed_connect_attempts_leave_no_socket_behind(
    edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path
) -> None:
    open_before = _open_sockets()
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)
        port = blackhole.getsockname()[1]
        mqtt = {"connect_timeout_s": 0.2, "reconnect_min_s": 0.05, "reconnect_max_s": 0.1}
        settings = edge_settings(mqtt_url=f"mqtt://127.0.0.1:{port}", mqtt=mqtt)
        agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3"), SimulatedDriver(home_id))
        samples: list[int] = []
        async with running(agent):
            for _ in range(60):  # about a second: several attempts time out meanwhile
                samples.append(_open_sockets())
                await asyncio.sleep(0.02)
    assert agent.stats.sessions == 0
    assert max(samples) <= open_before + 2, "at most the blackhole and the attempt in progress"
    assert _open_sockets() == open_before


async def test_gateway_config_sets_the_batch_size(edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path) -> None:
    settings = edge_settings()
    root = settings.mqtt.topic_root
    config = GatewayConfig(home_id=home_id, revision=1, ts=datetime.now(UTC), batch_max_readings=2, batch_max_delay_s=600)
    driver = SimulatedDriver(home_id)
    agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3", batch_max_readings=100), driver)
    async with connect(settings, client_id=f"platform-{home_id}") as platform:
        await publish(platform, root, config)
        async with Collector(settings, home_id) as collector, running(agent):
            await wait_until(lambda: agent.config_revision == 1)
            await driver.attached()
            for i in range(4):
                await driver.motion(Room.HALLWAY, i % 2 == 0)
            await collector.wait_for(lambda: len(collector.readings()) == 4)
        await platform.publish(f"{root}/v1/{home_id}/config", b"", qos=1, retain=True)
    assert [len(batch.readings) for batch in collector.of(ReadingBatch)] == [2, 2]
