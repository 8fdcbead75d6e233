"""Faults injected at random during a chaos run, each logged with when it began and ended.

One thread per fault in progress, so long faults (a database outage of a minute, gateways cut off
for minutes) overlap with short ones. Some kinds exclude each other: one broker fault at a time
(the broker is one process), one database outage at a time, one fault per group of homes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bench.chaos.cluster import Cluster, Group


class Kind(StrEnum):
    INGEST_KILL = "kill -9 ingest copy"
    ALERTS_KILL = "kill -9 alerts copy"
    BROKER_RESTART = "broker restart (persistence)"
    BROKER_KILL = "broker kill -9"
    BROKER_WIPE = "broker restart without persistence"
    DB_OUTAGE = "database outage (proxy cut)"
    AGENT_KILL = "kill -9 edge agents, full queues"
    GATEWAY_CUTOFF = "gateways cut off from broker"


#: Faults after which a gateway's own messages cannot reach the platform until the fault ends.
GATEWAY_FAULTS = frozenset({Kind.AGENT_KILL, Kind.GATEWAY_CUTOFF})


@dataclass(frozen=True)
class Ranges:
    """Lengths, in wall seconds, drawn uniformly from each (low, high)."""

    restart_after_s: tuple[float, float] = (1.0, 8.0)
    broker_down_s: tuple[float, float] = (0.5, 5.0)
    db_outage_s: tuple[float, float] = (5.0, 90.0)
    queue_fill_s: tuple[float, float] = (5.0, 20.0)
    cutoff_s: tuple[float, float] = (60.0, 300.0)


@dataclass(frozen=True)
class Fault:
    kind: Kind
    target: str
    started: float  # UNIX time
    ended: float
    homes: tuple[str, ...] = ()  # the homes a gateway fault cut off

    def covers(self, at: float) -> bool:
        return self.started <= at <= self.ended


class Injector:
    def __init__(
        self, cluster: Cluster, ranges: Ranges, rng: random.Random, log_path: Path, script: tuple[Kind, ...] = ()
    ) -> None:
        self.cluster = cluster
        self.script = list(script)  # kinds to inject first, in this order (when possible then); then at random
        self.ranges = ranges
        self.rng = rng
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self._log_path = log_path
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._broker_busy = False
        self._db_busy = False

    def run(self, duration_s: float, target_faults: int) -> None:
        """Start a fault every so often (exponential gaps averaging ``duration_s / target_faults``)."""
        deadline = time.time() + duration_s
        mean_gap = duration_s / max(1, target_faults)
        while True:
            gap = min(self.rng.expovariate(1 / mean_gap), 3 * mean_gap)
            if time.time() + gap >= deadline:
                break
            time.sleep(gap)
            self._start_one()
        self.wait()

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()

    def _start_one(self) -> None:
        """Pick a kind (each equally likely among those possible now), claim its target, start it."""
        choices: dict[Kind, list[str]] = {}
        for name in ("ingest-a", "ingest-b", "alerts-a", "alerts-b"):
            if not self.cluster.service(name).held_down:
                kind = Kind.INGEST_KILL if name.startswith("ingest") else Kind.ALERTS_KILL
                choices.setdefault(kind, []).append(name)
        if not self._broker_busy:
            for kind in (Kind.BROKER_RESTART, Kind.BROKER_KILL, Kind.BROKER_WIPE):
                choices[kind] = ["mosquitto"]
        if not self._db_busy:
            choices[Kind.DB_OUTAGE] = ["postgresql"]
        free = [str(group.index) for group in self.cluster.groups if not group.busy]
        if free:
            choices[Kind.AGENT_KILL] = free
            choices[Kind.GATEWAY_CUTOFF] = free
        scripted = self.script.pop(0) if self.script else None
        kind = scripted if scripted in choices else self.rng.choice(sorted(choices))
        target = self.rng.choice(choices[kind])
        action = self._claim(kind, target)  # in this thread: the next pick sees the target taken
        thread = threading.Thread(target=self._guarded, args=(action,), daemon=True, name=f"fault-{kind.name}")
        self._threads.append(thread)
        thread.start()

    def _claim(self, kind: Kind, target: str) -> Callable[[], None]:
        if kind in (Kind.INGEST_KILL, Kind.ALERTS_KILL):
            member = self.cluster.service(target)
            member.held_down = True
            return lambda: self._kill_service(kind, target)
        if kind in (Kind.BROKER_RESTART, Kind.BROKER_KILL, Kind.BROKER_WIPE):
            self._broker_busy = True
            return lambda: self._broker(kind)
        if kind is Kind.DB_OUTAGE:
            self._db_busy = True
            return self._db_outage
        group = self.cluster.groups[int(target)]
        group.busy = True
        return (lambda: self._agent_kill(group)) if kind is Kind.AGENT_KILL else (lambda: self._cutoff(group))

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - one fault's failure is reported, the run goes on
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _record(self, kind: Kind, target: str, started: float, homes: tuple[str, ...] = ()) -> None:
        fault = Fault(kind, target, started, time.time(), homes)
        with self._lock:
            self.faults.append(fault)
            with self._log_path.open("a", encoding="utf-8") as log:
                at = time.strftime("%H:%M:%S", time.localtime(started))
                log.write(f"{at} {started:.3f} {fault.ended - started:7.1f}s  {kind.value:38} {target}\n")

    def _uniform(self, bounds: tuple[float, float]) -> float:
        return self.rng.uniform(*bounds)

    def _kill_service(self, kind: Kind, name: str) -> None:
        member = self.cluster.service(name)
        started = time.time()
        self.cluster.kill(member)
        time.sleep(self._uniform(self.ranges.restart_after_s))
        self.cluster.restart(member)
        self._record(kind, name, started)

    def _broker(self, kind: Kind) -> None:
        broker = self.cluster.broker
        started = time.time()
        try:
            broker.stop(kill=kind is Kind.BROKER_KILL)
            if kind is Kind.BROKER_WIPE:
                (broker.directory / "mosquitto.db").unlink(missing_ok=True)
            time.sleep(self._uniform(self.ranges.broker_down_s))
            broker.start()
        finally:
            self._broker_busy = False
        self._record(kind, "mosquitto", started)

    def _db_outage(self) -> None:
        started = time.time()
        try:
            self.cluster.db_proxy.cut()
            time.sleep(self._uniform(self.ranges.db_outage_s))
            self.cluster.db_proxy.restore()
        finally:
            self._db_busy = False
        self._record(Kind.DB_OUTAGE, "postgresql", started)

    def _agent_kill(self, group: Group) -> None:
        """Cut the group off so its queues fill, ``kill -9`` its agents, start them again, reconnect."""
        started = time.time()
        try:
            group.hold_cut()
            time.sleep(self._uniform(self.ranges.queue_fill_s))
            self.cluster.kill(group.member)
            time.sleep(self._uniform(self.ranges.restart_after_s))
            self.cluster.restart(group.member, group)
            group.release_cut()
        finally:
            group.busy = False
        self._record(Kind.AGENT_KILL, group.member.name, started, tuple(group.home_ids()))

    def _cutoff(self, group: Group) -> None:
        started = time.time()
        try:
            group.hold_cut()
            time.sleep(self._uniform(self.ranges.cutoff_s))
            group.release_cut()
        finally:
            group.busy = False
        self._record(Kind.GATEWAY_CUTOFF, group.member.name, started, tuple(group.home_ids()))
