"""Ingest throughput, end to end, against its two reference points, in one run.

    .venv/bin/python -m bench.ingest [--flavour postgres|timescaledb] [--readings 1000000] [--single 100000] [--copies 2]

Creates its own databases of the flavour (default: the test harness's, EC_TEST_DB_FLAVOUR; dropped
afterwards) and a private Mosquitto
with a large queue; starts ``--copies`` real ``eldercare ingest`` processes on one shared
subscription and ``--publishers`` publisher processes (multiprocessing). Measured, each from the
first publish to the last commit (the last ``ingest_batch`` log line):

- batched: ``--readings`` readings, ``--per-message`` per message, as the edge sends them;
- single: ``--single`` readings, one per message (fewer than batched: it is slow by nature);
- ceiling: raw binary COPY of the same number of rows from Python into a staging table, then
  INSERT ... ON CONFLICT DO NOTHING into ``readings`` (what ingest does, without MQTT or decoding),
  in batches of the ingest batch size, into a fresh database;
- naive: one subscriber that decodes each message and does one INSERT per reading and one commit
  per message (aiomqtt, auto-acknowledged), on ``--naive`` one-reading messages.

Prints readings/s for each, the ratios, and the peak resident memory (VmHWM) of each ingest
process. Broker, database, publishers and ingest share this machine's cores: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from bench.databases import fresh_database
from bench.ingest.load import ROOT, plan, run_publishers
from bench.ingest.probe import latency_probe, percentile
from eldercare.config import Settings, load_settings
from eldercare.contracts import Decoded, decode
from eldercare.contracts.payloads import ReadingBatch
from eldercare.mqtt import connect
from tests.support.broker import PrivateBroker
from tests.support.processes import cli_env
from tests.support.services import DB_FLAVOUR, FLAVOURS, Flavour, free_port

# -- databases, ingest processes ----------------------------------------------------------------


def register(url: str, homes: Sequence[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO care_centres (name) VALUES ('bench') RETURNING id").fetchone()
        assert row is not None
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO homes (id, care_centre_id) VALUES (%s, %s)", [(home, row[0]) for home in homes])


@dataclass
class IngestProcess:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    def written(self) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("ingest_readings_written_total "):
                    return float(line.split()[1])
        return 0.0

    def last_commit(self) -> float:
        last = 0.0
        for line in self.log.read_text().splitlines():
            if '"ingest_batch"' in line:
                stamp = json.loads(line)["timestamp"]
                last = max(last, datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        return last

    def urgent_lane(self) -> tuple[float, float]:
        """The urgent lane's worst time held in the process before commit, and worst commit (ms)."""
        held, commit = 0.0, 0.0
        for line in self.log.read_text().splitlines():
            if '"ingest_batch"' in line and '"urgent"' in line:
                record = json.loads(line)
                held, commit = max(held, record["held_ms"]), max(commit, record["commit_ms"])
        return held, commit

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def start_ingest(
    db_url: str, broker_url: str, index: int, workdir: Path, batch_size: int, *, commit_acks: bool = True, tag: str = ""
) -> IngestProcess:
    port = free_port()
    env = cli_env({
        "ELDERCARE_DATABASE_URL": db_url, "ELDERCARE_MQTT_URL": broker_url, "ELDERCARE_MQTT__TOPIC_ROOT": ROOT,
        # The same client id in every round: a new one would leave the last round's persistent session
        # in the share group, and the broker would go on routing half the messages to it.
        "ELDERCARE_INGEST__CLIENT_ID": f"bench-ingest-{index}", "ELDERCARE_INGEST__METRICS_PORT": str(port),
        "ELDERCARE_INGEST__BATCH_SIZE": str(batch_size), "ELDERCARE_LOG_FORMAT": "json",
        "ELDERCARE_INGEST__COMMIT_ACKS": "true" if commit_acks else "false",
    })  # fmt: skip
    log = workdir / f"ingest{tag}-{index}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "eldercare", "ingest"], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while '"ingest_ready"' not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ingest {index} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return IngestProcess(process, log, port)


