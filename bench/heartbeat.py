"""How long a dead platform goes unnoticed: from SIGKILL of every platform process to the alarm of
an outside dead-man's switch.

    .venv/bin/python -m bench.heartbeat [--interval 60] [--grace 120] [--runs 2]

Starts the platform as compose runs it (2 ingest copies, 2 alert engine copies, the API) on a fresh
database and a private Mosquitto, the engines pinging a local watchdog that stands in for
healthchecks.io: it alarms once no ping has come for ``--interval`` + ``--grace`` seconds (a check
with that period and grace time). Once pings arrive, every platform process is killed at once
(SIGKILL: nothing gets to say goodbye) at a random moment of the ping cycle, and the time to the
alarm is printed. It lies between ``--grace`` and ``--interval + --grace`` by construction; the run
shows the platform really pings every ``--interval`` and that nothing else keeps the switch quiet.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

from bench.databases import fresh_database
from bench.ingest.run import register
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess
from tests.support.services import free_port
from tests.support.watchdog import Watchdog

SECRET = "bench-heartbeat-secret-0123456789-abcdef"


def platform(db_url: str, broker_url: str, workdir: Path, heartbeat_url: str, interval_s: float) -> list[ServiceProcess]:
    base = {
        "ELDERCARE_DATABASE_URL": db_url,
        "ELDERCARE_MQTT_URL": broker_url,
        "ELDERCARE_MQTT__TOPIC_ROOT": "bench",
        "ELDERCARE_LOG_FORMAT": "json",
    }
    processes = []
    for copy in range(2):
        ingest = {**base, "ELDERCARE_INGEST__METRICS_PORT": "0"}
        processes.append(ServiceProcess(["ingest"], ingest, workdir / f"ingest-{copy}.log"))
        alerts = {
            **base,
            "ELDERCARE_ALERTS__METRICS_PORT": "0",
            "ELDERCARE_ALERTS__HEARTBEAT_URL": heartbeat_url,
            "ELDERCARE_ALERTS__PLATFORM_CHECK_INTERVAL_S": str(interval_s),
        }
        processes.append(ServiceProcess(["alerts"], alerts, workdir / f"alerts-{copy}.log"))
    api = {**base, "ELDERCARE_API__PORT": str(free_port()), "ELDERCARE_API__JWT_SECRET": SECRET}
    processes.append(ServiceProcess(["api"], api, workdir / "api.log"))
    return processes


def one_run(db_url: str, broker: PrivateBroker, workdir: Path, interval_s: float, grace_s: float) -> tuple[float, int]:
    """Seconds from the kill to the alarm, and the pings received before the kill."""
    with psycopg.connect(db_url, autocommit=True) as conn:  # the gateways were heard from just now
        conn.execute("UPDATE home_state SET updated_at = now()")
    watchdog = Watchdog(grace_s=interval_s + grace_s).start()
    processes = platform(db_url, broker.url, workdir, watchdog.url, interval_s)
    try:
        for process in processes:
            process.start()
        while len(watchdog.pings) < 4:  # both engines have pinged twice: healthy and on time
            time.sleep(0.1)
        time.sleep(random.uniform(0, interval_s))  # a random moment of the ping cycle
        pings = len(watchdog.pings)
        for process in processes:
            process.kill()
        killed = time.time()
        while watchdog.alarmed_at is None:
            time.sleep(0.05)
        return watchdog.alarmed_at - killed, pings
    finally:
        for process in processes:
            process.kill()
        watchdog.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=60.0, help="ELDERCARE_ALERTS__PLATFORM_CHECK_INTERVAL_S")
    parser.add_argument("--grace", type=float, default=120.0, help="the switch's grace time beyond one interval")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"heartbeat benchmark: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
    silence = args.interval + args.grace
    print(f"  pings every {args.interval:g} s from each of 2 engines; the switch alarms after {silence:g} s of silence")
    with (
        tempfile.TemporaryDirectory(prefix="bench-heartbeat-") as tmp,
        fresh_database("bench_heartbeat") as url,
    ):
        workdir = Path(tmp)
        register(url, [f"bench-{index:03d}" for index in range(10)])
        with psycopg.connect(url, autocommit=True) as conn:  # gateways online and recently heard from
            conn.execute(
                "INSERT INTO home_state (home_id, gateway_state, gateway_state_at) SELECT id, 'online', now() FROM homes"
            )
        broker = PrivateBroker(directory=workdir / "mosquitto", persistence=False)
        broker.start()
        try:
            results = [one_run(url, broker, workdir / f"run-{run}", args.interval, args.grace) for run in range(args.runs)]
        finally:
            broker.stop()
    for run, (seconds, pings) in enumerate(results):
        print(f"  run {run}: {pings} pings before the kill; alarm {seconds:.1f} s after every process was killed")
    worst = args.interval + args.grace
    print(
        f"kill to alarm: mean {statistics.mean(s for s, _ in results):.1f} s (bounds {args.grace:g}-{worst:g} s by construction)"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
