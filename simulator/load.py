"""``eldercare simulate load``: many homes over a few MQTT connections, for measuring the platform.

``simulate run`` gives every home a real edge agent (a connection, a disk queue, a dozen tasks): true
to a gateway, and about 10,000 homes is what a 2-core machine holds. The load mode keeps what the
platform sees and drops what only costs the simulator:

- every home plays the same life as in ``simulate run``: :class:`simulator.home.HomePlayer` (the
  routine, the devices' own reporting rhythms of simulator/reporting.py, scenario incidents), stepped
  from one scheduler, a heap of each home's next due instant (no task, no connection per home);
- each home's messages are rendered as its gateway renders them (:mod:`simulator.gateway_lite`) and
  published on one of ``connections`` MQTT 5 connections, QoS 1, on the home's own topics. The broker
  must let those connections publish under every home (no per-home ACL): a benchmark broker only;
- commit acknowledgements: ingest publishes one per committed batch to ``<root>/v1/<home>/ack``, as
  for every gateway. The load subscribes to them with one shared subscription over its connections
  (``$share/eldercare-load/<root>/v1/+/ack``), so the broker delivers each acknowledgement once, as it
  would to a fleet of gateways (its outbound work is part of what is measured), and the load counts
  what ingest committed. It does not resend: it has no disk queue, and a platform that loses a
  message shows as committed < sent;
- no last will per home: a killed load process leaves its homes "online" until it starts again.

Homes are registered in bulk without credentials (:func:`simulator.registry.register`) and have no
history: the alert engine judges them with its untrained defaults (a 100,000-home backfill is far too
big). With ``sos_every_s``, a home after another (spread over the connections) presses its SOS button
every so often; each press is a line of ``sos_log`` (home, event ts, wall time of the publish) for
measuring SOS to notification under load.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

from edge.drivers.simulated import SimulatedDriver
from edge.model import DeviceRef, Sink
from eldercare import logs
from eldercare.clock import Clock
from eldercare.config import Settings
from eldercare.contracts.payloads import DeviceKind
from eldercare.errors import EldercareError, PermanentError, TransientError
from eldercare.mqtt.edge_client import EdgeConnection, PublishRefusedError, connect_edge
from eldercare.retry import sleep_until
from simulator.gateway_lite import Counts, LiteGateway
from simulator.home import HomePlayer, HomeSetup, Queue, Reporter
from simulator.incidents import Incident, Scenario, load_scenario, schedule
from simulator.registry import register
from simulator.routine import Emission, Wear
from simulator.runner import batch_delay_s, clock_speed, heartbeat_interval_s, home_ids
from simulator.script import Action, Cut, Restore
from simulator.truth import TruthWriter

log = logs.get("simulator")
PLAY, FLUSH, BEAT = 0, 1, 2
ACK_GROUP = "eldercare-load"
PUBACK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class LoadOptions:
    first: int = 0
    count: int | None = None  # default: every home from ``first``
    connections: int = 4
    duration_s: float | None = None  # simulated seconds from the first home's start; None: until stopped
    register: bool = True
    start_rate_per_s: float = 2_000.0  # homes started (their ``online`` status published) per wall second
    max_in_flight: int = 2_000  # QoS 1 publishes awaiting their PUBACK, over all connections
    sos_every_s: float | None = None
    sos_log: Path | None = None
    horizon_s: float = 7 * 86_400.0


@dataclass
class LoadSummary:
    homes: int
    connections: int
    counts: Counts = field(default_factory=Counts)
    pubacks: int = 0
    publish_failed: int = 0
    committed: int = 0  # readings and events ingest acknowledged (over this process's share of acks)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    sos: int = 0
    lag_max_s: float = 0.0  # how late the scheduler ran its most overdue item (the whole run)
    lag_interval_s: float = 0.0  # ... since the last status line
    incidents: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "homes": self.homes, "connections": self.connections, "messages": c.messages, "readings": c.readings,
            "events": c.events, "heartbeats": c.heartbeats, "pubacks": self.pubacks, "publish_failed": self.publish_failed,
            "committed": self.committed, "dead_lettered": dict(self.dead_lettered), "sos": self.sos,
            "lag_max_s": round(self.lag_max_s, 3), "incidents": self.incidents, "wall_s": round(self.wall_s, 1),
        }  # fmt: skip


class HomeGateway(Sink, Protocol):
    """What a load player feeds: :class:`LiteGateway` (or a test's recorder)."""

    offline: bool

    def activity(self, device: DeviceRef, kind: str) -> None: ...
    def cut(self) -> None: ...
    def restore(self) -> None: ...
    def status(self, state: str, reason: str) -> None: ...
    def flush(self) -> None: ...
    def heartbeat(self) -> None: ...


class LoadPlayer(HomePlayer):
    """A home's player whose wearable minutes and network cuts go straight to its gateway."""

    def __init__(self, setup: HomeSetup, clock: Clock, report: Reporter, gateway: HomeGateway) -> None:
        driver = SimulatedDriver(setup.home_id)
        driver.attach(gateway)
        super().__init__(setup, clock, report, driver)
        self.gateway = gateway
        self.queue: Queue = []

    async def _apply(self, item: Action | Emission) -> None:
        if isinstance(item, Wear):
            self.counters.emitted += 1
            self.gateway.activity(self.driver.device("wearable-1", DeviceKind.WEARABLE), item.activity)
            return
        await super()._apply(item)

    async def _apply_action(self, item: Action) -> None:
        if isinstance(item, Cut):
            self.gateway.cut()
        elif isinstance(item, Restore):
            self.gateway.restore()
        else:
            await super()._apply_action(item)


class Publisher:
    """``connections`` MQTT 5 connections; a home always publishes on the same one (index modulo)."""

    def __init__(
        self, settings: Settings, connections: int, client_prefix: str, max_in_flight: int, summary: LoadSummary
    ) -> None:
        self.settings = settings
        self.client_ids = [f"{client_prefix}-{n}" for n in range(connections)]
        self.conns: list[EdgeConnection | None] = [None] * connections
        self.summary = summary
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    def send(self, home_index: int, topic: str, payload: bytes, *, retain: bool = False) -> None:
        conn = self.conns[home_index % len(self.conns)]
        if conn is None:
            self.summary.publish_failed += 1
            return
        self.in_flight += 1
        if self.in_flight >= self.max_in_flight:
            self._room.clear()
        task = asyncio.create_task(self._publish(conn, topic, payload, retain))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, conn: EdgeConnection, topic: str, payload: bytes, retain: bool) -> None:
        try:
            await conn.publish(topic, payload, qos=1, retain=retain, timeout_s=PUBACK_TIMEOUT_S)
            self.summary.pubacks += 1
        except (TransientError, PublishRefusedError):
            self.summary.publish_failed += 1
        finally:
            self.in_flight -= 1
            if self.in_flight < self.max_in_flight:
                self._room.set()

    @property
    def full(self) -> bool:
        return not self._room.is_set()

    async def room(self) -> None:
        """Wait while ``max_in_flight`` publishes await their PUBACK (backpressure on the scheduler)."""
        await self._room.wait()

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tasks:
            for n in range(len(self.conns)):
                tasks.create_task(self._link(n, stop), name=f"load-link-{n}")

    async def _link(self, n: int, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(n, stop)
            except PermanentError:
                raise
            except EldercareError as exc:
                log.warning("simulator_load_link_lost", link=n, error=str(exc))
            finally:
                self.conns[n] = None
            if await sleep_until(stop, delay + random.uniform(0, delay)):
                return
            delay = min(delay * 2, 10.0)

    async def _session(self, n: int, stop: asyncio.Event) -> None:
        root = self.settings.mqtt.topic_root
        async with connect_edge(
            self.settings.mqtt, self.settings.mqtt_endpoint, client_id=self.client_ids[n], persistent=False, max_inflight=1000
        ) as conn:
            await conn.subscribe(f"$share/{ACK_GROUP}/{root}/v1/+/ack", qos=0, timeout_s=30)
            self.conns[n] = conn
            if all(c is not None for c in self.conns):
                self.connected.set()
            log.info("simulator_load_link_up", link=n, client_id=self.client_ids[n])
            receiving = asyncio.ensure_future(self._acks(conn))
            try:
                await asyncio.wait({receiving, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
                if receiving.done():
                    receiving.result()  # the connection dropped: TransientError
            finally:
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)
                await self.drain()

    async def _acks(self, conn: EdgeConnection) -> None:
        async for message in conn.messages():
            try:
                ack = json.loads(message.payload)
                self.summary.committed += sum(r["last"] - r["first"] + 1 for r in ack.get("committed", ()))
                for r in ack.get("dead_lettered", ()):
                    self.summary.dead_lettered[str(r["reason"])] += r["last"] - r["first"] + 1
            except (ValueError, KeyError, TypeError):
                self.summary.dead_lettered["unreadable_ack"] += 1

    async def drain(self, timeout_s: float = 30.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


class LoadRun:
    def __init__(self, settings: Settings, clock: Clock, options: LoadOptions) -> None:
        self.settings = settings
        self.clock = clock
        self.options = options
        sim = settings.simulator
        count = options.count if options.count is not None else sim.homes - options.first
        self.home_ids = home_ids(settings, options.first, max(0, count))
        self.summary = LoadSummary(homes=len(self.home_ids), connections=options.connections)
        prefix = f"load-{sim.home_prefix}-{options.first}-{int(time.time() * 1000) % 1_000_000}"
        self.publisher = Publisher(settings, options.connections, prefix, options.max_in_flight, self.summary)
        self.truth = TruthWriter(sim.ground_truth_file, speed=clock_speed(settings))
        self.players: list[LoadPlayer] = []
        self.heap: list[tuple[float, int, int, int]] = []
        self._order = 0
        self._wake = asyncio.Event()
        self._heartbeat_s = heartbeat_interval_s(settings)
        self._rng = random.Random(f"{sim.seed}:load:{options.first}")

    # -- Timers ------------------------------------------------------------------------------

    def flush_at(self, home_index: int, at: datetime) -> None:
        self._push(at.timestamp(), home_index - self.options.first, FLUSH)

    def _push(self, due: float, local: int, what: int) -> None:
        self._order += 1
        if self.heap and due < self.heap[0][0]:
            self._wake.set()
        heapq.heappush(self.heap, (due, self._order, local, what))

    # -- preparing ---------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Schedule incidents, register the homes (in bulk, no credentials), build each home's player."""
        scenario = load_scenario(self.settings.simulator.scenario_file) if self.settings.simulator.scenario_file else Scenario()
        start = self.clock.now()
        sim = self.settings.simulator
        every = home_ids(self.settings, 0, sim.homes)
        incidents = schedule(scenario, home_ids=every, start=start, horizon_s=self.options.horizon_s, seed=sim.seed)
        per_home: dict[int, list[Incident]] = {}
        for incident in incidents:
            per_home.setdefault(incident.home_index, []).append(incident)
        if self.options.register:
            rules = scenario.rule_settings or None
            await register(self.settings, self.home_ids, now=start, rule_settings=rules, credentials=False)
        zone = ZoneInfo(sim.timezone)
        seq_base = int(start.timestamp() * 1000)
        delay = batch_delay_s(self.settings)
        activity = random.Random(f"{sim.seed}:activity:{self.options.first}")
        for offset, home_id in enumerate(self.home_ids):
            index = self.options.first + offset
            gateway = LiteGateway(
                index=index, home_id=home_id, root=self.settings.mqtt.topic_root, clock=self.clock, outbox=self.publisher,
                timers=self, counts=self.summary.counts, batch_delay_s=delay, seq_base=seq_base, activity_rng=activity,
            )  # fmt: skip
            setup = HomeSetup(index, home_id, sim.seed, zone, sim.wearable_rate_hz, per_home.get(index, []))
            self.players.append(LoadPlayer(setup, self.clock, self._reporter(home_id), gateway))
        log.info("simulator_prepared", homes=len(self.players), incidents_scheduled=sum(len(v) for v in per_home.values()))

    def _reporter(self, home_id: str) -> Reporter:
        def report(incident: Incident, start: datetime, details: dict[str, object]) -> None:
            self.truth.record(home_id, incident, start, details)
            self.summary.incidents += 1

        return report

    # -- running -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> LoadSummary:
        started = time.monotonic()
        sos_file = self.options.sos_log.open("a", encoding="utf-8") if self.options.sos_log else None
        try:
            async with asyncio.TaskGroup() as tasks:
                links = tasks.create_task(self.publisher.run(stop), name="load-links")
                await self._connected(stop, links)
                log.info("simulator_load_connected", connections=self.options.connections)
                tasks.create_task(self._status(stop), name="load-status")
                tasks.create_task(self._start_homes(stop), name="load-ramp")
                if self.options.duration_s is not None:
                    tasks.create_task(self._stop_after(stop, self.options.duration_s), name="load-duration")
                if self.options.sos_every_s is not None:
                    tasks.create_task(self._sos(stop, self.options.sos_every_s, sos_file), name="load-sos")
                await self._schedule(stop)
                for player in self.players:
                    player.gateway.flush()
                await self.publisher.drain()
                stop.set()
        finally:
            self.truth.close()
            if sos_file is not None:
                sos_file.close()
        self.summary.wall_s = time.monotonic() - started
        return self.summary

    async def _connected(self, stop: asyncio.Event, links: asyncio.Task[None]) -> None:
        waiting = asyncio.ensure_future(self.publisher.connected.wait())
        await asyncio.wait({waiting, links, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if links.done():
            links.result()  # PermanentError (refused) escapes
        waiting.cancel()

    async def _stop_after(self, stop: asyncio.Event, duration_s: float) -> None:
        await sleep_until(stop, duration_s, clock=self.clock)
        stop.set()

    async def _start_homes(self, stop: asyncio.Event) -> None:
        """Start the homes at ``start_rate_per_s``: ``online``, the routine's first item, a heartbeat within its period."""
        chunk = max(1, int(self.options.start_rate_per_s / 20))
        for first in range(0, len(self.players), chunk):
            if stop.is_set():
                return
            now = self.clock.now()
            for local in range(first, min(first + chunk, len(self.players))):
                player = self.players[local]
                player.gateway.status("online", "connected")
                player.queue = player.begin(now)
                self._push(player.queue[0][0].timestamp(), local, PLAY)
                self._push(now.timestamp() + self._rng.uniform(0, self._heartbeat_s), local, BEAT)
            await asyncio.sleep(chunk / self.options.start_rate_per_s)
        log.info("simulator_load_homes_started", homes=len(self.players))

    async def _schedule(self, stop: asyncio.Event) -> None:
        """Run every due item, oldest first, until stopped; pause while too many publishes are in flight."""
        done = 0
        while not stop.is_set():
            if not self.heap:
                await sleep_until(stop, 0.5, wake=self._wake)
                self._wake.clear()
                continue
            due, _, local, what = self.heap[0]
            ahead = due - self.clock.now().timestamp()
            if ahead > 0:
                self._wake.clear()
                await sleep_until(stop, ahead, wake=self._wake, clock=self.clock)
                continue
            heapq.heappop(self.heap)
            self.summary.lag_max_s = max(self.summary.lag_max_s, -ahead)
            self.summary.lag_interval_s = max(self.summary.lag_interval_s, -ahead)
            await self._run_item(local, what, due)
            done += 1
            if done % 256 == 0:
                await asyncio.sleep(0)  # let PUBACKs and acks in
            if self.publisher.full:
                await self.publisher.room()

    async def _run_item(self, local: int, what: int, due: float) -> None:
        player = self.players[local]
        if what == PLAY:
            await player.step(player.queue)
            if player.queue:
                self._push(player.queue[0][0].timestamp(), local, PLAY)
        elif what == FLUSH:
            player.gateway.flush()
        else:
            player.gateway.heartbeat()
            self._push(due + self._heartbeat_s, local, BEAT)

    async def _sos(self, stop: asyncio.Event, every_s: float, out: IO[str] | None) -> None:
        """A press (double: an SOS, never an "I'm OK") in one home after another, a stride apart."""
        count = len(self.players)
        stride = 7919 if count > 7919 and count % 7919 else 1
        local = count // 2
        while not await sleep_until(stop, every_s, clock=self.clock):
            local = (local + stride) % count
            player = self.players[local]
            if player.gateway.offline:
                continue
            await player.driver.sos("double")
            self.summary.sos += 1
            if out is not None:
                line = {"home_id": player.setup.home_id, "ts": self.clock.now().isoformat(), "wall": time.time()}
                out.write(json.dumps(line) + "\n")
                out.flush()

    async def _status(self, stop: asyncio.Event) -> None:
        interval = self.settings.simulator.status_interval_s
        before = (time.monotonic(), 0)
        while not await sleep_until(stop, interval):
            now = time.monotonic()
            c = self.summary.counts
            rate = (c.messages - before[1]) / max(1e-6, now - before[0])
            before = (now, c.messages)
            log.info(
                "simulator_load_status", homes=len(self.players), messages=c.messages, messages_per_s=round(rate, 1),
                readings=c.readings, events=c.events, pubacks=self.summary.pubacks, failed=self.summary.publish_failed,
                in_flight=self.publisher.in_flight, committed=self.summary.committed,
                dead_lettered=sum(self.summary.dead_lettered.values()), lag_s=round(self.summary.lag_interval_s, 3),
            )  # fmt: skip
            self.summary.lag_interval_s = 0.0
