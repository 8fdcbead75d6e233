"""``python -m bench.chaos``: the chaos run. See the package docstring."""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.chaos.api_watch import ApiWatch
from bench.chaos.check import (
    Outcome,
    accepted_urgent,
    account_notifications,
    account_other_alerts,
    account_readings,
    account_urgent,
    read_database,
    read_gateways,
)
from bench.chaos.cluster import PREFIX, Cluster, Exit
from bench.chaos.faults import Fault, Injector, Kind, Ranges
from bench.chaos.receiver import Notification, channel_url, notifications
from bench.chaos.report import render
from bench.databases import fresh_database
from eldercare.domain.alerts.catalogue import LAST_ESCALATION_LEVEL
from simulator.registry import CARE_CENTRE_NAME
from tests.alerts.support import WebhookReceiver, webhook_receiver
from tests.support.processes import run_cli

ZONE = "Asia/Shanghai"  # the simulator's default timezone
OFFLINE_AFTER_S = 300.0  # rule_settings devices.gateway_offline_after_s (default)
HOMES_START_S = 30.0  # allowance for the group processes to register and connect their homes


@dataclass(frozen=True)
class ChaosConfig:
    homes: int = 200
    groups: int = 8
    duration_s: float = 600.0
    faults: int = 60  # aimed at: faults start at exponential gaps averaging duration_s / faults
    sos: int = 40
    falls: int = 10
    speed: float = 1.0
    seed: int = 1
    ranges: Ranges = field(default_factory=Ranges)
    escalate_s: float = 30.0  # alerts.escalate_critical_s, simulated
    clear_hold_s: float = 60.0  # alerts.clear_hold_s, simulated
    calm_s: float = 15.0  # after the homes start, before the first fault
    drain_timeout_s: float = 900.0
    keep: bool = False
    commit_acks: bool = True  # ingest acknowledges commits and agents keep messages until then (the default settings)
    extra_env: dict[str, str] = field(default_factory=dict)  # more ELDERCARE_* for the platform services
    homes_env: dict[str, str] = field(default_factory=dict)  # more ELDERCARE_* for the homes (edge agents)
    homes_start_s: float = HOMES_START_S
    script: tuple[Kind, ...] = ()  # fault kinds to inject first, in order (the test suite's short run)


@dataclass
class ChaosResult:
    config: ChaosConfig
    faults: list[Fault]
    fault_errors: list[str]
    exits: list[Exit]
    outcome: Outcome
    api: dict[str, int]
    load: list[tuple[str, float]]
    wall_s: float
    drained: bool
    workdir: Path | None = None


def say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def load_now(label: str, loads: list[tuple[str, float]]) -> None:
    loads.append((label, os.getloadavg()[0]))


def plan_incidents(config: ChaosConfig, clock_start: datetime, faults_from: float) -> list[dict[str, object]]:
    """SOS presses and falls, each in a home of its own, spread over the fault period (absolute instants)."""
    rng = random.Random(f"{config.seed}:chaos-incidents")
    homes = rng.sample(range(config.homes), min(config.homes, config.sos + config.falls))
    entries = []
    for n, home in enumerate(homes):
        wall = faults_from + rng.uniform(5.0, max(6.0, config.duration_s - 20.0))
        at = clock_start + timedelta(seconds=(wall - clock_start.timestamp()) * config.speed)
        entries.append({"kind": "sos" if n < config.sos else "fall", "home": home, "at": at.isoformat(), "wall": wall})
    return sorted(entries, key=lambda e: float(e["wall"]))  # type: ignore[arg-type]


def seed_database(db_url: str, hooks: WebhookReceiver, keys: dict[str, str], password: str, env: dict[str, str]) -> None:
    """The simulated care centre (created here, so the group processes never race to create it), its two
    webhook channels (duty staff, supervisor), and an admin for the API watch."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO care_centres (name, timezone) VALUES (%s, %s) RETURNING id", (CARE_CENTRE_NAME, ZONE))
        centre = row.fetchone()[0]  # type: ignore[index]
        for tier, channel in enumerate(("duty", "supervisor")):
            conn.execute(
                "INSERT INTO notification_channels (care_centre_id, name, kind, target, secret, tier, min_severity)"
                " VALUES (%s, %s, 'webhook', %s, %s, %s, 'low')",
                (centre, channel, channel_url(hooks, channel), keys[channel], tier),
            )
    done = run_cli(
        ["users", "add", "--role", "admin", "--username", "chaos-admin", "--password-stdin"], env, stdin=password + "\n"
    )
    if done.returncode != 0:
        raise RuntimeError(f"users add failed: {done.stderr}")


def queued_ids(data_dir: Path) -> set[tuple[str, int]]:
    """(home, message id) of every message waiting in a gateway's disk queue."""
    found: set[tuple[str, int]] = set()
    for path in (data_dir / "gateways").glob("*/queue.sqlite3"):
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                found.update((path.parent.name, int(i)) for (i,) in db.execute("SELECT id FROM outbox"))
            finally:
                db.close()
        except sqlite3.Error:
            continue
    return found


