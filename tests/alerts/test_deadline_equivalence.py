"""The deadline-driven pass judges exactly what judging every home every pass judges.

Two copies of the same homes (a fortnight of simulated history, so routines and meal habits are
learned), the same morning and early afternoon replayed through the real ingest store and the real
engine on the same 30-s steps (tests/support/replay.py): once judging every home every pass, once
judging only the homes whose next moment of concern came or that have new input. Incidents are cut
into the routine so that rules fire: a resident silent from 10:00 (inactivity, or not up), a front
door that never closes again (door left open, then more), a thermometer that stops reporting
(device offline). The alerts, their times and their whole history must be identical; the
deadline-driven engine must judge far fewer homes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from eldercare.config import Settings
from simulator.backfill import EventRow, ReadingRow, backfill, home_history
from tests.support.databases import DatabaseFactory
from tests.support.replay import Replayed, messages_of, online, replay

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 10, 6, 0, tzinfo=ZONE)
END = datetime(2026, 3, 10, 14, 0, tzinfo=ZONE)
HOMES = 3


def _scripted(index: int, readings: list[ReadingRow], events: list[EventRow]) -> tuple[list[ReadingRow], list[EventRow]]:
    """Home 0 goes silent at 10:00; home 1's thermometer stops at 09:00; home 2's front door stays
    open after its first opening (seed 3: 10:11)."""
    if index == 0:
        quiet = START.replace(hour=10)
        return [r for r in readings if r[3] < quiet], [e for e in events if e[3] < quiet]
    if index == 1:
        stopped = START.replace(hour=9)
        return [r for r in readings if not (r[4] == "temperature_c" and r[3] >= stopped)], events
    opened = min((r[3] for r in readings if r[4] == "door_open" and r[5] == 1), default=None)
    assert opened is not None, "the routine opens the front door in the morning"
    return (
        [r for r in readings if not (r[4] == "door_open" and r[3] > opened)],
        [e for e in events if not (e[4] == "door" and e[3] > opened)],
    )


async def _run(settings: Settings) -> Replayed:
    await backfill(settings, days=14, end=START, homes=HOMES)
    sim = settings.simulator
    ids = [f"{sim.home_prefix}-{i:05d}" for i in range(HOMES)]
    messages = online(ids, START)
    for index, home_id in enumerate(ids):
        readings, events = home_history(home_id, index, sim.seed, ZONE, START, END)
        messages += messages_of(*_scripted(index, readings, events))
    return await replay(settings, messages, start=START, end=END)


async def test_deadline_driven_judging_raises_exactly_what_judging_every_home_raises(
    db_url: str, databases: DatabaseFactory, make_settings: Callable[..., Settings]
) -> None:
    other_url = databases.clone()
    try:
        common = {"simulator": {"timezone": "Asia/Shanghai", "seed": 3}, "log_level": "warning"}
        every = await _run(make_settings(alerts={"evaluation_mode": "every_home"}, **common))
        deadlines = await _run(make_settings(database_url=other_url, alerts={"evaluation_mode": "deadlines"}, **common))
    finally:
        databases.drop(other_url)
    kinds = {(home, kind) for home, kind, *_ in every.alerts}
    assert {kind for _, kind in kinds} >= {"door_left_open", "device_offline"}, every.alerts
    assert any(kind in {"inactivity", "not_up"} for _, kind in kinds), every.alerts
    assert deadlines.alerts == every.alerts
    assert deadlines.history == every.history
    assert every.evaluations == HOMES * every.steps
    assert deadlines.evaluations < every.evaluations / 2, (deadlines.evaluations, every.evaluations)
