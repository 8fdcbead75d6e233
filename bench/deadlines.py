"""Deadline-driven judging against judging every home every pass: same alerts, and what each costs.

    python -m bench.deadlines [--homes 6] [--days 7] [--history-days 14] [--seed 3]

Two fresh databases (plain PostgreSQL from ``EC_TEST_PG_ADMIN_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), each with the same ``--history-days`` of
simulated history (routines and meal habits are learned from it), then the same ``--days`` replayed
through ingest's Store and the engine on 30-s steps (tests/support/replay.py), once per
``alerts.evaluation_mode``. Incidents are cut into the routine so that rules fire: each day one
home in three goes silent from 10:00 until the next morning, another's thermometer stops at 09:00
for the day, another's front door stays open after its first opening of the day (which home does
what rotates with the day).

It prints the alerts of each mode (counts per kind), whether alerts and their history are
identical (they must be), the number of home judgements and the CPU seconds of each replay (this
process: the engine and ingest's Python), and their ratios. It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from eldercare import logs
from eldercare.config import Settings, load_settings
from eldercare.db.migrate import migrate
from simulator.backfill import EventRow, ReadingRow, backfill, home_history
from tests.support.replay import Replayed, messages_of, online, replay

ADMIN_URL = os.environ.get("EC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ZONE = ZoneInfo("Asia/Shanghai")


def _day_script(
    index: int, day: int, start: datetime, readings: list[ReadingRow], events: list[EventRow]
) -> tuple[list[ReadingRow], list[EventRow]]:
    """One day of one home, with that day's incident (if any) cut in."""
    role = (index + day) % 3
    day_start = start + timedelta(days=day)
    if role == 0:  # silent from 10:00 until the next morning's 06:00
        quiet, back = day_start.replace(hour=10), day_start + timedelta(days=1)
        return [r for r in readings if not quiet <= r[3] < back], [e for e in events if not quiet <= e[3] < back]
    if role == 1:  # the thermometer stops at 09:00 for the day
        stopped, back = day_start.replace(hour=9), day_start + timedelta(days=1)
        return [r for r in readings if not (r[4] == "temperature_c" and stopped <= r[3] < back)], events
    today = [r[3] for r in readings if r[4] == "door_open" and r[5] == 1 and day_start <= r[3] < day_start + timedelta(days=1)]
    if not today:
        return readings, events
    opened, back = min(today), day_start + timedelta(days=1)
    return (
        [r for r in readings if not (r[4] == "door_open" and opened < r[3] < back)],
        [e for e in events if not (e[4] == "door" and opened < e[3] < back)],
    )


async def _run(settings: Settings, *, homes: int, days: int, history_days: int, start: datetime) -> Replayed:
    await backfill(settings, days=history_days, end=start, homes=homes)
    sim = settings.simulator
    ids = [f"{sim.home_prefix}-{i:05d}" for i in range(homes)]
    messages = online(ids, start)
    for index, home_id in enumerate(ids):
        for day in range(days):
            day_start = start + timedelta(days=day)
            readings, events = home_history(home_id, index, sim.seed, ZONE, day_start, day_start + timedelta(days=1))
            messages += messages_of(*_day_script(index, day, start, readings, events))
    return await replay(settings, messages, start=start, end=start + timedelta(days=days))


def _database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    migrate(url, timescaledb="off")
    return url


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def main_async(args: argparse.Namespace) -> None:
    start = datetime(2026, 3, 9, 6, 0, tzinfo=ZONE)  # a Monday morning
    results: dict[str, Replayed] = {}
    for mode in ("every_home", "deadlines"):
        name = f"bench_deadlines_{mode}_{uuid.uuid4().hex[:8]}"
        url = _database(name)
        try:
            settings = load_settings(
                database_url=url,
                log_level="warning",
                simulator={"timezone": str(ZONE), "seed": args.seed},
                alerts={"evaluation_mode": mode},
                db={"timescaledb": "off"},
            )
            results[mode] = await _run(settings, homes=args.homes, days=args.days, history_days=args.history_days, start=start)
        finally:
            _drop(name)
    every, deadlines = results["every_home"], results["deadlines"]
    print(f"{args.homes} homes, {args.days} days replayed on 30-s steps ({every.steps} steps), seed {args.seed}")
    for mode, replayed in results.items():
        kinds = Counter(kind for _, kind, *_ in replayed.alerts)
        print(f"  {mode:<10}  alerts {len(replayed.alerts):>4} {dict(sorted(kinds.items()))}")
        print(f"  {'':<10}  judgements {replayed.evaluations:>8,}   CPU {replayed.cpu_s:8.1f} s")
    print(f"  identical alerts: {deadlines.alerts == every.alerts}; identical history: {deadlines.history == every.history}")
    for name, theirs, ours in (("alert", every.alerts, deadlines.alerts), ("history", every.history, deadlines.history)):
        for row in sorted(set(theirs) - set(ours)):
            print(f"    {name} only judging every home: {row}")
        for row in sorted(set(ours) - set(theirs)):
            print(f"    {name} only deadline-driven:   {row}")
    print(
        f"  deadlines / every_home: judgements {deadlines.evaluations / every.evaluations:.3f},"
        f" CPU {deadlines.cpu_s / every.cpu_s:.3f} (CPU includes ingest's writes and each step's inbox and fall checks)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=6, help="simulated homes (default 6)")
    parser.add_argument("--days", type=int, default=7, help="days replayed (default 7)")
    parser.add_argument("--history-days", type=int, default=14, help="days of history before them (default 14)")
    parser.add_argument("--seed", type=int, default=3, help="the simulator's seed (default 3)")
    args = parser.parse_args()
    logs.configure("warning", "console")
    if args.homes < 1 or args.days < 1 or args.history_days < 0:
        parser.error("--homes and --days must be at least 1, --history-days at least 0")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
