"""``python -m bench.city``: the platform at city scale. See the package docstring."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.city.measure import Database, cpu_of, database, scrape, total
from bench.city.report import Scale, Snapshot, render, render_ratio
from bench.databases import fresh_database
from simulator.registry import CARE_CENTRE_NAME
from tests.alerts.support import WebhookReceiver, webhook_receiver
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess, cli_env
from tests.support.services import Flavour, free_port

ROOT = "city"
PREFIX = "sim"
ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class CityConfig:
    homes: int
    alerts: int = 1  # alert engine copies
    window_s: float = 300.0
    warmup_s: float = 120.0
    processes: int = 1  # load generator processes
    connections: int = 4  # per load process
    sos_every_s: float = 10.0
    # Homes start over a minute: each home's first stay begins when it starts, and with it the minutes
    # of its wearable's readings; homes started within seconds would report in step, minute after minute.
    start_over_s: float = 60.0
    catch_up_s: float = 300.0  # after the warm-up, wait at most this long for ingest to catch up with the start
    first_pass_s: float = 900.0  # ... and at most this long for the alert engine's first pass over the homes
    flavour: Flavour = "postgres"
    seed: int = 1
    workdir: Path | None = None
    scenario: Path | None = None  # incidents for the homes (simulate load --scenario), e.g. gateways going offline
    platform: Path | None = None  # another checkout whose .venv runs ingest, alerts and the API (and migrates)
    extra_env: dict[str, str] = field(default_factory=dict)


def say(text: str) -> None:
    print(f"[city {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class CheckoutProcess(ServiceProcess):
    """``eldercare <service>`` run by another checkout's interpreter, in that checkout (its code, not ours)."""

    def __init__(self, root: Path, args: list[str], settings: dict[str, str], log_path: Path) -> None:
        super().__init__(args, settings, log_path)
        self.root = root

    def start(self) -> CheckoutProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            command = [str(self.root / ".venv" / "bin" / "python"), "-m", "eldercare", *self.args]
            env = cli_env(self.settings)
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        return self


