"""``eldercare simulate load``: the homes play the same schedule as ``simulate run``, and real ingest stores what they send."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy.typing as npt
import psycopg
import pytest

from edge.drivers.simulated import SimulatedDriver
from edge.model import DeviceRef
from eldercare.clock import FixedClock
from eldercare.config import load_settings
from eldercare.contracts.codec import Decoded, decode
from eldercare.contracts.payloads import EventBatch, Heartbeat, Metric, ReadingBatch
from simulator.gateway_lite import Counts, LiteGateway
from simulator.home import HomePlayer, HomeSetup
from simulator.incidents import Incident
from simulator.load import LoadOptions, LoadPlayer, LoadRun
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess, run_cli

START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")
Call = tuple[datetime, str, str]  # (when, device, what)


class Recorder:
    """A Sink (and a load gateway) that writes down what a home's devices did, and when."""

    def __init__(self, clock: FixedClock, until: datetime = START) -> None:
        self.clock = clock
        self.calls: list[Call] = []
        self.offline = False
        self.until = until
        self.passed = asyncio.Event()  # a call came at or after ``until``

    def now(self) -> datetime:
        return self.clock.now()

    def _add(self, device: DeviceRef, what: str) -> None:
        self.calls.append((self.clock.now(), device.id, what))
        if self.clock.now() >= self.until:
            self.passed.set()

    def reading(self, device: DeviceRef, metric: Metric, value: float) -> None:
        self._add(device, f"{metric.value}={value}")

    def event(self, device: DeviceRef, detail: Mapping[str, object]) -> None:
        self._add(device, json.dumps(detail, sort_keys=True))

    def health(self, device: DeviceRef, **values: object) -> None:
        self._add(device, "health")

    def availability(self, device: DeviceRef, online: bool) -> None:
        self._add(device, f"available={online}")

    def accelerometer(self, device: DeviceRef, samples: npt.ArrayLike, rate_hz: float) -> None:
        self._add(device, "wear")

    def accelerometer_paused(self, device: DeviceRef) -> None:
        self._add(device, "paused")

    def activity(self, device: DeviceRef, kind: str) -> None:
        self._add(device, "wear")

    def cut(self) -> None: ...
    def restore(self) -> None: ...
    def status(self, state: str, reason: str) -> None: ...
    def flush(self) -> None: ...
    def heartbeat(self) -> None: ...


def _ignore(incident: Incident, start: datetime, details: dict[str, object]) -> None:
    return None


async def _played_alone(index: int, home_id: str, until: datetime) -> list[Call]:
    """One home as ``simulate run`` plays it: its own player sleeping on the clock."""
    clock = FixedClock(START)
    recorder = Recorder(clock, until)
    driver = SimulatedDriver(home_id)
    driver.attach(recorder)
    player = HomePlayer(HomeSetup(index, home_id, 7, ZONE), clock, _ignore, driver)
    task = asyncio.create_task(player.play())
    await recorder.passed.wait()
    task.cancel()
    return [call for call in recorder.calls if call[0] < until]


