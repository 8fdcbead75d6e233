"""Device liveness over an ordinary simulated week: false ``device_offline`` before and after the
learned reporting rhythm, and how soon a pulled battery is found.

    python -m bench.liveness [--homes 50] [--days 7] [--seed 1]

Each home's devices report as the simulator's do (simulator/home.py): every change of state of
the resident's routine (simulator.routine: motion, door, bed, kettle, wearable), the thermometer
every 10 min, and each device's own periodic report on its make's rhythm (simulator.reporting:
Aqara heartbeats every 50-60 min, zigbee2mqtt-configured battery reports every 17.2 h, mains
hourly). Every 5 min (the gateway's heartbeat) what each device last said goes through ingest's
own ``UPDATE_DEVICES`` into a fresh database (see bench/databases.py), which learns each device's
rhythm; then every device is judged twice:

- before: the fixed limit this change replaced (silent more than ``devices.offline_after_s``, 2 h);
- after: :meth:`alerts.rules.DeviceInfo.offline` (its own rhythm or its kind's default).

One battery device per home has its battery pulled at a random moment of the last two days: from
then on it is truly dead, and the bench reports how long after its last report each rule found it.
It prints the figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from alerts.rules import DeviceInfo
from bench.databases import fresh_database
from eldercare.domain.rule_settings import DEFAULT_RULES
from ingest import sql
from ingest.rows import DeviceUpdate
from ingest.store import _update_devices
from simulator.home import BATTERY_DEVICES, HAZARD_KIT, KETTLE, MAINS_DEVICES, TEMPERATURE_EVERY_S, THERMOMETER
from simulator.radar import RADAR, RADAR_ROOM, Radar, has_radar
from simulator.reporting import kit_rhythms
from simulator.routine import Bed, Door, Motion, Power, Profile, Wear, home_rng, routine

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 0, 0, tzinfo=ZONE)  # a Monday
TICK_S = 300.0  # the gateway's heartbeat
FLOOR_S = float(DEFAULT_RULES.devices.offline_after_s)
KINDS = {
    "radar": "presence",
    "pir": "motion",
    "door": "door",
    "bed": "bed",
    "wearable": "wearable",
    "sos": "sos_button",
    "plug": "plug",
}


def kind_of(device: str) -> str:
    if device in HAZARD_KIT:
        return HAZARD_KIT[device][0].value
    return "temperature" if device == THERMOMETER else KINDS[device.split("-")[0]]


@dataclass
class Home:
    home_id: str
    reports: dict[str, list[datetime]]  # device -> its report times, sorted
    pulled: tuple[str, datetime] | None = None


def device_of(emission: object) -> str | None:
    if isinstance(emission, Motion):
        return f"pir-{emission.room.value}"
    if isinstance(emission, Door):
        return "door-entry"
    if isinstance(emission, Bed):
        return "bed-1"
    if isinstance(emission, Power):
        return KETTLE
    if isinstance(emission, Wear):
        return "wearable-1"
    return None


def build_home(seed: int, index: int, end: datetime) -> Home:
    reports: dict[str, list[datetime]] = defaultdict(list)
    profile = Profile.draw(home_rng(seed, index, None, "profile"))
    radar = Radar(RADAR_ROOM) if has_radar(seed, index, ()) else None  # simulator.radar: presence as she moves
    for at, emission in routine(profile, seed, index, START, ZONE):
        if at >= end:
            break
        device = device_of(emission)
        if device is not None:
            reports[device].append(at)
        if radar is not None and isinstance(emission, Motion) and radar.seen(emission.room, emission.on) is not None:
            reports[RADAR].append(at)
    jitter = random.Random(f"{seed}:{index}:jitter")
    mains = (*MAINS_DEVICES, RADAR) if radar else MAINS_DEVICES
    for device, rhythm in kit_rhythms(seed, index, BATTERY_DEVICES, mains).items():
        at = rhythm.first_after(START, jitter)
        while at < end:
            reports[device].append(at)
            at = rhythm.next_after(at, jitter)
    reports[THERMOMETER] += list(_every(START, end, TEMPERATURE_EVERY_S))
    home = Home(f"sim-{index:04d}", {d: sorted(times) for d, times in reports.items()})
    pick = random.Random(f"{seed}:{index}:pull")
    device = pick.choice(sorted(d for d in BATTERY_DEVICES if d in home.reports))
    home.pulled = (device, end - timedelta(days=2) + timedelta(seconds=pick.uniform(0, 86_400)))
    return home


def _every(start: datetime, end: datetime, step_s: float) -> Iterator[datetime]:
    at = start
    while at < end:
        yield at
        at += timedelta(seconds=step_s)


@dataclass
class Tally:
    episodes: int = 0  # alive devices going offline
    home_episodes: int = 0  # homes going into a false device_offline
    motion_hours: float = 0.0  # hours of welfare checks suspended by an alive motion sensor called offline
    offline: set[str] = field(default_factory=set)
    homes: set[str] = field(default_factory=set)
    found: dict[str, float] = field(default_factory=dict)  # pulled device -> silence (s) when found


def last_report(home: Home, device: str, now: datetime) -> datetime | None:
    if home.pulled is not None and home.pulled[0] == device:
        now = min(now, home.pulled[1] - timedelta(microseconds=1))
    times = home.reports[device]
    index = bisect.bisect_right(times, now)
    return times[index - 1] if index else None


def judge(
    devices: list[DeviceInfo], homes: dict[str, Home], owner: dict[str, str], now: datetime, rule: str, tally: Tally
) -> None:
    offline_now: set[str] = set()
    false_homes: set[str] = set()
    for device in devices:
        silent = (now - device.last_seen_at).total_seconds()
        is_offline = silent > FLOOR_S if rule == "before" else device.offline(now, FLOOR_S)
        home = homes[owner[device.id]]
        pulled = home.pulled is not None and home.pulled[0] == device.id.split(":", 1)[1] and now >= home.pulled[1]
        if pulled:
            if is_offline and device.id not in tally.found:
                tally.found[device.id] = silent
            continue
        if is_offline:
            offline_now.add(device.id)
            false_homes.add(home.home_id)
            if device.kind == "motion":
                tally.motion_hours += TICK_S / 3600
    tally.episodes += len(offline_now - tally.offline)
    tally.home_episodes += len(false_homes - tally.homes)
    tally.offline, tally.homes = offline_now, false_homes


async def run(homes: list[Home], end: datetime, db_url: str) -> tuple[Tally, Tally, dict[str, float]]:
    owner = {f"{h.home_id}:{d}": h.home_id for h in homes for d in h.reports}
    by_id = {h.home_id: h for h in homes}
    before, after = Tally(), Tally()
    limits: dict[str, float] = {}
    seen: dict[str, datetime] = {}
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        for tick in _every(START + timedelta(seconds=TICK_S), end, TICK_S):
            updates = _updates(homes, tick, seen)
            async with conn.cursor() as cur:
                await _register(cur, updates)
                await _update_devices(cur, updates)
            devices = await _devices(conn)
            judge(devices, by_id, owner, tick, "before", before)
            judge(devices, by_id, owner, tick, "after", after)
        for device in await _devices(conn):
            limits[device.id] = device.silence_limit_s(FLOOR_S)
    return before, after, limits


def _updates(homes: list[Home], tick: datetime, seen: dict[str, datetime]) -> list[DeviceUpdate]:
    updates = []
    for home in homes:
        for device in home.reports:
            at = last_report(home, device, tick)
            key = f"{home.home_id}:{device}"
            if at is None or seen.get(key) == at:
                continue
            seen[key] = at
            update = DeviceUpdate(key, home.home_id, kind_of(device), first_seen_at=at)
            update.saw(at, None)
            updates.append(update)
    return updates


async def _register(cur: psycopg.AsyncCursor[tuple[object, ...]], updates: list[DeviceUpdate]) -> None:
    if updates:
        columns = ([u.device_id for u in updates], [u.home_id for u in updates], [u.kind for u in updates])
        await cur.execute(sql.REGISTER_DEVICES, (*columns, [None] * len(updates), [u.first_seen_at for u in updates]))


async def _devices(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> list[DeviceInfo]:
    query = (
        "SELECT id, kind, room, last_seen_at, battery_pct, NULL, NULL, NULL, NULL, usual_gap_s, gaps_learned, first_seen_at"
        " FROM devices"
    )
    async with conn.cursor() as cur:
        await cur.execute(query)
        return [DeviceInfo(*row) for row in await cur.fetchall()]  # type: ignore[arg-type]


def seed_homes(db_url: str, homes: list[Home]) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO care_centres (name) VALUES ('bench') RETURNING id").fetchone()
        assert row is not None
        for home in homes:
            conn.execute("INSERT INTO homes (id, care_centre_id) VALUES (%s, %s)", (home.home_id, row[0]))


def report(before: Tally, after: Tally, homes: list[Home], limits: dict[str, float], days: int) -> None:
    devices = sum(len(h.reports) for h in homes)
    print(f"{len(homes)} homes, {devices} devices, {days} simulated days, judged every {TICK_S:.0f} s")
    for name, tally in (("before (fixed 2 h)", before), ("after (learned rhythm)", after)):
        print(
            f"{name}: false device_offline {tally.home_episodes} home alerts, {tally.episodes} device episodes; "
            f"welfare checks wrongly suspended {tally.motion_hours:.0f} motion-sensor hours; "
            f"pulled batteries found {len(tally.found)}/{len(homes)}"
        )
    by_kind: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for home in homes:
        assert home.pulled is not None
        key = f"{home.home_id}:{home.pulled[0]}"
        if key in after.found:
            by_kind[kind_of(home.pulled[0])].append((after.found[key], limits[key]))
    for kind, pairs in sorted(by_kind.items()):
        found = [f / 3600 for f, _ in pairs]
        within = sum(1 for f, limit in pairs if f <= limit + TICK_S)
        print(
            f"  pulled {kind}: {len(pairs)} found after {statistics.median(found):.1f} h median, {max(found):.1f} h max "
            f"of silence; {within}/{len(pairs)} within the device's bound (+ one heartbeat)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homes", type=int, default=50)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    end = START + timedelta(days=args.days)
    homes = [build_home(args.seed, index, end) for index in range(args.homes)]
    with fresh_database("bench_liveness") as db_url:
        seed_homes(db_url, homes)
        before, after, limits = asyncio.run(run(homes, end, db_url))
    report(before, after, homes, limits, args.days)


if __name__ == "__main__":
    main()
