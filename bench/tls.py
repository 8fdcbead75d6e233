"""What TLS costs gateways and ingest, against plain MQTT, in one run.

    .venv/bin/python -m bench.tls [--connections 300] [--readings 300000]

One private Mosquitto with a plain listener and a TLS listener (a CA made for the run, an ECDSA P-256
server certificate, TLS 1.2+ as the shipped broker config allows; Python's ssl negotiates TLS 1.3):

- handshake: ``--connections`` gateway connections (connect, MQTT 5 CONNECT/CONNACK, DISCONNECT,
  through :func:`eldercare.mqtt.connect` as the services use it), alternating plain and TLS so both
  see the same machine load; wall time per connection (median, p95) and the broker's CPU time per
  connection (from /proc). Twice: with Mosquitto's default (Nagle's algorithm on: the TLS handshake
  stalls on delayed ACKs) and with ``set_tcp_nodelay true`` as the shipped config has it;
- throughput: 2 real ``eldercare ingest`` copies on the plain listener (as compose runs them), the
  readings published by gateway-like publishers over plain, then over TLS, then over plain again;
  readings/s from the first publish to the last commit, TLS against the mean of the two plain runs.

Broker, PostgreSQL, publishers and ingest share this machine's cores: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.databases import fresh_database
from bench.ingest.load import ROOT, plan
from bench.ingest.probe import percentile
from bench.ingest.run import end_to_end, register, start_ingest
from eldercare.config import load_settings, parse_mqtt_url
from eldercare.mqtt import connect
from tests.support.broker import PrivateBroker
from tests.support.services import free_port
from tests.support.tls import TestCA


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def handshakes(broker: PrivateBroker, tls_port: int, ca_file: Path, count: int) -> dict[str, tuple[list[float], float]]:
    """Per-connection wall times and the broker's CPU seconds spent, for plain and for TLS."""
    settings = load_settings(mqtt={"ca_file": str(ca_file), "topic_root": ROOT})
    urls = {"plain": f"mqtt://127.0.0.1:{broker.port}", "tls": f"mqtts://127.0.0.1:{tls_port}"}
    times: dict[str, list[float]] = {"plain": [], "tls": []}
    cpu = {"plain": 0.0, "tls": 0.0}
    pid = broker.pid
    for index in range(count):
        for kind in ("plain", "tls") if index % 2 == 0 else ("tls", "plain"):
            before_cpu, started = _cpu_s(pid), time.perf_counter()
            async with connect(settings, client_id=f"bench-gw-{kind}-{index}", endpoint=parse_mqtt_url(urls[kind])):
                pass
            times[kind].append(time.perf_counter() - started)
            cpu[kind] += _cpu_s(pid) - before_cpu
    return {kind: (times[kind], cpu[kind]) for kind in times}


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.2f} ms, p95 {percentile(sorted(values), 0.95) * 1000:.2f} ms"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=300, help="gateway connections of each kind")
    parser.add_argument("--readings", type=int, default=300_000, help="readings per throughput run")
    parser.add_argument("--per-message", type=int, default=100)
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--homes", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"TLS benchmark: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        workdir = Path(tmp)
        ca = TestCA(workdir / "pki")
        issued = ca.issue("broker")
        for nodelay in (False, True):
            tls_port = free_port()
            tls = f"listener {tls_port} 127.0.0.1\ncertfile {issued.cert}\nkeyfile {issued.key}\ntls_version tlsv1.2\n"
            broker = PrivateBroker(
                directory=workdir / f"mosquitto-{nodelay}",
                persistence=False,
                extra=tls + f"set_tcp_nodelay {str(nodelay).lower()}\n",
            )
            broker.start()
            try:
                print(
                    f"broker with set_tcp_nodelay {str(nodelay).lower()}{' (as shipped)' if nodelay else ' (Mosquitto default)'}"
                )
                _handshake_report(asyncio.run(handshakes(broker, tls_port, ca.cert_file, args.connections)), args.connections)
                if nodelay:
                    _throughput(args, broker, tls_port, ca.cert_file, workdir)
            finally:
                broker.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _handshake_report(results: dict[str, tuple[list[float], float]], count: int) -> None:
    (plain, plain_cpu), (tls, tls_cpu) = results["plain"], results["tls"]
    print(f"gateway connections, {count} of each kind (connect + MQTT 5 CONNECT/CONNACK + DISCONNECT):")
    print(f"  plain  {_summary(plain)}; broker CPU {plain_cpu / count * 1000:.2f} ms per connection")
    print(f"  TLS    {_summary(tls)}; broker CPU {tls_cpu / count * 1000:.2f} ms per connection")
    extra, ratio = statistics.median(tls) - statistics.median(plain), statistics.median(tls) / statistics.median(plain)
    print(f"  TLS costs {extra * 1000:.2f} ms more per connection (median), x{ratio:.2f}; "
          f"broker CPU +{(tls_cpu - plain_cpu) / count * 1000:.2f} ms per connection")  # fmt: skip


def _throughput(args: argparse.Namespace, broker: PrivateBroker, tls_port: int, ca_file: Path, workdir: Path) -> None:
    homes = [f"bench-{index:05d}" for index in range(args.homes)]
    plain_url, tls_url = broker.url, f"mqtts://127.0.0.1:{tls_port}"
    with fresh_database("bench_tls") as url:
        register(url, homes)
        copies = [start_ingest(url, broker.url, n, workdir, 20_000) for n in range(2)]
        try:
            rates: list[tuple[str, float]] = []
            total = 0
            for index, (kind, broker_url) in enumerate([("plain", plain_url), ("TLS", tls_url), ("plain", plain_url)]):
                shares = [plan(homes, args.readings, args.per_message, index * 10_000_000, share, args.publishers)
                          for share in range(args.publishers)]  # fmt: skip
                total += sum(len(json.loads(p)["readings"]) for share in shares for _, p in share)
                print(f"  {kind}: {args.readings:,} readings, {args.per_message} per message, {args.publishers} publishers")
                rate = end_to_end(copies, broker_url, shares, total, ca_file=str(ca_file) if kind == "TLS" else None)
                print(f"    {rate:,.0f} readings/s")
                rates.append((kind, rate))
        finally:
            for copy in copies:
                copy.process.terminate()
                copy.process.wait(timeout=30)
    plain_mean = statistics.mean(rate for kind, rate in rates if kind == "plain")
    tls_rate = next(rate for kind, rate in rates if kind == "TLS")
    print(f"ingest throughput: TLS {tls_rate:,.0f} readings/s against plain {plain_mean:,.0f} (mean of the two), "
          f"ratio {tls_rate / plain_mean:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
