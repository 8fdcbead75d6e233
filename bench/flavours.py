"""Both database flavours side by side, in one run: the figures an operator sizes a deployment with.

    .venv/bin/python -m bench.flavours [--requests 500] [--readings 1000000] [--days 90]

It stores :mod:`bench.api`'s 90 days (``--days``) x 1,000 homes in a database of each flavour, plain PostgreSQL
(5432) and TimescaleDB (5433; compressed as its policy would), with the bytes on disk per reading;
serves both with the real API and times the 24 h timeline and the alert list with requests
alternating between the two, one by one (so both see the same moments of the machine's load);
then runs :mod:`bench.ingest` on each (end to end, batched, against that flavour's own COPY
ceiling) and prints one table with the TimescaleDB / PostgreSQL ratio. The load average is
printed beside each part: on a shared machine, read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import time

from bench import api
from bench.ingest import run as ingest
from tests.support.services import FLAVOURS, Flavour

_ROWS = (
    ("timeline p50 (ms)", "timeline_p50", "{:.1f}"),
    ("timeline p99 (ms)", "timeline_p99", "{:.1f}"),
    ("alert list p50 (ms)", "alerts_p50", "{:.1f}"),
    ("alert list p99 (ms)", "alerts_p99", "{:.1f}"),
    ("bytes on disk per reading", "bytes_per_reading", "{:.0f}"),
    ("  after compression", "bytes_per_reading_compressed", "{:.0f}"),
    ("ingest end to end (readings/s)", "batched", "{:,.0f}"),
    ("COPY ceiling (rows/s)", "ceiling", "{:,.0f}"),
    ("ingest / ceiling", "ingest_vs_ceiling", "{:.2f}"),
    ("data generated in (s)", "generate_s", "{:.0f}"),
)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run_all(requests: int, readings: int, days: int = api.DAYS) -> dict[Flavour, dict[str, float]]:
    results: dict[Flavour, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        urls = {}
        for flavour in FLAVOURS:
            print(f"\n===== {flavour}: {days} days x {api.HOMES:,} homes (load average {load()})", flush=True)
            urls[flavour], results[flavour] = stack.enter_context(api.prepared(flavour, days=days))
        targets = [api.Target(flavour, 18080 + index, urls[flavour]) for index, flavour in enumerate(FLAVOURS)]
        for target in targets:
            stack.enter_context(api.serving(target.url, target.port))
        print(f"\n===== API, requests alternating between the flavours (load average {load()})", flush=True)
        measured = api.measure(targets, requests)
        for flavour in FLAVOURS:
            results[flavour].update(measured[flavour])
    for flavour in FLAVOURS:
        print(f"\n===== {flavour}: ingest (load average {load()})", flush=True)
        rates = ingest.main(["--flavour", flavour, "--readings", str(readings), "--single", "0", "--naive", "0"])
        results[flavour].update(rates, ingest_vs_ceiling=rates["batched"] / rates["ceiling"])
    return results


def table(results: dict[Flavour, dict[str, float]]) -> None:
    print(f"\n{'':32}{'postgres':>14}{'timescaledb':>14}{'ts / pg':>10}")
    for label, key, fmt in _ROWS:
        values = [results[flavour].get(key, math.nan) for flavour in FLAVOURS]
        cells = "".join(f"{'-' if math.isnan(v) else fmt.format(v):>14}" for v in values)
        ratio = values[1] / values[0] if not any(math.isnan(v) for v in values) and values[0] else math.nan
        print(f"{label:32}{cells}{'' if math.isnan(ratio) else f'{ratio:10.2f}'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=api.DAYS, help="days of data for the 1,000 homes (a smaller, honest size)")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"both flavours, {os.cpu_count()} CPUs, load average {load()} (1, 5, 15 min); the machine is shared")
    print(f"size: {args.days} days x {api.HOMES:,} homes")
    results = run_all(args.requests, args.readings, args.days)
    table(results)
    print(f"\n{(time.monotonic() - started) / 60:.0f} min; load average at the end {load()}")


if __name__ == "__main__":
    main()