async def test_every_home_of_the_load_keeps_the_schedule_it_has_in_a_normal_run(tmp_path: Path) -> None:
    homes, until = 3, START + timedelta(hours=6)
    settings = load_settings(
        database_url="postgresql://unused@127.0.0.1/unused",
        mqtt_url="mqtt://127.0.0.1:1",
        simulator={"homes": homes, "seed": 7, "home_prefix": "sim", "ground_truth_file": str(tmp_path / "t.jsonl")},
    )
    clock = FixedClock(START)
    run = LoadRun(settings, clock, LoadOptions(count=homes, start_rate_per_s=1_000_000))
    recorders = [Recorder(clock, until) for _ in range(homes)]
    run.players = [LoadPlayer(HomeSetup(i, f"sim-{i:05d}", 7, ZONE), clock, _ignore, recorders[i]) for i in range(homes)]
    stop = asyncio.Event()
    await run._start_homes(stop)
    scheduler = asyncio.create_task(run._schedule(stop))
    for recorder in recorders:
        await recorder.passed.wait()
    stop.set()
    await scheduler
    run.truth.close()
    for i, recorder in enumerate(recorders):
        alone = await _played_alone(i, f"sim-{i:05d}", until)
        loaded = [call for call in recorder.calls if call[0] < until]
        assert len(alone) > 100
        assert loaded == alone


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []

    def send(self, home_index: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.sent.append((topic, payload, retain))


class _Timers:
    def flush_at(self, home_index: int, at: datetime) -> None: ...


def test_a_lite_gateway_renders_what_the_contract_renders() -> None:
    clock = FixedClock(START)
    outbox = _Outbox()
    gateway = LiteGateway(
        index=0, home_id="sim-00000", root="eldercare", clock=clock, outbox=outbox, timers=_Timers(), counts=Counts(),
        batch_delay_s=2.0, seq_base=1000, activity_rng=random.Random(1),
    )  # fmt: skip
    driver = SimulatedDriver("sim-00000")
    driver.attach(gateway)
    player = LoadPlayer(HomeSetup(0, "sim-00000", 7, ZONE), clock, _ignore, gateway)
    queue = player.begin(clock.now())
    while clock.now() < START + timedelta(hours=3):
        clock.current = max(clock.current, queue[0][0])
        asyncio.run(player.step(queue))
        gateway.flush()
    gateway.heartbeat()
    kinds = set()
    for topic, payload, _ in outbox.sent:
        decoded = decode(topic, payload)
        assert isinstance(decoded, Decoded), (topic, payload, decoded)
        message = decoded.message
        assert isinstance(message, ReadingBatch | EventBatch | Heartbeat)
        kinds.add(type(message).__name__)
        # Byte for byte what the agent's pydantic rendering gives.
        assert type(message).model_validate_json(payload).model_dump_json(exclude_none=True).encode() == payload
    assert kinds == {"ReadingBatch", "EventBatch", "Heartbeat"}


def _count(db_url: str, table: str, prefix: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE home_id LIKE %s", (prefix + "-%",)).fetchone()  # noqa: S608 - our table names
    return int(row[0]) if row else 0


@pytest.mark.timeout(120)
def test_the_load_of_50_homes_over_2_connections_is_stored_by_real_ingest(
    env_for: Callable[..., dict[str, str]],
    private_broker: Callable[..., PrivateBroker],
    db_url: str,
    topic_root: str,
    tmp_path: Path,
) -> None:
    broker = private_broker(persistence=False)
    # 10:00 in the homes' timezone (Asia/Shanghai): residents up and about, whenever the test runs; ingest shares the clock.
    morning = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0).isoformat()
    clock = {"clock__start": morning, "clock__speed": "120", "clock__epoch_wall_s": repr(time.time())}
    env = env_for(mqtt_url=broker.url, ingest__metrics_port="0", simulator__ground_truth_file=str(tmp_path / "t.jsonl"), **clock)
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log").start()
    try:
        ingest.wait_for_log("ingest_ready", timeout_s=60)
        done = run_cli(["simulate", "load", "--homes", "50", "--connections", "2", "--duration", "20m"], env, timeout_s=90)
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert (summary["homes"], summary["publish_failed"]) == (50, 0)
        assert summary["pubacks"] == summary["messages"]
        assert summary["readings"] > 500
        assert summary["events"] > 0
        assert summary["heartbeats"] >= 50
        deadline = time.monotonic() + 60
        stored = (0, 0)
        while time.monotonic() < deadline:
            stored = (_count(db_url, "readings", topic_root), _count(db_url, "events", topic_root))
            if stored == (summary["readings"], summary["events"]):
                break
            time.sleep(0.2)
        assert stored == (summary["readings"], summary["events"])
        assert _count(db_url, "dead_letters", topic_root) == 0
        assert summary["dead_lettered"] == {}
    finally:
        ingest.stop(timeout_s=30)


def test_bad_load_options_exit_2_naming_each_problem(env_for: Callable[..., dict[str, str]]) -> None:
    result = run_cli(["simulate", "load", "--homes", "10", "--first", "4", "--count", "8", "--connections", "9"], env_for())
    assert result.returncode == 2, result.stderr
    assert "--first 4 --count 8: beyond the run's 10 homes" in result.stderr
    assert "--connections 9: more connections than this process's 8 homes" in result.stderr
    result = run_cli(["simulate", "load", "--homes", "10", "--sos-log", "x.jsonl", "--connections", "0"], env_for())
    assert result.returncode == 2
    assert "--connections" in result.stderr
    result = run_cli(["simulate", "load", "--homes", "10", "--sos-log", "x.jsonl"], env_for())
    assert result.returncode == 2
    assert "--sos-log: needs --sos-every" in result.stderr
