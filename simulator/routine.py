"""A resident's daily routine, as a seeded, pure function of (seed, home, day).

A :class:`Profile` is drawn once per home (usual wake and bed times, how often they go out, how
many night bathroom trips). Each day is a list of :class:`Stay` (where the resident is, from when
to when), drawn from that day's own RNG, so day 17 of home 42 is the same whichever day the run
started on. :func:`emissions` turns stays into what the home's sensors report, in time order:
motion pulses and clears per room, bed pressure, the front door, the kettle, wearable activity.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from eldercare.contracts.payloads import Room

Place = Literal["bedroom", "bathroom", "kitchen", "living_room", "hallway", "bed", "out"]
Activity = Literal["walking", "sitting", "lying"]

MOTION_ROOMS: tuple[Room, ...] = (Room.BEDROOM, Room.BATHROOM, Room.KITCHEN, Room.LIVING_ROOM, Room.HALLWAY)
PIR_HOLD_S = 90.0  # a motion sensor reports "cleared" this long after the last motion it saw
KETTLE_W = 1850.0
KETTLE_ON_S = 180.0


@dataclass(frozen=True, slots=True)
class Profile:
    """What is usual for one resident; drawn once per home from the run's seed."""

    wake_s: float  # seconds after local midnight
    bed_s: float
    night_trips: float  # mean bathroom trips per night
    out_probability: float  # chance of a morning outing on a given day
    pulse_every_s: float  # mean gap between motion pulses while in a room
    base_temperature_c: float

    @classmethod
    def draw(cls, rng: random.Random) -> Profile:
        return cls(
            wake_s=rng.uniform(5.5, 7.75) * 3600,
            bed_s=rng.uniform(21.0, 23.0) * 3600,
            night_trips=rng.uniform(0.3, 2.0),
            out_probability=rng.uniform(0.3, 0.8),
            pulse_every_s=rng.uniform(240, 600),
            base_temperature_c=rng.uniform(19.5, 23.0),
        )


@dataclass(frozen=True, slots=True)
class Stay:
    start: datetime
    end: datetime
    place: Place


# What a sensor reports. Small tuples keep thousands of homes cheap.
@dataclass(frozen=True, slots=True)
class Motion:
    room: Room
    on: bool


@dataclass(frozen=True, slots=True)
class Door:
    open: bool


@dataclass(frozen=True, slots=True)
class Bed:
    occupied: bool


@dataclass(frozen=True, slots=True)
class Power:
    watts: float


@dataclass(frozen=True, slots=True)
class Wear:
    """One minute (``seconds``) of wearable signal of the given kind, ending at the emission time."""

    activity: Activity
    seconds: float


Emission = Motion | Door | Bed | Power | Wear
_Add = Callable[[datetime, Emission], None]


def home_rng(seed: int, home_index: int, day: date | None = None, salt: str = "") -> random.Random:
    """A RNG that depends only on (seed, home, day, salt): runs are reproducible and independent."""
    day_part = day.toordinal() if day is not None else -1
    return random.Random(f"{seed}:{home_index}:{day_part}:{salt}")


def _at(day: date, seconds: float, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone) + timedelta(seconds=seconds)


def wake_time(profile: Profile, rng: random.Random, day: date, zone: ZoneInfo) -> datetime:
    """The day's wake-up: the first draw of the day's RNG (see :func:`day_stays`)."""
    return _at(day, profile.wake_s + rng.gauss(0, 1200), zone)


def day_stays(profile: Profile, rng: random.Random, day: date, zone: ZoneInfo, next_wake: datetime | None = None) -> list[Stay]:
    """Stays from this day's wake-up to the next day's wake-up (the night belongs to this day).

    ``next_wake`` is the next day's own wake-up (:func:`wake_time` of its RNG), so that the night ends
    when that day begins; without it, a wake-up is drawn here, and a night that ends after the next
    day's own wake-up would swallow that morning's bathroom visit and breakfast."""
    wake = wake_time(profile, rng, day, zone)
    bed = _at(day, profile.bed_s + rng.gauss(0, 1500), zone)
    drawn_wake = _at(day + timedelta(days=1), profile.wake_s, zone) + timedelta(seconds=rng.gauss(0, 1200))
    next_wake = next_wake or drawn_wake  # drawn either way: the day's later draws stay as they were
    anchors: list[tuple[datetime, float, Place]] = [
        (wake, rng.uniform(300, 900), "bathroom"),
        (wake + timedelta(seconds=rng.uniform(900, 1800)), rng.uniform(1200, 2400), "kitchen"),
        (_at(day, 12 * 3600 + rng.gauss(0, 1200), zone), rng.uniform(1500, 2700), "kitchen"),
        (_at(day, 18 * 3600 + rng.gauss(0, 1500), zone), rng.uniform(1800, 3000), "kitchen"),
        (bed - timedelta(seconds=rng.uniform(600, 900)), rng.uniform(300, 600), "bathroom"),
    ]
    if rng.random() < profile.out_probability:
        anchors.append((_at(day, rng.uniform(9.0, 10.5) * 3600, zone), rng.uniform(2700, 9000), "out"))
    if rng.random() < profile.out_probability / 2:
        anchors.append((_at(day, rng.uniform(14.5, 16.0) * 3600, zone), rng.uniform(1800, 5400), "out"))
    for hour in (10.8, 13.8, 16.5, 20.0):  # daytime bathroom visits, if the slot is free
        anchors.append((_at(day, hour * 3600 + rng.gauss(0, 1800), zone), rng.uniform(180, 600), "bathroom"))
    stays = _fill_day(sorted(anchors), wake, bed)
    stays.extend(_night(profile, rng, bed, next_wake))
    return stays


