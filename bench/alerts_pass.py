"""The alert engine's periodic pass: how long judging every home takes, one home at a time versus
several at once (``alerts.evaluation_concurrency``).

    python -m bench.alerts_pass [--homes 2000] [--passes 5] [--concurrency 1,2,4,8]

Creates a fresh database (from ``EC_TEST_PG_ADMIN_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``; dropped at the end, ``--keep`` keeps it),
applies the migrations and stores, server-side with generate_series, ``--homes`` homes in 20 care
centres (Asia/Shanghai, one webhook channel each, never called) with one resident, seven devices
(four motion sensors, the front door, a thermometer, an SOS button), an online gateway and a day
of data up to 20:00 local time, in arrival order:

- motion every 6 minutes from 07:00, moving from room to room; in one home of 20 the resident
  has been still since 16:30 (3.5 h: the inactivity rule fires there, as it would somewhere);
- the front door opened and closed four times, the last at 15:00; a temperature every 15 minutes (about 21 °C).

Then it drives ``Engine.evaluate_once()`` in process, on a FixedClock and one pool sized for the
largest concurrency: a first pass per level learns every resident's routine and opens the
inactivity alerts (reported apart, it is not the steady state), then ``--passes`` rounds, each
round one pass per level in turn with the clock one evaluation interval (30 s) later before
every pass, so no home is skipped as judged moments ago and a drift in the data (or a neighbour's
load on the machine) touches every level alike. These passes judge every home
(``alerts.evaluation_mode=every_home``, the engine before deadlines). Then the same homes under
deadline-driven judging: per ``--marked`` share, three passes in which that share of the homes
has new input (marked as ingest marks them) and the others wait for their next moment of concern.

It prints, per level, the p50 (and min/max) of
the pass time, homes per second, the speed-up over concurrency 1, this process's CPU time per
wall second (the engine is one Python thread: near 100 % it is the limit, not the database), and
how long 10,000 homes would take at that rate against the 30-s interval. It asserts nothing (speed lives here, never in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.engine import Engine
from alerts.metrics import Metrics
from alerts.notify.channels import Senders
from alerts.processing import home_ids
from bench.databases import fresh_database
from eldercare import logs
from eldercare.clock import FixedClock
from eldercare.config import Settings, load_settings
from eldercare.db.pool import open_pool

CENTRES = 20
ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 3, 2, tzinfo=ZONE)
NOW = DAY + timedelta(hours=20)
ROOMS = ("bedroom", "bathroom", "kitchen", "living_room")
INTERVAL_S = 30.0
TARGET_HOMES, TARGET_S = 10_000, 30.0

_SETUP = (
    "INSERT INTO care_centres (name, timezone) SELECT 'Centre ' || g, 'Asia/Shanghai' FROM generate_series(1, %(centres)s) g",
    "INSERT INTO notification_channels (care_centre_id, name, kind, target, secret)"
    " SELECT id, 'hook', 'webhook', 'http://127.0.0.1:9/hook', 'bench-webhook-secret' FROM care_centres",
    "INSERT INTO homes (id, care_centre_id, timezone)"
    " SELECT format('home-%%s', lpad(g::text, 5, '0')), 1 + g %% %(centres)s, 'Asia/Shanghai'"
    "   FROM generate_series(0, %(homes)s - 1) g",
    "INSERT INTO residents (home_id, full_name) SELECT id, 'Resident ' || id FROM homes ORDER BY id",
    # the still homes: one in 20, last moved at 16:30
    "CREATE TEMP TABLE last_move AS SELECT id AS home_id,"
    " CASE WHEN right(id, 2)::int %% 20 = 7 THEN %(still)s::timestamptz ELSE %(active)s::timestamptz END AS at FROM homes",
    "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at, battery_pct)"
    " SELECT h.id || '-' || d.suffix, h.id, d.kind, d.room, %(day)s::timestamptz - interval '90 days',"
    "        %(now)s::timestamptz - interval '1 minute' * (random() * 20), 40 + random() * 60"
    "   FROM homes h CROSS JOIN (VALUES ('m-bedroom', 'motion', 'bedroom'), ('m-bathroom', 'motion', 'bathroom'),"
    "        ('m-kitchen', 'motion', 'kitchen'), ('m-living_room', 'motion', 'living_room'), ('door', 'door', 'hallway'),"
    "        ('temp', 'temperature', 'living_room'), ('sos', 'sos_button', 'bedroom')) AS d (suffix, kind, room)",
    "INSERT INTO home_state (home_id, last_activity_at, last_motion_at, last_motion_room, last_door_at, last_door_state,"
    "                        gateway_state, gateway_state_at, last_heartbeat_at, queue_depth)"
    " SELECT home_id, at, at, 'living_room', %(day)s::timestamptz + interval '15 hours 1 minute', 'closed',"
    "        'online', %(day)s::timestamptz - interval '1 day', %(now)s::timestamptz - interval '2 minutes', 0"
    "   FROM last_move",
    # motion every 6 minutes from 07:00 until the home's last move, room to room
    "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
    " SELECT m.home_id, m.home_id || '-m-' || (%(rooms)s::text[])[1 + (extract(epoch FROM t)::bigint / 360) %% 4],"
    "        extract(epoch FROM t)::bigint, t, 'motion', 1, (%(rooms)s::text[])[1 + (extract(epoch FROM t)::bigint / 360) %% 4]"
    "   FROM generate_series(%(day)s::timestamptz + interval '7 hours', %(active)s::timestamptz, interval '6 minutes') t"
    "   JOIN last_move m ON t <= m.at"
    "  ORDER BY t, m.home_id",
    # the front door: open then closed a minute later, four times a day
    "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
    " SELECT h.id, h.id || '-door', extract(epoch FROM t)::bigint + o, t + interval '1 minute' * o, 'door_open', 1 - o, 'hallway'"
    "   FROM unnest(ARRAY[%(day)s::timestamptz + interval '8 hours', %(day)s::timestamptz + interval '10 hours 30 minutes',"
    "                     %(day)s::timestamptz + interval '13 hours', %(day)s::timestamptz + interval '15 hours']) t"
    "  CROSS JOIN generate_series(0, 1) o CROSS JOIN homes h"
    "  ORDER BY t, o, h.id",
    # a temperature every 15 minutes
    "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
    " SELECT h.id, h.id || '-temp', extract(epoch FROM t)::bigint, t, 'temperature_c', 20.5 + random(), 'living_room'"
    "   FROM generate_series(%(day)s::timestamptz, %(now)s::timestamptz, interval '15 minutes') t CROSS JOIN homes h"
    "  ORDER BY t, h.id",
    "ANALYZE",
)


def seed(db_url: str, homes: int) -> None:
    params = {
        "centres": CENTRES, "homes": homes, "rooms": list(ROOMS), "day": DAY, "now": NOW,
        "active": DAY + timedelta(hours=19, minutes=54), "still": DAY + timedelta(hours=16, minutes=30),
    }  # fmt: skip
    with psycopg.connect(db_url, autocommit=True) as conn:
        for statement in _SETUP:
            conn.execute(statement, params)
        row = conn.execute("SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM devices)").fetchone()
    assert row is not None
    print(f"seeded {homes:,} homes: {row[1]:,} devices, {row[0]:,} readings ({row[0] / homes:.0f} per home)")


# A share of the homes gets new input (what ingest does with each batch that brings a home data).
_MARK = "UPDATE home_state SET judge_pending = true WHERE random() < %s"


async def run(db_url: str, levels: list[int], passes: int, marked_shares: list[float]) -> None:
    settings: Settings = load_settings(
        database_url=db_url,
        db={"pool_min_size": max(levels) + 2, "pool_max_size": max(levels) + 2},
        alerts={"evaluation_interval_s": INTERVAL_S, "evaluation_mode": "every_home"},
    )
    logs.configure(level="warning", fmt="console")
    clock = FixedClock(NOW)
    times: dict[int, list[float]] = {level: [] for level in levels}
    cpu_share: dict[int, list[float]] = {level: [] for level in levels}  # this process's CPU / wall time
    async with open_pool(settings, name="bench-alerts-pass") as pool, httpx.AsyncClient() as http:
        await pool.wait(timeout=30)
        async with pool.connection() as conn:
            homes = len(await home_ids(conn))
        engines = {}
        for level in levels:
            cfg = settings.model_copy(update={"alerts": settings.alerts.model_copy(update={"evaluation_concurrency": level})})
            engines[level] = Engine(cfg, pool, clock, Senders(cfg.alerts, http), Metrics())
            assert engines[level].evaluation_concurrency == level

        async def one_pass(level: int) -> tuple[float, int, str]:
            clock.advance(timedelta(seconds=INTERVAL_S))
            engine = engines[level]
            before = engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0
            started, cpu = time.perf_counter(), time.process_time()
            outcome = await engine.evaluate_once()
            elapsed = time.perf_counter() - started
            cpu_share[level].append((time.process_time() - cpu) / elapsed)
            judged = (engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0) - before
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(outcome.opened).items()))
            return elapsed, int(judged), kinds or "none"

        # The first pass of all: routines learned, inactivity alerts opened (not the steady state).
        elapsed, judged, opened = await one_pass(levels[-1])
        print(
            f"first pass (concurrency {levels[-1]}): {elapsed * 1000:,.0f} ms for {judged:,} homes,"
            f" alerts opened: {opened}; routines learned"
        )
        for _ in range(passes + 1):  # round 0 warms every engine and its connections, not counted
            for level in levels:
                elapsed, judged, _opened = await one_pass(level)
                if judged != homes:
                    print(f"  warning: concurrency {level} judged {judged} of {homes} homes")
                times[level].append(elapsed)
        errors = sum(
            e.metrics.registry.get_sample_value("eldercare_alerts_loop_errors_total", {"loop": "home"}) or 0
            for e in engines.values()
        )
        report(times, cpu_share, homes, errors)
        await deadline_passes(settings, pool, http, clock, homes, max(levels), marked_shares)


async def deadline_passes(
    settings: Settings,
    pool: AsyncConnectionPool,
    http: httpx.AsyncClient,
    clock: FixedClock,
    homes: int,
    level: int,
    shares: list[float],
) -> None:
    """The same homes under deadline-driven judging: a pass judges only the homes with new input (a
    share of them marked, as ingest marks them) or whose moment of concern came."""
    alerts = settings.alerts.model_copy(update={"evaluation_concurrency": level, "evaluation_mode": "deadlines"})
    cfg = settings.model_copy(update={"alerts": alerts})
    engine = Engine(cfg, pool, clock, Senders(cfg.alerts, http), Metrics())
    print(f"deadline-driven passes (concurrency {level}), the same {homes:,} homes:")
    for share in shares:
        walls, cpus, counts = [], [], []
        for _ in range(3):
            clock.advance(timedelta(seconds=INTERVAL_S))
            async with pool.connection() as conn:
                await conn.execute(_MARK, (share,))
            before = engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0
            started, cpu = time.perf_counter(), time.process_time()
            await engine.evaluate_once()
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
            counts.append((engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0) - before)
        wall, cpu_s, judged = statistics.median(walls), statistics.median(cpus), statistics.median(counts)
        print(
            f"  {share:4.0%} of homes with new input: {wall * 1000:7,.0f} ms per pass, {judged:,.0f} judged,"
            f" engine CPU {cpu_s:.2f} s per pass ({cpu_s / INTERVAL_S:.1%} of a core at one pass per {INTERVAL_S:.0f} s)"
        )


def report(times: dict[int, list[float]], cpu_share: dict[int, list[float]], homes: int, errors: float) -> None:
    base = statistics.median(times[min(times)][1:])
    passes = len(times[min(times)]) - 1
    print(f"steady-state passes over {homes:,} homes, p50 of {passes} per level (min-max), {os.cpu_count()} CPUs:")
    for level, values in times.items():
        counted = values[1:]
        p50 = statistics.median(counted)
        rate = homes / p50
        print(
            f"  concurrency {level:>2}: {p50 * 1000:7,.0f} ms per pass ({min(counted) * 1000:,.0f}-{max(counted) * 1000:,.0f}),"
            f" {rate:6,.0f} homes/s, x{base / p50:.2f} vs 1;"
            f" engine CPU {statistics.median(cpu_share[level][1:]):4.0%} of a core;"
            f" {TARGET_HOMES:,} homes in {TARGET_HOMES / rate:5.1f} s (interval {TARGET_S:.0f} s)"
        )
    if errors:
        print(f"  warning: {errors:.0f} home evaluations failed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=2000)
    parser.add_argument("--passes", type=int, default=5, help="timed passes per concurrency level")
    parser.add_argument("--concurrency", default="1,2,4,8", help="comma-separated levels; the first is the baseline")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--marked", default="0,0.1,0.3", help="deadline-driven passes: comma-separated shares of homes with new input"
    )
    args = parser.parse_args(argv)
    levels = sorted({int(v) for v in args.concurrency.split(",")})
    try:
        shares = [float(v) for v in args.marked.split(",")]
    except ValueError:
        parser.error(f"--marked: comma-separated shares between 0 and 1, not {args.marked!r}")
    if any(not 0 <= share <= 1 for share in shares):
        parser.error("--marked: every share must be between 0 and 1")
    with fresh_database("bench_pass", keep=args.keep) as db_url:
        started = time.monotonic()
        seed(db_url, args.homes)
        print(f"  ({time.monotonic() - started:.1f} s)")
        asyncio.run(run(db_url, levels, args.passes, shares))


if __name__ == "__main__":
    main()
