"""``eldercare edge`` as a real process: per-home credentials, kill -9 with a queue, replay, exit codes."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from eldercare.config import Settings
from eldercare.contracts.payloads import FallEvent, FallEvidence, Metric
from eldercare.mqtt import connect
from tests.edge import signals
from tests.edge.helpers import Collector, wait_until
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess, run_cli
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.e2e

PASSWORD = "home-secret-1"
DEVICE_MAP = {
    "Living climate": {"device": "temp-living", "kind": "temperature", "room": "living_room"},
    "Bedroom climate": {"device": "temp-bedroom", "kind": "temperature", "room": "bedroom"},
    "SOS button": {"device": "sos-1", "kind": "sos_button"},
}


def _log_events(process: ServiceProcess, event: str) -> list[dict[str, object]]:
    found = []
    for line in process.log_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


def _readings_queued(process: ServiceProcess) -> int:
    return sum(int(str(r["readings"])) for r in _log_events(process, "edge_batch_queued"))


def _readings_staged(data_dir: Path) -> int:
    """Readings the agent accepted and keeps on disk for a batch still filling (read from its queue file)."""
    path = data_dir / "queue.sqlite3"  # where the agent keeps its queue (edge.agent.AgentConfig.from_settings)
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM staged").fetchone()[0])
        except sqlite3.OperationalError:  # the agent has not created its tables yet
            return 0


@pytest.fixture
def home_broker(private_broker: Callable[..., PrivateBroker], home_id: str, topic_root: str) -> PrivateBroker:
    """A broker that knows this home and a platform reader, and confines the home to its own topics."""
    acl = f"user collector\ntopic read {topic_root}/#\n\npattern readwrite {topic_root}/v1/%u/#\n"
    return private_broker(users={home_id: PASSWORD, "collector": "collector-pw"}, acl=acl)


async def test_kill_9_with_a_full_queue_and_a_half_filled_batch_then_restart_loses_nothing_and_reuses_no_seq(
    edge_settings: Callable[..., Settings],
    edge_env: Callable[..., dict[str, str]],
    home_broker: PrivateBroker,
    tcp_proxy: Callable[[str, int], TcpProxy],
    broker_url: str,
    home_id: str,
    topic_root: str,
    tmp_path: Path,
) -> None:
    proxy = tcp_proxy("127.0.0.1", home_broker.port)
    map_file = tmp_path / "devices.json"
    map_file.write_text(json.dumps(DEVICE_MAP))
    base = f"{topic_root}-z2m"
    env = edge_env(
        mqtt_url=f"mqtt://{home_id}:{PASSWORD}@127.0.0.1:{proxy.port}",
        log_level="debug",
        mqtt__reconnect_min_s="0.1",
        mqtt__reconnect_max_s="0.5",
        edge__driver="zigbee2mqtt",
        edge__zigbee2mqtt_url=broker_url,
        edge__zigbee2mqtt_base_topic=base,
        edge__zigbee2mqtt_device_map=str(map_file),
        edge__data_dir=str(tmp_path / "gateway"),
        # 60 readings make 8 batches of 7 and leave 4 waiting for a batch that is not due for 10 min.
        edge__batch_max_readings="7",
        edge__batch_max_delay_s="600",
    )
    platform = edge_settings(mqtt_url=home_broker.url_as("collector", "collector-pw"))
    z2m = edge_settings()

    async def send(name: str, values: range) -> None:
        async with connect(z2m, client_id=f"z2m-pub-{home_id}") as client:
            for i in values:
                await client.publish(f"{base}/{name}", json.dumps({"temperature": 10 + i / 10, "linkquality": 99}), qos=1)

    async with Collector(platform, home_id) as collector:
        first = ServiceProcess(["edge"], env, tmp_path / "edge-1.log").start()
        first.wait_for_log('"edge_z2m_subscribed"')
        first.wait_for_log('"edge_online"')
        proxy.cut()  # the home's internet goes down
        first.wait_for_log('"edge_disconnected"')
        # The broker saw the connection drop and published the gateway's last will.
        await collector.wait_for(lambda: any(s.reason == "connection_lost" for s in collector.statuses()))
        online, will = collector.statuses()[:2]
        # Both carry the session's start: the platform tells an earlier session's late will by it.
        assert (online.reason, will.reason, will.ts) == ("connected", "connection_lost", online.ts)
        await send("Living climate", range(30))
        await send("Bedroom climate", range(30))
        async with connect(z2m, client_id=f"z2m-sos-{home_id}") as client:
            await client.publish(f"{base}/SOS button", b'{"action": "single"}', qos=1)
        await wait_until(
            lambda: (
                _readings_queued(first) == 56
                and _readings_staged(tmp_path / "gateway") == 4
                and bool(_log_events(first, "edge_event_queued"))
            )
        )
        first.kill()  # power cut: no code runs, the queue and the half-filled batch are only on disk
        assert collector.readings() == []
        proxy.restore()

        second = ServiceProcess(["edge"], env, tmp_path / "edge-2.log").start()
        second.wait_for_log('"edge_z2m_subscribed"')
        second.wait_for_log('"edge_online"')
        assert _log_events(second, "edge_staged_readings_recovered")[0]["readings"] == 4
        assert _log_events(second, "edge_started")[0]["queue_depth"] == 10  # 8 batches, the SOS, the recovered 4
        await send("Living climate", range(30, 40))
        await collector.wait_for(lambda: len(collector.readings()) >= 67 and len(collector.events()) == 1)
        assert second.stop() == 0  # the 3 readings still staged are sealed and sent on a clean stop
        await collector.wait_for(lambda: len(collector.readings()) >= 70)
        await collector.wait_for(lambda: collector.statuses()[-1].state == "offline")

    temperatures = [r for r in collector.readings() if r.metric is Metric.TEMPERATURE_C]
    by_device: dict[str, dict[int, float]] = {}
    for r in temperatures:
        assert by_device.setdefault(r.device, {}).setdefault(r.seq, r.value) == r.value, "a seq was reused"
    assert sorted(by_device["temp-living"]) == list(range(40))
    assert sorted(by_device["temp-bedroom"]) == list(range(30))
    assert [by_device["temp-living"][s] for s in range(40)] == [10 + i / 10 for i in range(40)]
    assert collector.events()[0].device == "sos-1"
    assert collector.statuses()[-1].reason == "shutdown"


def test_refused_credentials_are_fatal_with_a_clear_message(
    edge_env: Callable[..., dict[str, str]], home_broker: PrivateBroker, home_id: str, tmp_path: Path
) -> None:
    env = edge_env(mqtt_url=home_broker.url_as(home_id, "wrong-password"), edge__data_dir=str(tmp_path / "gw"))
    result = run_cli(["edge"], env, timeout_s=60)
    assert result.returncode == 1, result.stderr
    assert "refused" in result.stderr


def test_home_id_must_match_the_mqtt_username(edge_env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    env = edge_env(mqtt_url="mqtt://home-a:pw@127.0.0.1:1", edge__home_id="home-b", edge__data_dir=str(tmp_path))
    result = run_cli(["edge"], env)
    assert result.returncode == 2
    assert "ELDERCARE_EDGE__HOME_ID" in result.stderr


def _write_sisfall(path: Path, samples_g: np.ndarray) -> None:
    """SisFall's text format: 9 ADC columns per line ending in ';' (ADXL345 counts = g x 256)."""
    counts = np.zeros((len(samples_g), 9), dtype=np.int64)
    counts[:, 0:3] = np.rint(samples_g * 256)
    counts[:, 6:9] = np.rint(samples_g * 1024)
    path.write_text("".join(",".join(f"{v:4d}" for v in row) + ";\n" for row in counts))


async def test_replay_driver_detects_a_recorded_fall(
    edge_settings: Callable[..., Settings], edge_env: Callable[..., dict[str, str]], home_id: str, tmp_path: Path
) -> None:
    recording = tmp_path / "F01_SYN_R01.txt"
    _write_sisfall(recording, signals.fall(200.0))
    env = edge_env(
        edge__home_id=home_id,
        edge__driver="replay",
        edge__replay_file=str(recording),
        edge__replay_speed="20",
        edge__replay_device_id="wearable-7",
        edge__data_dir=str(tmp_path / "gw"),
    )
    async with Collector(edge_settings(), home_id) as collector:
        process = ServiceProcess(["edge"], env, tmp_path / "edge.log").start()
        try:
            await collector.wait_for(lambda: len(collector.events()) == 1, 60)
            process.wait_for_log('"edge_replay_finished"')
        finally:
            code = process.stop()
    assert code == 0
    [event] = collector.events()
    assert isinstance(event, FallEvent)
    assert event.device == "wearable-7"
    assert isinstance(event.evidence, FallEvidence)
    assert event.evidence.peak_g > 3.0