def wait_drained(data_dir: Path, timeout_s: float, period_s: float = 10.0) -> bool:
    """Until nothing that was in a gateway queue ``period_s`` ago is still there (new messages come and go)."""
    deadline = time.time() + timeout_s
    before = queued_ids(data_dir)
    while time.time() < deadline:
        time.sleep(period_s)
        now = queued_ids(data_dir)
        stuck = before & now
        if not stuck:
            return True
        say(f"drain: {len(stuck)} gateway messages still queued after {period_s:.0f} s ({len(now)} queued now)")
        before = now
    return False


_UNSETTLED = """
SELECT (SELECT count(*) FROM notification_outbox WHERE status = 'pending'),
       (SELECT count(*) FROM alerts WHERE kind IN ('gateway_offline', 'device_offline') AND status <> 'resolved'),
       (SELECT count(*) FROM alerts WHERE kind IN ('sos', 'fall') AND status = 'open' AND escalation_level < %s)
"""


def wait_alerts_settled(db_url: str, timeout_s: float) -> bool:
    """Until no notification is pending, every SOS and fall alert has escalated to the last level, and
    no offline alert is open (they resolve after the clear hold)."""
    deadline = time.time() + timeout_s
    while True:
        with psycopg.connect(db_url) as conn:
            pending, offline, escalating = conn.execute(_UNSETTLED, (LAST_ESCALATION_LEVEL,)).fetchone()  # type: ignore[misc]
        if pending == 0 and offline == 0 and escalating == 0:
            return True
        if time.time() > deadline:
            say(f"alerts did not settle: {pending} notifications pending, {offline} offline alerts open, {escalating} escalating")
            return False
        time.sleep(3)


def wait_stable(db_url: str, settle_s: float = 6.0, timeout_s: float = 120.0) -> None:
    """Until ingest has written nothing new for ``settle_s``."""
    deadline = time.time() + timeout_s
    last, since = -1, time.time()
    while time.time() < deadline:
        with psycopg.connect(db_url) as conn:
            now = conn.execute("SELECT (SELECT count(*) FROM readings) + (SELECT count(*) FROM events)").fetchone()[0]  # type: ignore[index]
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= settle_s:
            return
        time.sleep(1)


