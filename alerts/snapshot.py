"""Loading what the periodic rules read about one home, and the resident's learned routine.

Detection state is recomputed from stored data (home_state, devices, readings, events, alerts,
absences, routine_models), so a restarted engine, or another copy, judges exactly the same.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.context import HomeContext
from alerts.inactivity import ActivityEvent, RoutineModel, learn_routine
from alerts.meals import MealHabit, learn_meals
from alerts.presence import PresenceReport
from alerts.rules import DeviceInfo, HomeSnapshot, TemperatureWindow, inactivity_settings
from eldercare import logs

log = logs.get("alerts")

# The inactivity rule needs the last 24 h and the morning's events; a little more is harmless. A
# home silent for longer is read from a little before its last activity instead, so that a long
# absence is still judged from the door event that began it.
EVENT_WINDOW = timedelta(hours=30)
_BEFORE_LAST_ACTIVITY = timedelta(hours=6)

_DEVICES = """
SELECT id, kind, room, last_seen_at, battery_pct, battery_low, tamper, availability, availability_at, usual_gap_s, gaps_learned,
       first_seen_at
  FROM devices WHERE home_id = %s ORDER BY id
"""
# Activity as the inactivity rule sees it (alerts.inactivity.events), from readings and events,
# because a gateway may report presence and doors either way:
# - motion, presence detected: motion in the device's room (a radar's presence only when it starts:
#   a gateway repeating "detected" over a still person is not reporting movement);
# - a door contact in the entry or hallway (or without a room) is the home's outer door; in any
#   other room it is a cupboard, a fridge or an inner door: someone used it, motion there;
# - a bed mat getting occupied / vacated (a change of state): bed_in / bed_out. Repeated
#   bed_occupied readings are not activity: a mat may repeat "occupied" under someone who no
#   longer moves;
# - a plug whose power rises above 5 W: an appliance switched on (switching off may be a timer).
_ACTIVITY = """
SELECT ts, CASE WHEN metric = 'motion' OR coalesce(room, 'entry') NOT IN ('entry', 'hallway') THEN 'motion'
                WHEN value > 0 THEN 'door_open' ELSE 'door_close' END AS kind,
       room, device_id
  FROM readings
 WHERE home_id = %(home)s AND ts > %(since)s AND ts <= %(now)s
   AND metric IN ('motion', 'door_open') AND (metric = 'door_open' OR value > 0)
UNION ALL
SELECT ts, 'appliance', room, device_id
  FROM (SELECT ts, room, device_id, value, lag(value) OVER (PARTITION BY device_id ORDER BY ts) AS before
          FROM readings
         WHERE home_id = %(home)s AND ts > %(since)s AND ts <= %(now)s AND metric = 'power_w') AS power
 WHERE value > 5 AND before <= 5
UNION ALL
SELECT ts,
       CASE WHEN type = 'presence' THEN 'motion'
            WHEN type = 'bed' THEN CASE WHEN data->>'state' = 'occupied' THEN 'bed_in' ELSE 'bed_out' END
            WHEN coalesce(room, 'entry') NOT IN ('entry', 'hallway') THEN 'motion'
            WHEN data->>'state' = 'open' THEN 'door_open' ELSE 'door_close' END,
       room, device_id
  FROM (SELECT ts, type, room, device_id, data,
               lag(data->>'state') OVER (PARTITION BY device_id, type ORDER BY ts) AS before
          FROM events
         WHERE home_id = %(home)s AND ts > %(since)s AND ts <= %(now)s AND type IN ('presence', 'door', 'bed')) AS e
 WHERE (type = 'presence' AND data->>'state' = 'detected' AND before IS DISTINCT FROM 'detected') OR type IN ('door', 'bed')
 ORDER BY 1