def wait_written(copies: Sequence[IngestProcess], total: int, timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(copy.written() for copy in copies) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sum(c.written() for c in copies)} of {total} readings written")
        time.sleep(0.25)


# -- the two reference points -------------------------------------------------------------------


def copy_ceiling(url: str, messages: list[tuple[str, bytes]], batch_size: int) -> float:
    """Rows/s of binary COPY into staging + INSERT ON CONFLICT, rows prepared beforehand (no decoding)."""
    rows = []
    for _, payload in messages:
        document = json.loads(payload)
        for r in document["readings"]:
            ts = datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))
            rows.append((document["home_id"], r["device"], r["seq"], ts, r["metric"], r["value"], r["room"]))
    # The same garbage-collector tuning as the ingest service, so the ceiling is not handicapped.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE stage (home_id text, device_id text, seq bigint, ts timestamptz, metric text,"
            " value double precision, room text) ON COMMIT DELETE ROWS"
        )
        conn.commit()
        started = time.perf_counter()
        for start in range(0, len(rows), batch_size):
            with conn.cursor() as cur:
                with cur.copy("COPY stage FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "text", "int8", "timestamptz", "text", "float8", "text"])
                    for row in rows[start : start + batch_size]:
                        copy.write_row(row)
                cur.execute(
                    "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
                    " SELECT * FROM stage ON CONFLICT (device_id, seq, ts) DO NOTHING"
                )
            conn.commit()
        elapsed = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM readings").fetchone()
    if count is None or count[0] != len(rows):
        raise RuntimeError(f"ceiling run wrote {count} rows, expected {len(rows)}")
    return len(rows) / elapsed


async def _naive_subscriber(settings: Settings, url: str, total: int, subscribed: asyncio.Event) -> float:
    """One INSERT per reading, one commit per message; returns the time of the last commit."""
    last = 0.0
    done = 0
    async with await psycopg.AsyncConnection.connect(url) as conn, connect(settings, client_id="bench-naive") as client:
        await client.subscribe("naive/v1/+/readings", qos=1)
        subscribed.set()
        async for message in client.messages:
            result = decode(str(message.topic), bytes(message.payload), root="naive")
            if not (isinstance(result, Decoded) and isinstance(result.message, ReadingBatch)):
                raise RuntimeError(f"naive subscriber got a rejected message: {result}")
            for r in result.message.readings:
                await conn.execute(
                    "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (device_id, seq, ts) DO NOTHING",
                    (result.message.home_id, r.device, r.seq, r.ts, r.metric.value, r.value, r.room),
                )
                done += 1
            await conn.commit()
            last = time.time()
            if done >= total:
                return last
    return last


def naive(url: str, broker_url: str, homes: Sequence[str], count: int) -> float:
    settings = load_settings(mqtt_url=broker_url, database_url=url)
    messages = [(t.replace(f"{ROOT}/", "naive/", 1), p) for t, p in plan(homes, count, 1, 10_000_000, 0, 1)]

    async def main() -> tuple[float, float]:
        subscribed = asyncio.Event()
        task = asyncio.create_task(_naive_subscriber(settings, url, len(messages), subscribed))
        await asyncio.wait_for(subscribed.wait(), 30)
        first, _ = await asyncio.to_thread(run_publishers, broker_url, [messages])
        return first, await task

    first, last = asyncio.run(main())
    return len(messages) / (last - first)


# -- the run ------------------------------------------------------------------------------------


def end_to_end(
    copies: Sequence[IngestProcess],
    broker_url: str,
    shares: list[list[tuple[str, bytes]]],
    expected_total: int,
    *,
    ca_file: str | None = None,
) -> float:
    first, last_puback = run_publishers(broker_url, shares, ca_file=ca_file)
    wait_written(copies, expected_total)
    last_commit = max(copy.last_commit() for copy in copies)
    readings = sum(len(json.loads(p)["readings"]) for share in shares for _, p in share)
    print(f"    publishing took {last_puback - first:.1f} s; first publish to last commit {last_commit - first:.1f} s")
    return readings / (last_commit - first)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark; returns readings/s: batched, single (one per message), ceiling and naive (NaN when skipped)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flavour", choices=FLAVOURS, default=DB_FLAVOUR)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--per-message", type=int, default=100)
    parser.add_argument("--single", type=int, default=100_000, help="readings sent one per message")
    parser.add_argument("--naive", type=int, default=20_000, help="one-reading messages for the naive subscriber")
    parser.add_argument("--copies", type=int, default=2, help="ingest processes on the shared subscription")
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument(
        "--ack-cost", type=int, default=0, metavar="ROUNDS",
        help="only measure commit acknowledgements: ROUNDS x (off, on), batched and one per message, fresh database each",
    )  # fmt: skip
    args = parser.parse_args(argv)
    homes = [f"bench-{index:05d}" for index in range(args.homes)]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        workdir = Path(tmp)
        broker = PrivateBroker(directory=workdir / "mosquitto", persistence=False)
        broker.start()
        try:
            if args.ack_cost:
                return ack_cost(args, homes, workdir, broker)
            return _run(args, homes, workdir, broker)
        finally:
            broker.stop()


