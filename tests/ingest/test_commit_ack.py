"""End-to-end commit acknowledgement: real edge agents, the real ``eldercare ingest`` CLI, a private
Mosquitto that the tests restart, wipe and kill, and a real database. Each test ends with "every
number a gateway handed out is stored exactly once", counted in the database.

Mosquitto 2.0.11 restores a persistent session after a restart but not its *shared* subscription:
what gateways publish before ingest resubscribes is PUBACKed to them and delivered to no one. A
gateway that forgets a message at its PUBACK loses it there; one that waits for ingest's commit
acknowledgement sends it again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.agent import AgentConfig, EdgeAgent
from edge.drivers.simulated import SimulatedDriver
from eldercare.clock import SystemClock
from eldercare.config import Settings, parse_mqtt_url
from eldercare.contracts import Decoded, decode, encode
from eldercare.contracts.payloads import CommitAck, ReadingBatch
from eldercare.contracts.topics import MessageKind, Topic, acl_patterns
from eldercare.mqtt import connect
from eldercare.mqtt.edge_client import PublishRefusedError, connect_edge
from tests.ingest.support import T0, register_homes, rows, running_ingest, scalar, temperature_batch, wait_until
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e
STORED = "SELECT (SELECT count(*) FROM readings) + (SELECT count(*) FROM events)"
DISTINCT = (
    "SELECT (SELECT count(DISTINCT (device_id, seq)) FROM readings) + (SELECT count(DISTINCT (device_id, seq)) FROM events)"
)
SOS_STORED = "SELECT count(*), count(DISTINCT home_id) FROM events WHERE type = 'sos'"


@dataclass
class Home:
    agent: EdgeAgent
    driver: SimulatedDriver
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def numbered(self) -> int:
        """How many readings and events this gateway numbered: its ground truth."""
        return sum(self.agent.queue.next_seqs().values())


class Homes:
    def __init__(self, settings: Settings, ids: list[str], tmp_path: Path, **overrides: object) -> None:
        self.homes: list[Home] = []
        for home_id in ids:
            values: dict[str, object] = {
                "home_id": home_id,
                "endpoint": parse_mqtt_url(settings.mqtt_url),
                "queue_path": tmp_path / "gateways" / home_id / "queue.sqlite3",
                "mqtt": settings.mqtt,
                "batch_max_delay_s": 0.2,
                "queue_sync": "normal",
                "commit_ack": True,
                "commit_timeout_events_s": 1.0,
                "commit_timeout_readings_s": 2.0,
                **overrides,
            }
            driver = SimulatedDriver(home_id)
            self.homes.append(Home(EdgeAgent(AgentConfig(**values), driver, SystemClock()), driver))  # type: ignore[arg-type]

    async def start(self) -> None:
        for home in self.homes:
            home.task = asyncio.create_task(home.agent.run(home.stop))
        for home in self.homes:
            await home.driver.attached()
        await wait_until(lambda: all(h.agent.stats.connected for h in self.homes), what="every gateway online")

    async def stop(self) -> None:
        for home in self.homes:
            home.stop.set()
        await asyncio.wait([h.task for h in self.homes if h.task is not None], timeout=60)

    async def readings(self, rounds: int, *, pause_s: float = 0.01) -> None:
        for round_ in range(rounds):
            for home in self.homes:
                await home.driver.temperature(18 + round_ % 10, name="temp-1")
            await asyncio.sleep(pause_s)

    async def press_sos(self) -> None:
        for home in self.homes:
            await home.driver.sos(name="sos-1")

    def numbered(self) -> int:
        return sum(home.numbered() for home in self.homes)

    def queued(self) -> int:
        return sum(home.agent.queue.depth + home.agent.queue.staged for home in self.homes)

    def published(self) -> int:
        return sum(home.agent.uplink.published for home in self.homes)


@asynccontextmanager
async def homes_running(settings: Settings, ids: list[str], tmp_path: Path, **overrides: object) -> AsyncIterator[Homes]:
    homes = Homes(settings, ids, tmp_path, **overrides)
    await homes.start()
    try:
        yield homes
    finally:
        await homes.stop()


def _ingest(env_for: Callable[..., dict[str, str]], broker: PrivateBroker, log: Path, client_id: str) -> ServiceProcess:
    env = env_for(
        mqtt_url=broker.url,
        ingest__client_id=client_id,
        ingest__commit_acks="true",
        ingest__metrics_port="0",
        db__retry_max_s="1",
    )
    return ServiceProcess(["ingest"], env, log)


async def _started(process: ServiceProcess) -> ServiceProcess:
    process.start()
    await asyncio.to_thread(process.wait_for_log, '"ingest_ready"', 90)
    return process


def _commit_acks(process: ServiceProcess) -> int:
    lines = [json.loads(line) for line in process.log_text().splitlines() if line.startswith("{")]
    return sum(int(line.get("commit_acks", 0)) for line in lines if line.get("event") == "ingest_batch")


async def _all_stored_once(db_url: str, homes: Homes, timeout_s: float = 120) -> None:
    await wait_until(lambda: homes.queued() == 0, timeout_s=timeout_s, what="every gateway queue acknowledged and empty")
    expected = homes.numbered()
    # Acknowledged means committed: with acknowledgements this holds at once (the wait is for a gateway
    # that ignores them, whose queue empties at the PUBACKs).
    await wait_until(lambda: scalar(db_url, STORED) == expected, timeout_s=30, what=f"{expected} rows")
    assert scalar(db_url, DISTINCT) == expected


@pytest.mark.parametrize("persistence", [True, False], ids=["restart", "restart-without-persistence"])
async def test_sos_pressed_after_a_broker_restart_before_ingest_resubscribes_is_stored_once(
    persistence: bool,
    db_url: str,
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    tmp_path: Path,
    topic_root: str,
) -> None:
    broker = private_broker(persistence=True)
    ids = [f"sos-home-{n}" for n in range(6)]
    register_homes(db_url, ids)
    settings = make_settings(mqtt_url=broker.url, mqtt={"reconnect_min_s": 0.1, "reconnect_max_s": 0.5})
    ingest = await _started(_ingest(env_for, broker, tmp_path / "ingest.log", f"ingest-{topic_root}"))
    try:
        async with homes_running(settings, ids, tmp_path) as homes:
            await homes.readings(5)
            await wait_until(lambda: homes.queued() == 0, what="the first readings acknowledged")
            # SIGTERM: the broker saves its sessions (ingest's among them) and restores them at start, or
            # (a failover, a lost volume) comes back without them. Ingest stays away until the SOS are PUBACKed.
            await asyncio.to_thread(broker.stop)
            ingest.kill()
            if not persistence:
                (broker.directory / "mosquitto.db").unlink()
            await asyncio.to_thread(broker.start)
            await wait_until(lambda: all(h.agent.uplink.sessions >= 2 for h in homes.homes), what="gateways back")
            before = homes.published()
            await homes.press_sos()
            # Every SOS reached the broker and was PUBACKed, while no ingest had resubscribed.
            await wait_until(lambda: homes.published() >= before + len(ids), what="every SOS PUBACKed")
            assert all(h.agent.queue.depth >= 1 for h in homes.homes)  # kept: not committed yet
            ingest.start()
            await asyncio.to_thread(ingest.wait_for_log, '"ingest_ready"', 90)
            await _all_stored_once(db_url, homes)
            resent = sum(h.agent.stats.resent for h in homes.homes)
    finally:
        ingest.stop()
    assert rows(db_url, SOS_STORED) == [(len(ids), len(ids))]
    if not persistence:
        assert resent >= len(ids)  # the broker routed each first send to no one: each SOS went again


async def test_broker_killed_mid_stream_and_restarted_without_persistence_loses_nothing(
    db_url: str,
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    tmp_path: Path,
    topic_root: str,
) -> None:
    broker = private_broker(persistence=True)
    ids = [f"wipe-home-{n}" for n in range(8)]
    register_homes(db_url, ids)
    settings = make_settings(mqtt_url=broker.url, mqtt={"reconnect_min_s": 0.1, "reconnect_max_s": 0.5})
    ingest = await _started(_ingest(env_for, broker, tmp_path / "ingest.log", f"ingest-{topic_root}"))
    try:
        async with homes_running(settings, ids, tmp_path) as homes:
            stream = asyncio.create_task(homes.readings(300, pause_s=0.01))
            await homes.press_sos()
            await wait_until(lambda: (scalar(db_url, STORED) or 0) > 200, what="a stream in progress")  # type: ignore[operator]
            await asyncio.to_thread(broker.stop, kill=True)  # whatever it held in memory is gone
            (broker.directory / "mosquitto.db").unlink(missing_ok=True)  # and nothing on disk either
            await homes.press_sos()  # pressed while the broker is down: queued on disk
            await asyncio.to_thread(broker.start)
            await stream
            await homes.press_sos()
            await _all_stored_once(db_url, homes)
    finally:
        ingest.stop()
    assert rows(db_url, SOS_STORED) == [(3 * len(ids), len(ids))]


async def test_two_ingest_copies_acknowledge_independently_and_every_gateway_drains(
    db_url: str,
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    tmp_path: Path,
    topic_root: str,
) -> None:
    broker = private_broker(persistence=True)
    ids = [f"two-home-{n}" for n in range(10)]
    register_homes(db_url, ids)
    settings = make_settings(mqtt_url=broker.url)
    copies = [_ingest(env_for, broker, tmp_path / f"ingest-{n}.log", f"ingest-{topic_root}-{n}") for n in (1, 2)]
    try:
        for copy in copies:
            await _started(copy)
        # Small batches on the gateways (not the platform config's): the copies take turns, so each gateway hears from both.
        async with homes_running(settings, ids, tmp_path, batch_max_readings=5, platform_tuning=False) as homes:
            await homes.readings(200, pause_s=0.005)
            await homes.press_sos()
            await _all_stored_once(db_url, homes)
            committed = sum(h.agent.stats.committed for h in homes.homes)
    finally:
        for copy in copies:
            copy.stop()
    assert all(_commit_acks(copy) > 0 for copy in copies), [_commit_acks(copy) for copy in copies]
    assert committed >= len(ids) * (200 // 5)


async def test_a_gateway_that_ignores_acknowledgements_still_delivers_exactly_once(
    db_url: str,
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    tmp_path: Path,
    topic_root: str,
) -> None:
    broker = private_broker(persistence=True)
    ids = ["legacy-home-1", "legacy-home-2"]
    register_homes(db_url, ids)
    settings = make_settings(mqtt_url=broker.url)
    ingest = await _started(_ingest(env_for, broker, tmp_path / "ingest.log", f"ingest-{topic_root}"))
    try:
        # Never subscribes to ack: a message leaves its queue at the PUBACK, as third-party gateways do.
        async with homes_running(settings, ids, tmp_path, commit_ack=False) as homes:
            await homes.readings(100)
            await homes.press_sos()
            await wait_until(lambda: homes.queued() == 0, what="queues empty at their PUBACKs")
            expected = homes.numbered()
            await wait_until(lambda: scalar(db_url, STORED) == expected, what="everything stored")
            assert all(h.agent.stats.awaiting_commit == 0 and h.agent.stats.committed == 0 for h in homes.homes)
        assert _commit_acks(ingest) > 0  # acknowledged all the same, to nobody listening
    finally:
        ingest.stop()
    assert scalar(db_url, DISTINCT) == expected
    assert rows(db_url, SOS_STORED) == [(len(ids), len(ids))]


async def test_a_home_may_read_its_ack_topic_and_never_write_it(
    db_url: str,
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    tmp_path: Path,
    topic_root: str,
) -> None:
    home = "acl-home-1"
    register_homes(db_url, [home])
    acl = "\n".join([*acl_patterns(topic_root), "user platform", f"topic readwrite {topic_root}/#", ""])
    broker = private_broker(users={home: "home-secret", "platform": "platform-secret"}, acl=acl)
    settings = make_settings(mqtt_url=broker.url_as(home, "home-secret"))
    ack_topic = str(Topic(topic_root, home, MessageKind.ACK))
    endpoint = parse_mqtt_url(broker.url_as(home, "home-secret"))
    async with connect_edge(settings.mqtt, endpoint, client_id=f"gw-{home}", persistent=False) as conn:
        await conn.subscribe(ack_topic, qos=0, timeout_s=10)  # allowed
        with pytest.raises(PublishRefusedError) as refused:
            await conn.publish(ack_topic, b'{"home_id": "acl-home-1"}', timeout_s=10)
    assert refused.value.reason_code == 0x87

    # On a broker without ACLs the publish gets through; ingest dead-letters it as wrong_direction.
    open_broker = private_broker()
    ingest = await _started(_ingest(env_for, open_broker, tmp_path / "ingest.log", f"ingest-{topic_root}"))
    try:
        async with connect(make_settings(mqtt_url=open_broker.url), client_id=f"gw-{home}") as client:
            await client.publish(ack_topic, b'{"home_id": "acl-home-1"}', qos=1)
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == 1, what="the dead letter")
    finally:
        ingest.stop()
    assert rows(db_url, "SELECT reason, topic FROM dead_letters") == [("wrong_direction", ack_topic)]


async def test_the_acknowledgement_names_what_was_stored_and_what_was_dead_lettered_why(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    home = "ack-home-1"
    register_homes(db_url, [home])
    settings = make_settings(ingest={"commit_acks": True})
    fresh = temperature_batch(home, "temp-1", 0, 10)
    stale = ReadingBatch(home_id=home, readings=[r.model_copy(update={"ts": T0 - timedelta(days=900)}) for r in
                         temperature_batch(home, "temp-1", 10, 5).readings])  # fmt: skip
    conflict = ReadingBatch(home_id=home, readings=[r.model_copy(update={"value": 99.0}) for r in fresh.readings[:2]])
    resend = temperature_batch(home, "temp-1", 0, 10)
    acks: list[CommitAck] = []
    async with connect(settings, client_id=f"gw-{home}") as gateway, running_ingest(settings):
        await gateway.subscribe(str(Topic(topic_root, home, MessageKind.ACK)), qos=0)
        listening = asyncio.create_task(_collect_acks(gateway, topic_root, acks))
        try:
            for message in (fresh, stale, conflict, resend):
                topic, payload = encode(topic_root, message)
                await gateway.publish(topic, payload, qos=1)
            # 10 stored (the resend among them), 5 too old, 2 in conflict with what is stored.
            await wait_until(lambda: _settled(acks) >= 17, what="every number acknowledged")
        finally:
            listening.cancel()
    committed = {(r.device, seq) for ack in acks for r in ack.committed for seq in range(r.first, r.last + 1)}
    dead = {(r.device, seq, r.reason) for ack in acks for r in ack.dead_lettered for seq in range(r.first, r.last + 1)}
    assert committed == {("temp-1", seq) for seq in range(10)}  # the resend too: it is stored
    assert dead == {("temp-1", seq, "ts_too_old") for seq in range(10, 15)} | {
        ("temp-1", seq, "duplicate_conflict") for seq in range(2)
    }
    assert all(ack.home_id == home for ack in acks)


def _settled(acks: list[CommitAck]) -> int:
    return sum(r.last - r.first + 1 for ack in acks for r in [*ack.committed, *ack.dead_lettered])


async def _collect_acks(client: Any, root: str, into: list[CommitAck]) -> None:
    async for message in client.messages:
        decoded = decode(message.topic.value, message.payload, root=root)
        if isinstance(decoded, Decoded) and isinstance(decoded.message, CommitAck):
            into.append(decoded.message)