"""
# Every presence radar's latest presence event within a week (alerts.presence): whether it sees
# someone now. Older ones say nothing about now (a radar reports presence ending within minutes).
_PRESENCE = """
SELECT d.id AS device_id, coalesce(p.room, d.room) AS room, p.data->>'state' AS state, p.ts AS at
  FROM devices d
  CROSS JOIN LATERAL (
        SELECT ts, room, data FROM events e
         WHERE e.home_id = d.home_id AND e.device_id = d.id AND e.type = 'presence'
           AND e.ts > %(week)s AND e.ts <= %(now)s
         ORDER BY e.ts DESC LIMIT 1
       ) AS p
 WHERE d.home_id = %(home)s AND d.kind = 'presence'
 ORDER BY d.id
"""
# Everything scalar about a home in one round trip (a periodic pass runs this for every home).
_SUMMARY = """
SELECT s.gateway_state, s.gateway_state_at, s.last_door_at, s.last_door_state, s.last_activity_at,
       t.first_at, t.min_c, t.max_c,
       (SELECT (evidence->>'fall_at')::timestamptz FROM alerts
         WHERE home_id = %(home)s AND kind = 'fall' AND status IN ('open', 'acknowledged')) AS fall_at,
       (SELECT model FROM routine_models WHERE resident_id = %(resident)s) AS routine_model,
       (SELECT learned_at FROM routine_models WHERE resident_id = %(resident)s) AS routine_learned_at,
       (SELECT habits FROM meal_habits WHERE resident_id = %(resident)s) AS meal_habits,
       (SELECT array_agg(starts_at ORDER BY starts_at) FROM absences
         WHERE resident_id = %(resident)s AND ends_at > %(since)s AND starts_at <= %(now)s) AS absence_starts,
       (SELECT array_agg(ends_at ORDER BY starts_at) FROM absences
         WHERE resident_id = %(resident)s AND ends_at > %(since)s AND starts_at <= %(now)s) AS absence_ends
  FROM (SELECT 1) AS one
  LEFT JOIN home_state s ON s.home_id = %(home)s
  LEFT JOIN LATERAL (
        SELECT min(ts) AS first_at, min(value) AS min_c, max(value) AS max_c FROM readings
         WHERE home_id = %(home)s AND metric = 'temperature_c' AND ts > %(cold_since)s AND ts <= %(now)s
       ) AS t ON true
"""
_ABSENCES = "SELECT starts_at, ends_at FROM absences WHERE resident_id = %s AND ends_at > %s AND starts_at <= %s"
_SAVE_MEALS = """
INSERT INTO meal_habits (resident_id, habits, learned_at) VALUES (%s, %s, %s)
ON CONFLICT (resident_id) DO UPDATE SET habits = EXCLUDED.habits, learned_at = EXCLUDED.learned_at
"""
_SAVE_ROUTINE = """
INSERT INTO routine_models (resident_id, model, learned_at, days_of_history) VALUES (%s, %s, %s, %s)
ON CONFLICT (resident_id) DO UPDATE
   SET model = EXCLUDED.model, learned_at = EXCLUDED.learned_at, days_of_history = EXCLUDED.days_of_history
