"""Scale benchmark: how many virtual homes, each with its own MQTT connection, this machine sustains.

    python -m bench.simulator --homes 10000 --processes 4 --measure-s 120

Everything runs here at once, as in production: a private Mosquitto (tests.support.broker: queue
limits raised, no persistence), a fresh database on the local PostgreSQL (``--pg-admin-url``), ``eldercare ingest``
and ``eldercare alerts`` as subprocesses, and ``--processes`` simulator processes that split the
homes (``eldercare simulate run --first --count``). Time runs at real speed (``--speed 1``), so
every home produces what a real one would: ~1.6 readings per minute, a heartbeat every 5 minutes,
wearable chunks every minute while the resident is up, MQTT keepalives every 30 s.

"Sustained" means, over the measurement window after the ramp: every home connected, the
gateways' disk queues not growing (what the homes produce leaves them), and ingest writing the
readings as fast as they are published. Printed: homes connected, messages/s published (from the
simulators' status lines), readings/s committed (from the database) beside readings/s the routines emit (recomputed from
the same seeded routines; committed is higher by the battery readings of each device's first
health report, spread over the first half hour), queued messages at the start
and end of the window, CPU seconds per second of each process group, and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from eldercare.db.migrate import migrate
from simulator.routine import Profile, home_rng, routine
from tests.support.broker import PrivateBroker

ELDERCARE = [sys.executable, "-m", "eldercare"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    group: str
    popen: subprocess.Popen[bytes]
    log: Path
    cpu_start: float = 0.0


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, group: str, cli: list[str], env: dict[str, str]) -> Proc:
        log = self.workdir / f"{group}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([*ELDERCARE, *cli], env=env, stdout=out, stderr=subprocess.STDOUT)
        proc = Proc(group, popen, log)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def last_status(log: Path) -> dict[str, float]:
    """The newest simulator_status line of a simulator's log."""
    found: dict[str, float] = {}
    with log.open("rb") as handle:
        handle.seek(max(0, log.stat().st_size - 200_000))
        for raw in handle.read().decode(errors="replace").splitlines():
            if '"simulator_status"' in raw:
                try:
                    found = json.loads(raw)
                except json.JSONDecodeError:
                    continue
    return found


def disconnects(bench: Bench) -> dict[str, int]:
    """edge_disconnected warnings in the simulators' logs, by error text."""
    found: dict[str, int] = {}
    for proc in bench.procs:
        if proc.group != "simulator":
            continue
        for line in proc.log.read_text(errors="replace").splitlines():
            if '"edge_disconnected"' in line:
                error = str(json.loads(line).get("error", "?"))[:60]
                found[error] = found.get(error, 0) + 1
    return found


def worst_loop_lag_ms(bench: Bench, since: float) -> float:
    """The largest event-loop stall any simulator reported in a status line after ``since`` (UNIX time)."""
    worst = 0.0
    for proc in bench.procs:
        if proc.group != "simulator":
            continue
        for line in proc.log.read_text(errors="replace").splitlines():
            if '"simulator_status"' not in line:
                continue
            status = json.loads(line)
            at = datetime.fromisoformat(status["timestamp"].replace("Z", "+00:00")).timestamp()
            if at >= since:
                worst = max(worst, float(status.get("loop_lag_max_ms") or 0))
    return worst


def _new(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v > before.get(k, 0)}


def totals(bench: Bench) -> dict[str, float]:
    sums = {"connected": 0.0, "messages": 0.0, "queued": 0.0, "failed": 0.0}
    for proc in bench.procs:
        if proc.group == "simulator":
            status = last_status(proc.log)
            for key in sums:
                sums[key] += float(status.get(key) or 0)
    return sums


def expected_readings(homes: int, start: float, end: float, zone: str = "Asia/Shanghai") -> float:
    """What the routine says the homes emit in [start, end): each emission is one reading, plus temperatures.

    The routine is generated from six hours earlier: a routine started at ``start`` itself would put
    every home's first motion pulse exactly there (the simulator's homes had that burst when they
    started, during the ramp, before the window).
    """
    tz = ZoneInfo(zone)
    low, high = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    total = 0
    for index in range(homes):
        profile = Profile.draw(home_rng(1, index, None, "profile"))
        for at, _ in routine(profile, 1, index, low - timedelta(hours=6), tz):
            if at >= high:
                break
            total += at >= low
    return total + homes * (end - start) / 600.0


def readings(url: str) -> int:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


def create_database(admin_url: str) -> str:
    name = f"bench_sim_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    migrate(url)
    return url


def drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def base_env(url: str, broker: str, workdir: Path, homes: int, speed: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        {
            "ELDERCARE_DATABASE_URL": url,
            "ELDERCARE_MQTT_URL": broker,
            "ELDERCARE_LOG_FORMAT": "json",
            "ELDERCARE_LOG_LEVEL": "info",
            "ELDERCARE_CLOCK__START": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "ELDERCARE_CLOCK__SPEED": repr(speed),
            "ELDERCARE_CLOCK__EPOCH_WALL_S": repr(time.time()),
            "ELDERCARE_INGEST__METRICS_PORT": "0",
            "ELDERCARE_ALERTS__METRICS_PORT": "0",
            "ELDERCARE_SIMULATOR__HOMES": str(homes),
            "ELDERCARE_SIMULATOR__DATA_DIR": str(workdir / "sim"),
            "ELDERCARE_SIMULATOR__GROUND_TRUTH_FILE": str(workdir / "truth.jsonl"),
            "ELDERCARE_SIMULATOR__STATUS_INTERVAL_S": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    bench = Bench(args, workdir)
    broker = PrivateBroker(directory=workdir / "mosquitto", persistence=False)
    broker.start()
    url = create_database(args.pg_admin_url)
    try:
        _run(bench, url, broker.url)
    finally:
        bench.stop_all()
        broker.stop()
        drop_database(args.pg_admin_url, url)
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(bench: Bench, url: str, broker_url: str) -> None:
    args = bench.args
    env = base_env(url, broker_url, bench.workdir, args.homes, args.speed)
    acks = "true" if args.commit_acks == "on" else "false"
    env.update({"ELDERCARE_INGEST__COMMIT_ACKS": acks, "ELDERCARE_EDGE__COMMIT_ACK": acks})
    for _ in range(args.ingest):
        bench.start("ingest", ["ingest"], env)
    if not args.no_alerts:
        bench.start("alerts", ["alerts"], env)
    per = -(-args.homes // args.processes)
    sim_env = {**env, "ELDERCARE_SIMULATOR__CONNECT_RATE_PER_S": str(args.connect_rate / args.processes)}
    for first in range(0, args.homes, per):
        count = min(per, args.homes - first)
        bench.start("simulator", ["simulate", "run", "--first", str(first), "--count", str(count)], sim_env)
    ramp_deadline = time.monotonic() + args.ramp_s
    while time.monotonic() < ramp_deadline:
        time.sleep(5)
        now = totals(bench)
        print(f"ramp: connected {now['connected']:.0f}/{args.homes}, queued {now['queued']:.0f}", flush=True)
        if now["connected"] >= args.homes:
            break
    _measure(bench, url)


def _measure(bench: Bench, url: str) -> None:
    args = bench.args
    time.sleep(10)  # let the status lines catch up with the end of the ramp
    before, rows_before, t0, t0_wall = totals(bench), readings(url), time.monotonic(), time.time()
    dropped_before = disconnects(bench)
    lowest = before["connected"]
    for proc in bench.procs:
        proc.cpu_start = cpu_s(proc.popen.pid)
    peak_rss: dict[str, float] = {}
    while time.monotonic() - t0 < args.measure_s:
        time.sleep(5)
        for proc in bench.procs:
            peak_rss[proc.group] = max(peak_rss.get(proc.group, 0.0), rss_mb(proc.popen.pid))
        lowest = min(lowest, totals(bench)["connected"])
    after, rows_after, wall = totals(bench), readings(url), time.monotonic() - t0
    wall_end = time.time()
    expected = expected_readings(args.homes, wall_end - wall, wall_end) / wall
    cpu: dict[str, float] = {}
    for proc in bench.procs:
        cpu[proc.group] = cpu.get(proc.group, 0.0) + (cpu_s(proc.popen.pid) - proc.cpu_start) / wall
    exited = [f"{p.group} ({p.popen.returncode})" for p in bench.procs if p.popen.poll() is not None]
    report = {
        "homes": args.homes,
        "commit_acks": args.commit_acks,
        "simulator_processes": args.processes,
        "ingest_processes": args.ingest,
        "connected_start": before["connected"],
        "connected_end": after["connected"],
        "connected_lowest": lowest,
        "simulator_loop_stall_max_ms": worst_loop_lag_ms(bench, t0_wall),
        "disconnects_in_window": _new(disconnects(bench), dropped_before),
        "disconnects_during_ramp": dropped_before,
        "failed_homes": after["failed"],
        "messages_per_s": round((after["messages"] - before["messages"]) / wall, 1),
        "readings_committed_per_s": round((rows_after - rows_before) / wall, 1),
        "readings_per_s_the_routines_emit": round(expected, 1),
        "queued_start": before["queued"],
        "queued_end": after["queued"],
        "cpu_s_per_s": {k: round(v, 2) for k, v in sorted(cpu.items())},
        "peak_rss_mb_per_process": {k: round(v) for k, v in sorted(peak_rss.items())},
        "window_s": round(wall),
        "exited_early": exited,
    }
    sustained = (
        after["connected"] >= args.homes and not exited and after["queued"] <= max(before["queued"], 0) + args.homes * 0.05
    )
    report["sustained"] = sustained
    print(json.dumps(report, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=4, help="simulator processes")
    parser.add_argument("--ingest", type=int, default=1, help="ingest copies (shared subscription)")
    parser.add_argument("--no-alerts", action="store_true", help="do not run the alert engine")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--connect-rate", type=float, default=250.0, help="new connections per second, all processes")
    parser.add_argument("--ramp-s", type=float, default=300.0, help="at most this long to connect every home")
    parser.add_argument("--measure-s", type=float, default=120.0)
    parser.add_argument("--keep", action="store_true", help="keep the logs (printed directory)")
    parser.add_argument(
        "--commit-acks", choices=("on", "off"), default="on",
        help="ingest acknowledges commits and the gateways wait for them (on), or gateways trust PUBACKs (off)",
    )  # fmt: skip
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
