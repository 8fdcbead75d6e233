"""The processes of a chaos run, and the handles its faults pull.

Everything is real and local: a private Mosquitto with persistence on a free port (never the shared
one), a fresh database on the local PostgreSQL that every platform service reaches through one TCP
proxy (a database outage is that proxy cut), two ``eldercare ingest`` and two ``eldercare alerts``
copies, ``eldercare api``, and the virtual homes as ``eldercare simulate run --first --count``
processes ("groups"), each group's gateways reaching the broker through a proxy of their own (a
gateway cut off is its group's proxy cut; killing a group's process is ``kill -9`` of its agents).

A watchdog restarts any process that exits without a fault having killed it, and records the exit:
a service must stay up through a database or broker that is not there.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess
from tests.support.proxy import TcpProxy
from tests.support.services import free_port

ROOT = "chaos"
PREFIX = "sim"


@dataclass(frozen=True)
class Exit:
    """A process that stopped without being told to (the watchdog restarted it)."""

    name: str
    code: int | None
    at: float
    last_line: str


@dataclass
class Member:
    """One long-running process of the run, and whether a fault has taken it down on purpose."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    ready: str  # a log line that says it is up
    process: ServiceProcess | None = None
    held_down: bool = False
    starts: int = 0

    def start(self, args: list[str] | None = None) -> None:
        self.process = ServiceProcess(args or self.args, self.env, self.log).start()
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.process is not None and self.process.process.poll() is None

    def exit_code(self) -> int | None:
        if self.process is None or self.process.process is None:
            return None
        return self.process.process.poll()


@dataclass
class Group:
    """Some virtual homes in one simulator process, behind one proxy to the broker."""

    index: int
    first: int
    count: int
    proxy: TcpProxy
    member: Member
    truth: Path
    cut_holds: int = 0
    busy: bool = False  # a fault is working on this group
    lock: threading.Lock = field(default_factory=threading.Lock)

    def home_ids(self) -> list[str]:
        return [f"{PREFIX}-{i:05d}" for i in range(self.first, self.first + self.count)]

    def hold_cut(self) -> None:
        with self.lock:
            self.cut_holds += 1
            if self.cut_holds == 1:
                self.proxy.cut()

    def release_cut(self) -> None:
        with self.lock:
            self.cut_holds -= 1
            if self.cut_holds == 0:
                self.proxy.restore()