class City:
    """The processes of one scale: a private broker, ingest, the alert engine(s), the API, the load."""

    def __init__(self, config: CityConfig, workdir: Path, db_url: str, hooks: WebhookReceiver) -> None:
        self.config = config
        self.workdir = workdir
        self.db_url = db_url
        self.hooks = hooks
        # No ACL, no persistence: a benchmark broker (the load publishes under every home's topics).
        self.broker = PrivateBroker(directory=workdir / "broker", persistence=False)
        self.ingest_port = free_port()
        self.alert_ports = [free_port() for _ in range(config.alerts)]
        self.api_port = free_port()
        self.sos_log = workdir / "sos.jsonl"
        self.services: dict[str, ServiceProcess] = {}
        self.loads: list[ServiceProcess] = []

    def env(self) -> dict[str, str]:
        return {
            "ELDERCARE_DATABASE_URL": self.db_url,
            "ELDERCARE_MQTT_URL": self.broker.url,
            "ELDERCARE_MQTT__TOPIC_ROOT": ROOT,
            "ELDERCARE_LOG_FORMAT": "json",
            "ELDERCARE_LOG_LEVEL": "info",
            "ELDERCARE_SIMULATOR__HOMES": str(self.config.homes),
            "ELDERCARE_SIMULATOR__HOME_PREFIX": PREFIX,
            "ELDERCARE_SIMULATOR__SEED": str(self.config.seed),
            "ELDERCARE_SIMULATOR__TIMEZONE": ZONE,
            "ELDERCARE_SIMULATOR__STATUS_INTERVAL_S": "10",
            "ELDERCARE_SIMULATOR__GROUND_TRUTH_FILE": str(self.workdir / "truth.jsonl"),
            # SOS alerts stay open (nobody acknowledges them): no escalation notices in the figures.
            "ELDERCARE_ALERTS__ESCALATE_CRITICAL_S": "86400",
            "ELDERCARE_API__JWT_SECRET": secrets.token_urlsafe(32),
            "ELDERCARE_API__PORT": str(self.api_port),
            "ELDERCARE_INGEST__METRICS_PORT": str(self.ingest_port),
            **self.config.extra_env,
        }

    def seed(self) -> None:
        """The care centre (before the load registers its homes in it) and its webhook channel."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO care_centres (name, timezone) VALUES (%s, %s) RETURNING id", (CARE_CENTRE_NAME, ZONE)
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO notification_channels (care_centre_id, name, kind, target, secret, tier, min_severity)"
                " VALUES (%s, 'duty', 'webhook', %s, %s, 0, 'low')",
                (row[0], f"http://127.0.0.1:{self.hooks.port}/duty", secrets.token_hex(16)),
            )

    def service(self, args: list[str], env: dict[str, str], log: Path) -> ServiceProcess:
        root = self.config.platform
        return (CheckoutProcess(root, args, env, log) if root is not None else ServiceProcess(args, env, log)).start()

    def start(self) -> None:
        self.broker.start()
        if self.config.platform is not None:  # its migrations on top of ours (a newer checkout has more)
            migrate = self.service(["db", "migrate"], self.env(), self.workdir / "logs" / "migrate.log")
            assert migrate.process is not None
            if migrate.process.wait(timeout=300) != 0:
                raise RuntimeError(f"migrations of {self.config.platform} failed:\n{migrate.log_text()[-2000:]}")
        self.seed()
        env, logs = self.env(), self.workdir / "logs"
        self.services["ingest"] = self.service(["ingest"], env, logs / "ingest.log")
        for n, port in enumerate(self.alert_ports):
            alert_env = {**env, "ELDERCARE_ALERTS__METRICS_PORT": str(port), "ELDERCARE_INSTANCE": f"city-{n}"}
            self.services[f"alerts-{n}"] = self.service(["alerts"], alert_env, logs / f"alerts-{n}.log")
        self.services["api"] = self.service(["api"], env, logs / "api.log")
        for name, process in self.services.items():
            process.wait_for_log({"ingest": "ingest_ready", "api": "api_ready"}.get(name, "alerts_started"), timeout_s=180)

    def start_load(self) -> None:
        cfg = self.config
        size = -(-cfg.homes // cfg.processes)
        for n, first in enumerate(range(0, cfg.homes, size)):
            args = ["simulate", "load", "--first", str(first), "--count", str(min(size, cfg.homes - first))]
            rate = max(1.0, cfg.homes / cfg.start_over_s / cfg.processes)
            args += ["--connections", str(cfg.connections), "--start-rate", f"{rate:g}"]
            if cfg.scenario is not None:
                args += ["--scenario", str(cfg.scenario)]
            if n == 0 and cfg.sos_every_s > 0:
                args += ["--sos-every", f"{cfg.sos_every_s:g}s", "--sos-log", str(self.sos_log)]
            self.loads.append(ServiceProcess(args, self.env(), self.workdir / "logs" / f"load-{n}.log").start())
        for load in self.loads:
            load.wait_for_log("simulator_load_homes_started", timeout_s=max(300.0, cfg.homes / 100))

    def behind(self) -> tuple[int, int]:
        """(readings and events the load sent, of them acknowledged as committed), from the load's last status lines."""
        sent = committed = 0
        for load in self.loads:
            lines = [line for line in load.log_text().splitlines() if '"simulator_load_status"' in line]
            if lines:
                data = json.loads(lines[-1])
                sent += int(data["readings"]) + int(data["events"])
                committed += int(data["committed"])
        return sent, committed

    def wait_caught_up(self, timeout_s: float) -> int:
        """Wait until ingest has committed nearly all the load sent (the start's burst is behind); what it still lacks."""
        deadline = time.monotonic() + timeout_s
        while True:
            sent, committed = self.behind()
            lacking = sent - committed
            if lacking <= max(200, sent // 500) or time.monotonic() > deadline:
                return max(0, lacking)
            time.sleep(5)

    def wait_first_pass(self, since: float, timeout_s: float) -> bool:
        """Wait until every alert copy completed a periodic pass started after the homes (a fresh engine first
        learns every resident's routine, then judges every home once: a start-up cost, not the steady state)."""
        deadline = time.monotonic() + timeout_s
        name = "eldercare_alerts_periodic_pass_completed_timestamp_seconds"
        while True:
            done = [total([scrape(port)], name) for port in self.alert_ports]
            if all(at > since for at in done):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(5)

    def pids(self) -> dict[str, list[int]]:
        def pid(process: ServiceProcess) -> int:
            assert process.process is not None
            return process.process.pid

        found = {"broker": [self.broker.pid], "ingest": [pid(self.services["ingest"])]}
        found["alerts"] = [pid(p) for name, p in self.services.items() if name.startswith("alerts")]
        found["api"] = [pid(self.services["api"])]
        found["load"] = [pid(p) for p in self.loads]
        return found

    def snapshot(self) -> Snapshot:
        db: Database = database(self.db_url)
        alerts = [scrape(port) for port in self.alert_ports]
        ingest = scrape(self.ingest_port)
        return Snapshot(
            at=time.time(),
            cpu={name: cpu_of(pids) for name, pids in self.pids().items()},
            db=db,
            ingest=ingest,
            alerts=alerts,
            messages=total([ingest], "ingest_messages_received_total"),
            readings=total([ingest], "ingest_readings_written_total"),
            events=total([ingest], "ingest_events_written_total"),
            load_avg=os.getloadavg(),
        )

    def stop(self) -> None:
        for load in self.loads:
            load.stop(timeout_s=120)
        for process in reversed(list(self.services.values())):
            if process.process is not None and process.process.poll() is None:
                try:
                    process.stop(timeout_s=60)
                except AssertionError as exc:
                    say(f"a service did not stop in time: {str(exc)[:200]}")
        self.broker.stop()


def event_types(db_url: str, start: float, end: float) -> dict[str, int]:
    """Event rows stored in the window, by type (what the events/s figure is made of)."""
    query = (
        "SELECT type, count(*) FROM events WHERE received_at >= to_timestamp(%s) AND received_at < to_timestamp(%s) GROUP BY 1"
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        return {str(kind): int(n) for kind, n in conn.execute(query, (start, end)).fetchall()}


def run_scale(config: CityConfig) -> Scale:
    with ExitStack() as stack:
        workdir = config.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="city-")))
        workdir = workdir / f"homes-{config.homes}-alerts-{config.alerts}"
        workdir.mkdir(parents=True, exist_ok=True)
        db_url = stack.enter_context(fresh_database("city", flavour=config.flavour))
        hooks = stack.enter_context(webhook_receiver())
        city = City(config, workdir, db_url, hooks)
        stack.callback(city.stop)
        say(f"{config.homes} homes, {config.alerts} alert copies, {config.flavour}: starting services")
        city.start()
        started = time.time()
        city.start_load()
        say(f"homes started in {time.time() - started:.0f} s; warming up {config.warmup_s:g} s")
        time.sleep(config.warmup_s)
        behind = city.wait_caught_up(config.catch_up_s)
        say(f"ingest behind the load by {behind:,} readings and events" if behind else "ingest caught up")
        passed = city.wait_first_pass(started, config.first_pass_s)
        say("the alert engine completed a pass over the homes" if passed else "the alert engine has not completed a pass yet")
        before = city.snapshot()
        say(f"measuring {config.window_s:g} s (load average {before.load_avg[0]:.2f})")
        time.sleep(config.window_s)
        after = city.snapshot()
        time.sleep(min(10.0, config.sos_every_s))  # the window's last SOS reach the receiver
        sos = [json.loads(line) for line in city.sos_log.read_text().splitlines()] if city.sos_log.exists() else []
        loads = [load.log_text() for load in city.loads]
        kinds = event_types(db_url, before.at, after.at)
        say(f"done (load average {after.load_avg[0]:.2f}); logs in {workdir}")
        return Scale(config, before, after, sos, list(hooks.received), loads, kinds)
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.city", description=__doc__)
    parser.add_argument("--homes", default="10000,30000,100000", help="comma-separated scales")
    parser.add_argument("--alerts", default="1", help="alert engine copies, comma-separated (e.g. 1,2)")
    parser.add_argument("--window-s", type=float, default=300.0, help="measured window, after warm-up")
    parser.add_argument("--warmup-s", type=float, default=120.0)
    parser.add_argument("--first-pass-s", type=float, default=900.0, help="wait at most this long for the engine's first pass")
    parser.add_argument("--processes", type=int, default=0, help="load processes (default: one per 50,000 homes)")
    parser.add_argument("--connections", type=int, default=4, help="MQTT connections per load process")
    parser.add_argument("--sos-every-s", type=float, default=10.0, help="an SOS press this often (0: none)")
    parser.add_argument("--scenario", type=Path, help="incidents for the homes (a simulate scenario file)")
    parser.add_argument("--flavour", choices=("postgres", "timescaledb"), default="postgres")
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--platform", type=Path, help="run ingest, alerts and the API from this checkout (its .venv), e.g. a branch under test"
    )
    args = parser.parse_args(argv)
    results = []
    for homes in (int(h) for h in args.homes.split(",")):
        for copies in (int(a) for a in args.alerts.split(",")):
            processes = args.processes or max(1, -(-homes // 50_000))
            config = CityConfig(
                homes=homes, alerts=copies, window_s=args.window_s, warmup_s=args.warmup_s, processes=processes,
                connections=args.connections, sos_every_s=args.sos_every_s, flavour=args.flavour, workdir=args.workdir,
                platform=args.platform, scenario=args.scenario, first_pass_s=args.first_pass_s,
            )  # fmt: skip
            scale = run_scale(config)
            print(render(scale), flush=True)
            results.append(scale)
            if args.json is not None:
                args.json.write_text(json.dumps([s.figures() for s in results], indent=2))
    if len(results) > 1:
        print(render_ratio(results), flush=True)