def ceiling_run(flavour: Flavour, homes: Sequence[str], batched: list[list[tuple[str, bytes]]], batch_size: int) -> float:
    with fresh_database("bench_ingest_ceiling", flavour=flavour) as url:
        register(url, homes)
        ceiling = copy_ceiling(url, [m for share in batched for m in share], batch_size)
    print(f"  (a) COPY ceiling (staging + INSERT ON CONFLICT), fresh database: {ceiling:,.0f} rows/s")
    return ceiling


def ack_cost(args: argparse.Namespace, homes: list[str], workdir: Path, broker: PrivateBroker) -> dict[str, float]:
    """Readings/s with and without commit acknowledgements, alternating in one run (the machine's load
    drifts; alternation spreads it over both), batched and one reading per message."""
    print(f"commit acknowledgement cost on {args.flavour}: {os.cpu_count()} CPUs, {args.copies} ingest copies")
    batched = [plan(homes, args.readings, args.per_message, 0, share, args.publishers) for share in range(args.publishers)]
    single = [plan(homes, args.single, 1, 5_000_000, share, args.publishers) for share in range(args.publishers)]
    total = sum(len(json.loads(p)["readings"]) for s in batched for _, p in s)
    rates: dict[tuple[str, bool], list[float]] = {}
    for round_ in range(args.ack_cost):
        for acks in (False, True):
            with fresh_database("bench_ingest_acks", flavour=args.flavour) as url:
                register(url, homes)
                tag = f"-r{round_}-{'on' if acks else 'off'}"
                copies = [start_ingest(url, broker.url, n, workdir, args.batch_size, commit_acks=acks, tag=tag)
                          for n in range(args.copies)]  # fmt: skip
                try:
                    print(f"  round {round_ + 1}, acknowledgements {'on' if acks else 'off'}:")
                    rates.setdefault(("batched", acks), []).append(end_to_end(copies, broker.url, batched, total))
                    if args.single:
                        rates.setdefault(("single", acks), []).append(end_to_end(copies, broker.url, single, total + args.single))
                finally:
                    for copy in copies:
                        copy.process.terminate()
                        copy.process.wait(timeout=30)
    print("summary (readings/s, mean of the rounds; each round: off then on)")
    result = {}
    for shape in ("batched", "single"):
        off, on = rates.get((shape, False)), rates.get((shape, True))
        if not off or not on:
            continue
        mean_off, mean_on = sum(off) / len(off), sum(on) / len(on)
        runs = ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b in zip(off, on, strict=True))
        ratio = mean_on / mean_off
        print(f"  {shape:8} off {mean_off:>10,.0f}   on {mean_on:>10,.0f}   on/off {ratio:.2f}   (rounds off/on: {runs})")
        result[f"{shape}_off"], result[f"{shape}_on"] = mean_off, mean_on
    return result


