"""``eldercare simulate run``: many virtual homes, each a real edge agent with its own connection.

Order of things: read the scenario and draw the incident schedule, register the homes (database
rows, broker credentials), start a cuttable relay for homes with network incidents, then start the
agents at ``connect_rate_per_s`` and let them run until the duration ends or SIGTERM/SIGINT. The
status line reports homes connected, messages per second, incidents injected and alerts seen.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from edge.agent import AgentConfig, EdgeAgent
from edge.drivers.simulated import SimulatedDriver
from eldercare import logs
from eldercare.clock import Clock, HeldClock
from eldercare.config import Settings
from eldercare.errors import PermanentError
from eldercare.retry import sleep_until
from simulator.home import HomePlayer, HomeSetup, Reporter
from simulator.incidents import NETWORK_INCIDENTS, Incident, Scenario, load_scenario, schedule
from simulator.registry import register
from simulator.relay import Relay
from simulator.signals import SisFallLibrary
from simulator.status import StatusLine
from simulator.truth import TruthWriter

log = logs.get("simulator")


@dataclass(frozen=True)
class RunOptions:
    first: int = 0  # index of the first home this process runs (several processes split the homes)
    count: int | None = None  # default: settings.simulator.homes - first
    duration_s: float | None = None  # simulated seconds; None: until stopped
    register: bool = True
    horizon_s: float = 7 * 86_400.0  # how far ahead random incidents are drawn


@dataclass
class RunSummary:
    homes: int
    failed_homes: int = 0
    incidents: int = 0
    messages: int = 0
    readings: int = 0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def home_ids(settings: Settings, first: int, count: int) -> list[str]:
    prefix = settings.simulator.home_prefix
    return [f"{prefix}-{i:05d}" for i in range(first, first + count)]


def clock_speed(settings: Settings) -> float:
    """Simulated seconds per wall second: the shared clock's speed when it runs simulated time, else 1."""
    return settings.clock.speed if settings.clock.start is not None else 1.0


def batch_delay_s(settings: Settings) -> float:
    """A gateway's batching delay in simulated seconds: stretched with the clock speed (see agent_config)."""
    return max(2.0, 0.5 * clock_speed(settings))


def heartbeat_interval_s(settings: Settings) -> float:
    """A gateway's heartbeat period in simulated seconds: stretched with the clock speed (see agent_config)."""
    return max(300.0, 2.0 * clock_speed(settings))


def agent_config(settings: Settings, home_id: str, password: str | None, relay: Relay | None) -> AgentConfig:
    """Batching and heartbeat periods stretch with the clock speed, so message rates stay realistic in wall time
    (the platform's config does not change them; its devices and fall rule still apply)."""
    endpoint = settings.mqtt_endpoint.with_credentials(home_id, password)
    if relay is not None:
        endpoint = type(endpoint)("127.0.0.1", relay.port, False, home_id, password)
    return AgentConfig(
        home_id=home_id,
        endpoint=endpoint,
        queue_path=settings.simulator.data_dir / "gateways" / home_id / "queue.sqlite3",
        mqtt=settings.mqtt,
        batch_max_readings=500,
        batch_max_delay_s=batch_delay_s(settings),
        heartbeat_interval_s=heartbeat_interval_s(settings),
        queue_sync=settings.simulator.queue_sync,
        max_unacked_messages=100,
        ack_timeout_s=10.0,
        shutdown_grace_s=3.0,
        activity_interval_s=60.0,
        platform_tuning=False,
        commit_ack=settings.edge.commit_ack,
        max_awaiting_commit=settings.edge.max_awaiting_commit,
        commit_timeout_events_s=settings.edge.commit_timeout_events_s,
        commit_timeout_readings_s=settings.edge.commit_timeout_readings_s,
    )