def run_chaos(config: ChaosConfig, workdir: Path) -> ChaosResult:
    started = time.time()
    loads: list[tuple[str, float]] = []
    load_now("start", loads)
    rng = random.Random(f"{config.seed}:chaos-faults")
    password = secrets.token_urlsafe(16)
    service_env = {
        "ELDERCARE_ALERTS__ESCALATE_CRITICAL_S": f"{config.escalate_s:g}",
        "ELDERCARE_ALERTS__CLEAR_HOLD_S": f"{config.clear_hold_s:g}",
        "ELDERCARE_ALERTS__NOTIFY_RETRY_MIN_S": "1",
        "ELDERCARE_ALERTS__NOTIFY_RETRY_MAX_S": "10",
        "ELDERCARE_ALERTS__NOTIFY_MAX_ATTEMPTS": "1000",
        "ELDERCARE_API__JWT_SECRET": secrets.token_urlsafe(32),
        "ELDERCARE_API__ACCESS_TOKEN_TTL_S": "86400",
        "ELDERCARE_INGEST__COMMIT_ACKS": str(config.commit_acks).lower(),
        **config.extra_env,
    }
    keys = {channel: secrets.token_hex(16) for channel in ("duty", "supervisor")}  # each channel's webhook secret
    with fresh_database("chaos", keep=config.keep) as db_url, webhook_receiver() as hooks:
        clock_start = datetime.now(UTC)
        cluster = Cluster(
            workdir=workdir, db_url=db_url, homes=config.homes, groups=config.groups,
            clock_start=clock_start, speed=config.speed, seed=config.seed, service_env=service_env,
            homes_env={"ELDERCARE_EDGE__COMMIT_ACK": str(config.commit_acks).lower(), **config.homes_env},
        )  # fmt: skip
        seed_database(db_url, hooks, keys, password, {"ELDERCARE_DATABASE_URL": db_url})
        injector = Injector(cluster, config.ranges, rng, workdir / "faults.log", config.script)
        drained = False
        try:
            say(f"starting broker, proxies, 2 ingest, 2 alerts, api; {config.homes} homes in {len(cluster.groups)} processes")
            cluster.start()
            # Faults (and incidents) begin once the homes have had time to register and connect.
            faults_from = time.time() + config.homes_start_s + config.calm_s
            cluster.incidents = plan_incidents(config, clock_start, faults_from)
            cluster.start_homes()
            cluster.watch()
            with ApiWatch(f"http://127.0.0.1:{cluster.api_port}", "chaos-admin", password) as api:
                time.sleep(max(0.0, faults_from - time.time()))
                load_now("faults begin", loads)
                say(f"injecting faults for {config.duration_s:.0f} s (aiming at {config.faults})")
                injector.run(config.duration_s, config.faults)
                load_now("faults end", loads)
                say(f"{len(injector.faults)} faults injected; draining")
                drained = wait_drained(workdir / "sim", config.drain_timeout_s)
                drained = wait_alerts_settled(db_url, config.drain_timeout_s) and drained
                say("stopping the homes")
                cluster.stop_watching()
                cluster.stop_homes()
                wait_stable(db_url)
                api_answers = dict(api.answers)
            outcome = collect(cluster, db_url, notifications(hooks.received, keys)[0], injector.faults)
            load_now("end", loads)
        finally:
            cluster.stop()
    return ChaosResult(
        config=config, faults=injector.faults, fault_errors=injector.errors, exits=cluster.exits, outcome=outcome,
        api=api_answers, load=loads, wall_s=time.time() - started, drained=drained, workdir=workdir if config.keep else None,
    )  # fmt: skip


def collect(cluster: Cluster, db_url: str, received: list[Notification], faults: list[Fault]) -> Outcome:
    outcome = Outcome(homes=cluster.homes)
    gateways = read_gateways(cluster.workdir / "sim")
    stored = read_database(db_url)
    truth: list[dict[str, object]] = []
    for group in cluster.groups:
        if group.truth.exists():
            truth += [json.loads(line) for line in group.truth.read_text().splitlines() if line.strip()]
    accepted = accepted_urgent([group.member.log for group in cluster.groups])
    account_readings(outcome, gateways, stored)
    account_urgent(outcome, truth, accepted, stored, received, faults)
    account_notifications(outcome, stored, received)
    account_other_alerts(outcome, stored, faults, OFFLINE_AFTER_S)
    return outcome


def parse(argv: list[str] | None) -> tuple[ChaosConfig, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--groups", type=int, default=8, help="simulator processes sharing the homes")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults")
    parser.add_argument("--faults", type=int, default=60, help="faults aimed at over the duration")
    parser.add_argument("--sos", type=int, default=40)
    parser.add_argument("--falls", type=int, default=10)
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-outage", type=float, nargs=2, default=(5.0, 90.0), metavar=("MIN", "MAX"), help="seconds")
    parser.add_argument("--cutoff", type=float, nargs=2, default=(60.0, 300.0), metavar=("MIN", "MAX"), help="seconds")
    parser.add_argument("--workdir", type=Path, help="keep logs and queues here (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--no-commit-acks", action="store_true", help="gateways keep messages until PUBACK only (the design before commit acks)"
    )
    args = parser.parse_args(argv)
    if args.sos + args.falls > args.homes:
        parser.error("--sos + --falls must not exceed --homes (one incident per home)")
    config = ChaosConfig(
        homes=args.homes, groups=args.groups, duration_s=args.duration, faults=args.faults, sos=args.sos,
        falls=args.falls, speed=args.speed, seed=args.seed, keep=args.keep, commit_acks=not args.no_commit_acks,
        ranges=Ranges(db_outage_s=tuple(args.db_outage), cutoff_s=tuple(args.cutoff)),
    )  # fmt: skip
    return config, args.workdir


def main(argv: list[str] | None = None) -> None:
    config, workdir = parse(argv)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_chaos(config, workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
            result = run_chaos(config, Path(tmp))
    print(render(result))


__all__ = ["PREFIX", "ChaosConfig", "ChaosResult", "main", "run_chaos"]