def proxied(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


class Cluster:
    def __init__(
        self,
        *,
        workdir: Path,
        db_url: str,
        homes: int,
        groups: int,
        clock_start: datetime,
        speed: float,
        seed: int,
        service_env: dict[str, str],
        homes_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.db_url = db_url
        self.broker = PrivateBroker(directory=workdir / "broker", persistence=True)
        db = urlsplit(db_url)
        self.db_proxy = TcpProxy(db.hostname or "127.0.0.1", db.port or 5432)
        self.homes = homes
        self.clock_env = {
            "ELDERCARE_CLOCK__START": clock_start.isoformat(),
            "ELDERCARE_CLOCK__SPEED": repr(speed),
            "ELDERCARE_CLOCK__EPOCH_WALL_S": repr(clock_start.timestamp()),
        }
        self.api_port = free_port()
        base = {
            "ELDERCARE_MQTT__TOPIC_ROOT": ROOT,
            "ELDERCARE_LOG_FORMAT": "json",
            "ELDERCARE_LOG_LEVEL": "info",
            **self.clock_env,
        }
        platform = {
            **base,
            "ELDERCARE_DATABASE_URL": proxied(db_url, self.db_proxy.port),
            "ELDERCARE_MQTT_URL": self.broker.url,
            "ELDERCARE_INGEST__METRICS_PORT": "0",
            "ELDERCARE_ALERTS__METRICS_PORT": "0",
            "ELDERCARE_API__PORT": str(self.api_port),
            **service_env,
        }
        logs = workdir / "logs"
        self.services = [
            Member(
                f"{name}-{copy}", [name], {**platform, "ELDERCARE_INSTANCE": f"chaos-{copy}"}, logs / f"{name}-{copy}.log", ready
            )
            for name, ready in (("ingest", '"ingest_ready"'), ("alerts", '"alerts_started"'))
            for copy in ("a", "b")
        ]
        self.services.append(Member("api", ["api"], platform, logs / "api.log", '"api_ready"'))
        self.groups: list[Group] = []
        size = -(-homes // groups)
        for index, first in enumerate(range(0, homes, size)):
            count = min(size, homes - first)
            proxy = TcpProxy("127.0.0.1", self.broker.port)
            env = {
                **base,
                "ELDERCARE_DATABASE_URL": db_url,  # the gateways' side: registration and the status line only
                "ELDERCARE_MQTT_URL": f"mqtt://127.0.0.1:{proxy.port}",
                "ELDERCARE_SIMULATOR__HOMES": str(homes),
                "ELDERCARE_SIMULATOR__HOME_PREFIX": PREFIX,
                "ELDERCARE_SIMULATOR__SEED": str(seed),
                "ELDERCARE_SIMULATOR__DATA_DIR": str(workdir / "sim"),
                "ELDERCARE_SIMULATOR__GROUND_TRUTH_FILE": str(workdir / f"truth-{index}.jsonl"),
                "ELDERCARE_SIMULATOR__STATUS_INTERVAL_S": "5",
                **(homes_env or {}),
            }
            member = Member(f"homes-{index}", [], env, logs / f"homes-{index}.log", '"simulator_prepared"')
            self.groups.append(Group(index, first, count, proxy, member, workdir / f"truth-{index}.jsonl"))
        self.exits: list[Exit] = []
        self._lock = threading.Lock()
        self._watching = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.scenario_dir = workdir / "scenarios"
        self.incidents: list[dict[str, object]] = []  # the scenario's entries, absolute instants

    # ---------------------------------------------------------------- start, stop

    def start(self) -> None:
        self.broker.start()
        self.db_proxy.start()
        for group in self.groups:
            group.proxy.start()
        for member in self.services:
            member.start()
        for member in self.services:
            member.process.wait_for_log(member.ready, timeout_s=120)  # type: ignore[union-attr]

    def start_homes(self) -> None:
        for group in self.groups:
            group.member.start(self.simulator_args(group, register=True))
        for group in self.groups:
            group.member.process.wait_for_log(group.member.ready, timeout_s=180)  # type: ignore[union-attr]

    def simulator_args(self, group: Group, *, register: bool) -> list[str]:
        """``simulate run`` for one group, with the incidents still ahead (a restart must not replay one)."""
        now_sim = time.time()  # simulated instants are compared on the wall clock they map to
        self.scenario_dir.mkdir(parents=True, exist_ok=True)
        ahead = [entry for entry in self.incidents if float(entry["wall"]) > now_sim + 1.0]  # type: ignore[arg-type]
        path = self.scenario_dir / f"group-{group.index}-start-{group.member.starts}.json"
        entries = [{key: entry[key] for key in ("kind", "home", "at")} for entry in ahead]
        path.write_text(json.dumps({"incidents": entries}))
        args = ["simulate", "run", "--first", str(group.first), "--count", str(group.count), "--scenario", str(path)]
        return args if register else [*args, "--no-register"]

    def watch(self) -> None:
        self._watching.set()
        self._watchdog = threading.Thread(target=self._watch, daemon=True, name="chaos-watchdog")
        self._watchdog.start()

    def stop_watching(self) -> None:
        self._watching.clear()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)

    def _watch(self) -> None:
        while self._watching.is_set():
            for member, group in [(m, None) for m in self.services] + [(g.member, g) for g in self.groups]:
                with self._lock:
                    if member.held_down or member.running or member.process is None:
                        continue
                    code = member.exit_code()
                    lines = member.process.log_text().strip().splitlines()
                    self.exits.append(Exit(member.name, code, time.time(), lines[-1][:300] if lines else ""))
                    member.start(self.simulator_args(group, register=False) if group is not None else None)
            time.sleep(1.0)

    def stop_homes(self) -> list[int]:
        codes = []
        for group in self.groups:
            with self._lock:
                group.member.held_down = True
            if group.member.process is not None:
                codes.append(group.member.process.stop(timeout_s=60))
        return codes

    def stop(self) -> None:
        self.stop_watching()
        for group in self.groups:
            group.member.held_down = True
            if group.member.running and group.member.process is not None:
                group.member.process.kill()
        for member in reversed(self.services):
            member.held_down = True
            if member.process is not None and member.running:
                with contextlib.suppress(AssertionError):  # it did not stop in time and was killed; its log says why
                    member.process.stop(timeout_s=30)
        self.broker.stop()
        self.db_proxy.close()
        for group in self.groups:
            group.proxy.close()

    # ---------------------------------------------------------------- what faults do

    def kill(self, member: Member) -> None:
        """``kill -9``; the caller restarts it with :meth:`restart` (the watchdog leaves it alone meanwhile)."""
        with self._lock:
            member.held_down = True
            if member.process is not None:
                member.process.kill()

    def restart(self, member: Member, group: Group | None = None) -> None:
        with self._lock:
            member.start(self.simulator_args(group, register=False) if group is not None else None)
            member.held_down = False

    def service(self, name: str) -> Member:
        return next(member for member in self.services if member.name == name)