class Simulation:
    def __init__(self, settings: Settings, clock: Clock, options: RunOptions) -> None:
        self.settings = settings
        self.clock = clock
        self.options = options
        sim = settings.simulator
        count = options.count if options.count is not None else sim.homes - options.first
        self.home_ids = home_ids(settings, options.first, max(0, count))
        self.zone = ZoneInfo(sim.timezone)
        self.truth = TruthWriter(sim.ground_truth_file, speed=clock_speed(settings))
        self.agents: list[EdgeAgent] = []
        self.players: list[HomePlayer] = []
        self._running: list[asyncio.Task[None]] = []
        self._playing: list[asyncio.Task[None]] = []
        self.relays: list[Relay] = []
        self.summary = RunSummary(homes=len(self.home_ids))

    def _scenario(self) -> Scenario:
        path = self.settings.simulator.scenario_file
        return load_scenario(path) if path is not None else Scenario()

    def _report(self, home_id: str) -> Reporter:
        def report(incident: Incident, start: datetime, details: dict[str, object]) -> None:
            record = self.truth.record(home_id, incident, start, details)
            self.summary.incidents += 1
            log.info("simulator_incident_injected", home_id=home_id, incident=record.incident, start=record.start.isoformat())

        return report

    async def prepare(self) -> None:
        """Schedule, register, build one agent per home (nothing connects yet)."""
        scenario = self._scenario()
        start = self.clock.now()
        all_ids = home_ids(self.settings, 0, self.settings.simulator.homes)
        seed = self.settings.simulator.seed
        incidents = schedule(scenario, home_ids=all_ids, start=start, horizon_s=self.options.horizon_s, seed=seed)
        mine = set(range(self.options.first, self.options.first + len(self.home_ids)))
        per_home: dict[int, list[Incident]] = {}
        for incident in incidents:
            if incident.home_index in mine:
                per_home.setdefault(incident.home_index, []).append(incident)
        passwords: dict[str, str | None] = dict.fromkeys(self.home_ids)
        if self.options.register:
            registration = await register(self.settings, self.home_ids, now=start, rule_settings=scenario.rule_settings or None)
            passwords = registration.passwords
        sisfall = SisFallLibrary(self.settings.simulator.sisfall_dir) if self.settings.simulator.sisfall_dir else None
        for offset, home_id in enumerate(self.home_ids):
            index = self.options.first + offset
            await self._build(index, home_id, passwords[home_id], per_home.get(index, []), sisfall)
        log.info("simulator_prepared", homes=len(self.agents), incidents_scheduled=sum(len(v) for v in per_home.values()))

    async def _build(
        self, index: int, home_id: str, password: str | None, incidents: list[Incident], sisfall: SisFallLibrary | None
    ) -> None:
        relay = None
        if any(i.kind in NETWORK_INCIDENTS for i in incidents):
            endpoint = self.settings.mqtt_endpoint
            relay = await Relay(endpoint.host, endpoint.port).start()
            self.relays.append(relay)
        setup = HomeSetup(
            index=index,
            home_id=home_id,
            seed=self.settings.simulator.seed,
            zone=self.zone,
            wearable_rate_hz=self.settings.simulator.wearable_rate_hz,
            incidents=incidents,
            sisfall=sisfall,
            relay=relay,
        )
        driver = SimulatedDriver(home_id)
        self.players.append(HomePlayer(setup, self.clock, self._report(home_id), driver))
        self.agents.append(EdgeAgent(agent_config(self.settings, home_id, password, relay), driver, self.clock))

    async def run(self, stop: asyncio.Event) -> RunSummary:
        """Until ``stop``: then the players stop first, and the agents drain and say offline."""
        started = asyncio.get_running_loop().time()
        status = StatusLine(self.settings, self.agents, self.summary, self.clock)
        agents_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tasks:
                status_task = tasks.create_task(status.run(), name="sim-status")
                ramp = tasks.create_task(self._start_homes(tasks, stop, agents_stop), name="sim-ramp")
                if self.options.duration_s is not None:
                    tasks.create_task(self._stop_after(stop, self.options.duration_s), name="sim-duration")
                await stop.wait()
                ramp.cancel()
                for player in self._playing:
                    player.cancel()
                await asyncio.gather(*self._playing, return_exceptions=True)
                agents_stop.set()
                await asyncio.gather(*self._running, return_exceptions=True)
                status_task.cancel()
        finally:
            self.truth.close()
            for relay in self.relays:
                await relay.close()
        self.summary.wall_s = asyncio.get_running_loop().time() - started
        self.summary.messages = sum(a.stats.messages_published for a in self.agents)
        self.summary.readings = sum(a.stats.readings_queued for a in self.agents)
        status.final()
        return self.summary

    async def _stop_after(self, stop: asyncio.Event, duration_s: float) -> None:
        await sleep_until(stop, duration_s, clock=self.clock)  # a held clock: counted from its start
        stop.set()

    async def _start_homes(self, tasks: asyncio.TaskGroup, stop: asyncio.Event, agents_stop: asyncio.Event) -> None:
        """Connect the homes at ``connect_rate_per_s``, each playing its routine as it connects; on a
        held clock the routines wait until every home is connected, then the clock starts."""
        held = self.clock if isinstance(self.clock, HeldClock) and not self.clock.started else None
        gap = 1.0 / self.settings.simulator.connect_rate_per_s
        for agent, player in zip(self.agents, self.players, strict=True):
            if stop.is_set():
                return
            name = agent.config.home_id
            self._running.append(tasks.create_task(self._run_agent(agent, agents_stop), name=f"agent-{name}"))
            if held is None:
                self._playing.append(tasks.create_task(self._play(player), name=f"player-{name}"))
            await asyncio.sleep(gap)
        if held is not None:
            if not await self._homes_connected(stop):
                return
            epoch = held.start_now()
            log.info("simulator_clock_started", epoch_wall_s=epoch, sim_time=held.now().isoformat())
            for player in self.players:
                self._playing.append(tasks.create_task(self._play(player), name=f"player-{player.setup.home_id}"))
        await self._freeze_long_lived(stop)

    async def _homes_connected(self, stop: asyncio.Event) -> bool:
        """Wait until every home is connected or has failed (a refused home must not hold the clock);
        False when stopped first."""
        log.info("simulator_waiting_for_homes", homes=len(self.agents))
        while not all(agent.uplink.connected or task.done() for agent, task in zip(self.agents, self._running, strict=True)):
            if await sleep_until(stop, 0.05):
                return False
        return True

    async def _freeze_long_lived(self, stop: asyncio.Event) -> None:
        """Once the homes are connected, exempt their long-lived objects from full collections.

        A full collection scans every object the process holds; with 2,500 homes one took up to
        ~1 s (measured with gc.callbacks), and on a loaded machine such stalls made PUBACK waits time
        out. After the freeze they measured 0.1-0.3 s; they grow again as new live objects pile up.
        """
        deadline = asyncio.get_running_loop().time() + 60
        while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
            if all(agent.uplink.connected for agent in self.agents):
                break
            await asyncio.sleep(1)
        gc.collect()
        gc.freeze()
        log.info("simulator_objects_frozen", frozen=gc.get_freeze_count())

    async def _play(self, player: HomePlayer) -> None:
        try:
            await player.play()
        except Exception as exc:  # noqa: BLE001 - a task boundary: isolate one home
            self.summary.failed_homes += 1
            if len(self.summary.errors) < 10:
                self.summary.errors.append(f"{player.setup.home_id}: player {type(exc).__name__}: {exc}")
            log.error("simulator_player_failed", home_id=player.setup.home_id, error=f"{type(exc).__name__}: {exc}")

    async def _run_agent(self, agent: EdgeAgent, stop: asyncio.Event) -> None:
        """One home; a refused connection or a crash stops that home only, and is counted."""
        try:
            await agent.run(stop)
        except PermanentError as exc:
            self._failed(agent, f"refused: {exc}")
        except Exception as exc:  # noqa: BLE001 - a task boundary: isolate one home
            self._failed(agent, f"{type(exc).__name__}: {exc}")

    def _failed(self, agent: EdgeAgent, reason: str) -> None:
        self.summary.failed_homes += 1
        if len(self.summary.errors) < 10:
            self.summary.errors.append(f"{agent.config.home_id}: {reason}")
        log.error("simulator_home_failed", home_id=agent.config.home_id, error=reason)