def _run(args: argparse.Namespace, homes: list[str], workdir: Path, broker: PrivateBroker) -> dict[str, float]:
    print(f"ingest benchmark on {args.flavour}: {os.cpu_count()} CPUs; broker, PostgreSQL, publishers and ingest on this machine")
    batched = [plan(homes, args.readings, args.per_message, 0, share, args.publishers) for share in range(args.publishers)]
    single = [plan(homes, args.single, 1, 5_000_000, share, args.publishers) for share in range(args.publishers)]
    total_batched = sum(len(json.loads(p)["readings"]) for s in batched for _, p in s)

    ceilings = [ceiling_run(args.flavour, homes, batched, args.batch_size)]

    with fresh_database("bench_ingest_e2e", flavour=args.flavour) as url:
        register(url, homes)
        copies = [start_ingest(url, broker.url, n, workdir, args.batch_size) for n in range(args.copies)]
        try:
            print(f"  end to end, {total_batched:,} readings, {args.per_message} per message, {args.copies} ingest copies, "
                  f"{args.publishers} publishers:")  # fmt: skip
            with latency_probe(broker.url, url, ROOT, homes[0]) as latencies:
                batched_rate = end_to_end(copies, broker.url, batched, total_batched)
            print(f"    {batched_rate:,.0f} readings/s")
            quantiles = ", ".join(f"p{round(q * 100)} {percentile(latencies, q) * 1000:.0f} ms" for q in (0.5, 0.9, 0.99, 1.0))
            print(f"    meanwhile, {len(latencies)} SOS events, publish to alert_inbox commit (NOTIFY): {quantiles}")
            lanes = ", ".join(
                f"held {held:.0f} ms / commit {commit:.0f} ms" for held, commit in (c.urgent_lane() for c in copies)
            )
            print(f"    urgent lane worst, per ingest copy (in the process before commit / commit): {lanes}")
            single_rate = float("nan")
            if args.single:
                print(f"  end to end, {args.single:,} readings, one per message:")
                single_rate = end_to_end(copies, broker.url, single, total_batched + args.single)
                print(f"    {single_rate:,.0f} readings/s")
            peaks = [copy.peak_rss_mb() for copy in copies]
        finally:
            for copy in copies:
                copy.process.terminate()
                copy.process.wait(timeout=30)

    # Measured again after the end-to-end runs: the load from other work on this machine varies, and
    # the ratio is taken against the better of the two ceilings (the harder target).
    ceilings.append(ceiling_run(args.flavour, homes, batched, args.batch_size))
    ceiling = max(ceilings)

    naive_rate = float("nan")
    if args.naive:
        with fresh_database("bench_ingest_naive", flavour=args.flavour) as url:
            register(url, homes)
            naive_rate = naive(url, broker.url, homes, args.naive)
        print(f"  (b) naive subscriber (INSERT per reading, commit per message), {args.naive:,} one-reading messages: "
              f"{naive_rate:,.0f} readings/s")  # fmt: skip

    print("summary")
    print(f"  end to end batched       {batched_rate:>12,.0f} readings/s")
    print(f"  end to end one/message   {single_rate:>12,.0f} readings/s")
    print(f"  (a) COPY ceiling         {ceiling:>12,.0f} rows/s   (best of {', '.join(f'{c:,.0f}' for c in ceilings)})")
    print(f"  (b) naive subscriber     {naive_rate:>12,.0f} readings/s")
    print(f"  batched / ceiling        {batched_rate / ceiling:>12.2f}   (target >= 0.5)")
    print(f"  batched / naive          {batched_rate / naive_rate:>12.1f}   (target >= 10)")
    print(f"  one-per-message / naive  {single_rate / naive_rate:>12.1f}")
    print("  peak memory (VmHWM) per ingest process: " + ", ".join(f"{peak:.0f} MB" for peak in peaks))
    return {"batched": batched_rate, "single": single_rate, "ceiling": ceiling, "naive": naive_rate}


if __name__ == "__main__":
    main()
