"""Synthetic residents for the inactivity tests (seeded, so failures reproduce).

One day: asleep from 23:00 (a bathroom trip about 03:00), up about 07:00 (on weekends about 09:00
when ``weekend_lie_in``), busy in the kitchen, bathroom and living room by day, out 10:00-11:00,
TV in the living room 19:00-21:00 with quiet spells of ``tv_quiet_min`` minutes, bed at 23:00.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.inactivity import ActivityEvent

TZ = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2024, 3, 4)  # a Monday


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """Local time on the ``day``-th day of the synthetic history."""
    d = FIRST_DAY + timedelta(days=day)
    return datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=TZ)


def motion(moment: datetime, area: str, device: str | None = None) -> ActivityEvent:
    return ActivityEvent(moment, "motion", area, device)


def door(moment: datetime) -> list[ActivityEvent]:
    return [ActivityEvent(moment, "door_open", "entry"), ActivityEvent(moment + timedelta(seconds=15), "door_close", "entry")]


@dataclass(frozen=True)
class Resident:
    bed_sensor: bool = False
    weekend_lie_in: bool = False
    tv_quiet_min: tuple[int, int] = (20, 50)
    rooms: tuple[str, ...] = ("kitchen", "living_room", "bathroom")
    away_days: tuple[int, ...] = ()  # out from 09:30 that day until 09:00 the day after the last one

    def day(self, rng: random.Random, day: int) -> list[ActivityEvent]:
        events: list[ActivityEvent] = []
        if self.bed_sensor:
            events.append(ActivityEvent(at(day - 1, 23, 5), "bed_in", "bedroom", "mat"))
            events.append(ActivityEvent(at(day, 3, rng.randint(0, 10)), "bed_out", "bedroom", "mat"))
        events.append(motion(at(day, 3, rng.randint(12, 18)), "bathroom"))
        events.append(motion(at(day, 3, 22), "bedroom"))
        if self.bed_sensor:
            events.append(ActivityEvent(at(day, 3, 24), "bed_in", "bedroom", "mat"))
        weekend = at(day, 12).weekday() >= 5
        wake = at(day, 9 if weekend and self.weekend_lie_in else 7, rng.randint(0, 20))
        events.append(motion(wake - timedelta(minutes=30), "bedroom"))
        if self.bed_sensor:
            events.append(ActivityEvent(wake - timedelta(minutes=1), "bed_out", "bedroom", "mat"))
        for i, area in enumerate(["bedroom", "bathroom", "kitchen", "living_room", "kitchen"]):
            if area in self.rooms or area == "bedroom":
                events.append(motion(wake + timedelta(minutes=4 * i), area))
        events += self._waking_hours(rng, day, wake + timedelta(minutes=25))
        events.append(motion(at(day, 22, rng.randint(45, 55)), "bedroom"))
        return events

    def _waking_hours(self, rng: random.Random, day: int, moment: datetime) -> list[ActivityEvent]:
        events: list[ActivityEvent] = []
        while moment < at(day, 22, 30):
            if moment.hour == 10 and not (moment.weekday() >= 5 and self.weekend_lie_in):
                events += [motion(moment, "entry"), *door(moment + timedelta(seconds=30))]
                moment = at(day, 11, rng.randint(0, 10))
                events += [*door(moment), motion(moment + timedelta(seconds=40), "entry")]
                moment += timedelta(minutes=1)
                continue
            tv = moment.hour in (19, 20) and "living_room" in self.rooms
            area = "living_room" if tv else rng.choice(self.rooms)
            events.append(motion(moment, area))
            moment += timedelta(minutes=rng.randint(*self.tv_quiet_min) if tv else rng.randint(1, 8))
        return events

    def history(self, days: int, seed: int = 7) -> list[ActivityEvent]:
        rng = random.Random(seed)
        events: list[ActivityEvent] = []
        for day in range(days):
            today = self.day(rng, day)
            if day in self.away_days:
                if day - 1 not in self.away_days:  # leaves this morning
                    events += [e for e in today if e.at < at(day, 9)] + door(at(day, 9, 30))
                continue
            if day - 1 in self.away_days:  # back this morning
                today = [*door(at(day, 9)), *(e for e in today if e.at > at(day, 9, 1))]
            events += today
        return sorted((e for e in events if e.at >= at(0, 0)), key=ActivityEvent.order)