def _fill_day(anchors: list[tuple[datetime, float, Place]], wake: datetime, bed: datetime) -> list[Stay]:
    """Anchors in time order (overlapping ones dropped), the gaps spent in the living room."""
    stays: list[Stay] = []
    cursor = wake
    for start, duration, place in anchors:
        start = max(start, cursor)
        end = start + timedelta(seconds=duration)
        if end > bed:
            continue
        if start > cursor:
            stays.append(Stay(cursor, start, "living_room"))
        stays.append(Stay(start, end, place))
        cursor = end
    if cursor < bed:
        stays.append(Stay(cursor, bed, "living_room"))
    return stays


def _night(profile: Profile, rng: random.Random, bed: datetime, next_wake: datetime) -> list[Stay]:
    night_s = (next_wake - bed).total_seconds()
    trips = sorted(rng.uniform(0.1, 0.9) * night_s for _ in range(_poisson(rng, profile.night_trips)))
    stays: list[Stay] = []
    cursor = bed
    for offset in trips:
        start = bed + timedelta(seconds=offset)
        if start <= cursor:
            continue
        end = start + timedelta(seconds=rng.uniform(240, 600))
        stays.append(Stay(cursor, start, "bed"))
        stays.append(Stay(start, end, "bathroom"))
        cursor = end
    stays.append(Stay(cursor, max(next_wake, cursor + timedelta(minutes=30)), "bed"))
    return stays


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def stays_from(profile: Profile, seed: int, home_index: int, start: datetime, zone: ZoneInfo) -> Iterator[Stay]:
    """Every stay overlapping ``start`` onwards, forever, day after day."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_end = start
    while True:
        next_day = day + timedelta(days=1)
        next_wake = wake_time(profile, home_rng(seed, home_index, next_day), next_day, zone)
        for stay in day_stays(profile, home_rng(seed, home_index, day), day, zone, next_wake):
            if stay.end <= start:
                continue
            # Days are drawn independently: trim the seam so stays never overlap.
            begin = max(stay.start, last_end, start)
            if stay.end > begin:
                yield Stay(begin, stay.end, stay.place)
                last_end = stay.end
        day += timedelta(days=1)


def stay_emissions(stay: Stay, profile: Profile, rng: random.Random) -> Iterator[tuple[datetime, Emission]]:
    """What the sensors report during one stay, in time order."""
    events: list[tuple[datetime, int, Emission]] = []
    order = 0

    def add(at: datetime, emission: Emission) -> None:
        nonlocal order
        if stay.start <= at < stay.end:
            events.append((at, order, emission))
            order += 1

    s = timedelta(seconds=1)
    if stay.place == "out":
        add(stay.start, Motion(Room.HALLWAY, True))
        add(stay.start + 5 * s, Door(True))
        add(stay.start + 25 * s, Door(False))
        back = stay.end - 60 * s
        add(back, Door(True))
        add(back + 20 * s, Door(False))
        add(back + 25 * s, Motion(Room.HALLWAY, True))
    elif stay.place == "bed":
        add(stay.start, Motion(Room.BEDROOM, True))
        add(stay.start + 30 * s, Bed(True))
        add(stay.end - 20 * s, Bed(False))
        add(stay.end - 10 * s, Motion(Room.BEDROOM, True))
    else:
        room = Room(stay.place)
        _pulses(stay, room, profile, rng, add)
        if stay.place == "kitchen":
            boil = stay.start + timedelta(seconds=rng.uniform(60, 300))
            add(boil, Power(KETTLE_W))
            add(boil + KETTLE_ON_S * s, Power(0.0))
    if stay.place not in ("bed", "out"):
        _wear(stay, add)
    events.sort(key=lambda e: (e[0], e[1]))
    for at, _, emission in events:
        yield at, emission


def _pulses(stay: Stay, room: Room, profile: Profile, rng: random.Random, add: _Add) -> None:
    pulse = stay.start
    while pulse < stay.end:
        gap = rng.expovariate(1.0 / profile.pulse_every_s)
        add(pulse, Motion(room, True))
        clear = pulse + timedelta(seconds=PIR_HOLD_S)
        if gap > PIR_HOLD_S or pulse + timedelta(seconds=gap) >= stay.end:
            add(min(clear, stay.end - timedelta(seconds=1)), Motion(room, False))
        pulse += timedelta(seconds=max(gap, 30.0))


def _wear(stay: Stay, add: _Add) -> None:
    """A minute of wearable signal per minute at home and awake: walking first, then sitting."""
    minute = stay.start + timedelta(seconds=60)
    first = True
    while minute <= stay.end:
        add(minute - timedelta(microseconds=1), Wear("walking" if first else "sitting", 60.0))
        first = False
        minute += timedelta(seconds=60)


def routine(profile: Profile, seed: int, home_index: int, start: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, Emission]]:
    """Every emission of the home from ``start`` on, in time order, forever."""
    for stay in stays_from(profile, seed, home_index, start, zone):
        rng = home_rng(seed, home_index, None, f"stay{stay.start.timestamp():.0f}")
        for at, emission in stay_emissions(stay, profile, rng):
            if at >= start:
                yield at, emission


def temperature_at(profile: Profile, moment: datetime, zone: ZoneInfo, rng: random.Random) -> float:
    """Room temperature: the home's base, a degree cooler at night, a little noise."""
    local = moment.astimezone(zone)
    hour = local.hour + local.minute / 60
    night = 1.0 if hour < 6 or hour >= 23 else 0.0
    return round(profile.base_temperature_c - 1.2 * night + rng.gauss(0, 0.15), 1)


def merge(*streams: Iterator[tuple[datetime, Emission]]) -> Iterator[tuple[datetime, Emission]]:
    """Several time-ordered streams as one (stable for equal times)."""
    return heapq.merge(*streams, key=lambda item: item[0])