"""


async def _rows(conn: AsyncConnection[Any], query: str, params: Any) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def activity(conn: AsyncConnection[Any], home_id: str, since: datetime, now: datetime) -> list[ActivityEvent]:
    rows = await _rows(conn, _ACTIVITY, {"home": home_id, "since": since, "now": now})
    return [ActivityEvent(r["ts"], r["kind"], r["room"], r["device_id"]) for r in rows]


async def load_snapshot(conn: AsyncConnection[Any], ctx: HomeContext, now: datetime, *, relearn_after: timedelta) -> HomeSnapshot:
    params = {
        "home": ctx.home_id, "resident": ctx.resident_id, "now": now, "since": now - EVENT_WINDOW,
        "cold_since": now - timedelta(seconds=ctx.rules.cold.hold_s),
    }  # fmt: skip
    (home,) = await _rows(conn, _SUMMARY, params)
    devices = [DeviceInfo(**r) for r in await _rows(conn, _DEVICES, (ctx.home_id,))]
    week = {"home": ctx.home_id, "now": now, "week": now - timedelta(days=7)}
    presence = (
        [PresenceReport(**r) for r in await _rows(conn, _PRESENCE, week)] if any(d.kind == "presence" for d in devices) else []
    )
    routine = None
    if ctx.resident_id is not None:
        routine = await ensure_routine(conn, ctx, now, home, relearn_after=relearn_after)
        if routine is not None and routine.learned_at == now:  # relearned just now, with the meal habits
            home["meal_habits"] = await _meal_habits(conn, ctx.resident_id)
    return HomeSnapshot(
        home_id=ctx.home_id,
        zone=ctx.zone,
        gateway_state=home["gateway_state"],
        gateway_state_at=home["gateway_state_at"],
        last_door_at=home["last_door_at"],
        last_door_state=home["last_door_state"],
        devices=devices,
        events=await activity(conn, ctx.home_id, _window_start(now, home["last_activity_at"]), now),
        temperatures=TemperatureWindow(home["first_at"], home["min_c"], home["max_c"]) if home["first_at"] else None,
        open_fall_at=home["fall_at"],
        absences=list(zip(home["absence_starts"] or [], home["absence_ends"] or [], strict=True)),
        routine=routine,
        presence=presence,
        meal_habits=[MealHabit.from_dict(h) for h in home["meal_habits"] or []],
    )


async def _meal_habits(conn: AsyncConnection[Any], resident_id: int) -> Any:
    rows = await _rows(conn, "SELECT habits FROM meal_habits WHERE resident_id = %s", (resident_id,))
    return rows[0]["habits"] if rows else None


def _window_start(now: datetime, last_activity: datetime | None) -> datetime:
    start = now - EVENT_WINDOW
    if last_activity is not None and last_activity - _BEFORE_LAST_ACTIVITY < start:
        return last_activity - _BEFORE_LAST_ACTIVITY
    return start


async def ensure_routine(
    conn: AsyncConnection[Any], ctx: HomeContext, now: datetime, stored: dict[str, Any], *, relearn_after: timedelta
) -> RoutineModel | None:
    """The stored routine model (``stored``: the summary row), relearned when older than ``relearn_after``."""
    learned_at = stored["routine_learned_at"]
    if learned_at is not None and timedelta(0) <= now - learned_at < relearn_after:
        try:
            return RoutineModel.from_dict(stored["routine_model"])
        except (ValueError, KeyError, TypeError):
            log.warning("routine_model_unreadable", resident_id=ctx.resident_id)
    return await relearn(conn, ctx, now)


async def relearn(conn: AsyncConnection[Any], ctx: HomeContext, now: datetime) -> RoutineModel:
    assert ctx.resident_id is not None
    cfg = ctx.rules.inactivity
    since = now - timedelta(days=cfg.learn_days)
    history = await activity(conn, ctx.home_id, since, now)
    rows = await _rows(conn, _ABSENCES, (ctx.resident_id, since, now))
    absences = [(r["starts_at"], r["ends_at"]) for r in rows]
    # Weeks of history can take a while to learn: off the event loop, so an SOS is not kept waiting.
    model = await asyncio.to_thread(
        learn_routine, history, ctx.zone, now=now, settings=inactivity_settings(cfg), absences=absences
    )
    await conn.execute(_SAVE_ROUTINE, (ctx.resident_id, Jsonb(model.to_dict()), now, model.days_of_history))
    meals = learn_meals(history, ctx.zone, now=now, absences=absences)
    await conn.execute(_SAVE_MEALS, (ctx.resident_id, Jsonb([m.to_dict() for m in meals]), now))
    log.info("routine_learned", resident_id=ctx.resident_id, days=model.days_of_history, trusted=model.trusted)
    return model
