"""The agent end to end on a real broker, driven in-process by the simulated driver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge.drivers.simulated import SimulatedDriver
from eldercare.config import Settings
from eldercare.contracts.payloads import Metric, Room
from tests.edge.helpers import Collector, agent_config, make_agent, running


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
