"""A resident's daily well-being summary, written for families: sleep, activity, kitchen and bathroom, alerts."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.bounds import Date
from api.db import fetch_all, fetch_one, visible_resident_home
from api.deps import Conn, Ctx, User
from api.params import Id

router = APIRouter(prefix="/api/v1/residents", tags=["summary"])

USUAL_DAYS = 14
_SLEEP = """
SELECT min(ts) FILTER (WHERE value > 0) AS in_bed, max(ts) FILTER (WHERE value > 0) AS last_in_bed
  FROM readings WHERE home_id = %(home)s AND metric = 'bed_occupied' AND ts >= %(since)s AND ts < %(until)s
"""
_DAYS = """
SELECT (date_trunc('day', bucket AT TIME ZONE %(tz)s))::date AS day,
       sum(motion_events)::bigint AS motion,
       (coalesce(sum(motion_events) FILTER (WHERE room = 'kitchen'), 0)
        + coalesce(sum(power_events) FILTER (WHERE room = 'kitchen'), 0))::bigint AS kitchen,
       coalesce(sum(motion_events) FILTER (WHERE room = 'bathroom'), 0)::bigint AS bathroom
  FROM activity_hourly WHERE home_id = %(home)s AND bucket >= %(since)s AND bucket < %(until)s
 GROUP BY 1
"""
_ALERTS = """
SELECT id, kind, severity, status, opened_at, explanation_en, explanation_zh FROM alerts
 WHERE resident_id = %(rid)s AND opened_at >= %(since)s AND opened_at < %(until)s ORDER BY opened_at LIMIT 100
"""


class Sleep(BaseModel):
    in_bed_at: datetime | None = Field(description="first time in bed between 18:00 the evening before and noon")
    up_at: datetime | None = Field(description="last time in bed in that window")
    hours: float | None


class Usage(BaseModel):
    today: int
    usual: float | None = Field(description=f"median of the previous {USUAL_DAYS} days that have data")
    ratio: float | None = Field(description="today / usual; below about 0.5 deserves a phone call")


class DayAlert(BaseModel):
    id: int
    kind: str
    severity: str
    status: str
    opened_at: datetime
    explanation_en: str
    explanation_zh: str


class Summary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resident_id": 7,
                    "date": "2026-05-01",
                    "timezone": "Asia/Shanghai",
                    "sleep": {"in_bed_at": "2026-04-30T14:05:00Z", "up_at": "2026-04-30T22:40:00Z", "hours": 8.6},
                    "activity": {"today": 412, "usual": 450.0, "ratio": 0.92},
                    "kitchen": {"today": 35, "usual": 40.0, "ratio": 0.88},
                    "bathroom": {"today": 14, "usual": 12.0, "ratio": 1.17},
                    "alerts": [],
                }
            ]
        }
    )
    resident_id: int
    date: date
    timezone: str
    sleep: Sleep
    activity: Usage
    kitchen: Usage
    bathroom: Usage
    alerts: list[DayAlert]


def _usage(today: int, previous: list[int]) -> Usage:
    usual = statistics.median(previous) if previous else None
    ratio = round(today / usual, 2) if usual else None
    return Usage(today=today, usual=usual, ratio=ratio)


async def _sleep(conn: Conn, home_id: str, day_start: datetime) -> Sleep:
    window = {"home": home_id, "since": day_start - timedelta(hours=6), "until": day_start + timedelta(hours=12)}
    row = await fetch_one(conn, _SLEEP, window) or {}
    in_bed, up = row.get("in_bed"), row.get("last_in_bed")
    hours = round((up - in_bed).total_seconds() / 3600, 1) if in_bed and up else None
    return Sleep(in_bed_at=in_bed, up_at=up, hours=hours)


@router.get("/{resident_id}/summary", response_model=Summary, responses={404: {"description": "not found or outside your scope"}})
async def summary(
    resident_id: Id,
    user: User,
    ctx: Ctx,
    conn: Conn,
    day: Annotated[Date | None, Query(alias="date", description="calendar day in the home's time zone; default today")] = None,
) -> Summary:
    """How the day went, compared with the resident's own usual."""
    home_id, tz = await visible_resident_home(conn, user, resident_id)
    zone = ZoneInfo(tz)
    day = day or ctx.clock.now().astimezone(zone).date()
    day = min(max(day, date(1971, 1, 1)), date(9998, 12, 1))
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    rows = await fetch_all(
        conn, _DAYS, {"tz": tz, "home": home_id, "since": start - timedelta(days=USUAL_DAYS), "until": start + timedelta(days=1)}
    )
    by_day: dict[date, dict[str, Any]] = {r["day"]: r for r in rows}
    today = by_day.pop(day, {"motion": 0, "kitchen": 0, "bathroom": 0})
    previous = list(by_day.values())
    alerts = await fetch_all(conn, _ALERTS, {"rid": resident_id, "since": start, "until": start + timedelta(days=1)})
    return Summary(
        resident_id=resident_id,
        date=day,
        timezone=tz,
        sleep=await _sleep(conn, home_id, start),
        activity=_usage(today["motion"], [p["motion"] for p in previous]),
        kitchen=_usage(today["kitchen"], [p["kitchen"] for p in previous]),
        bathroom=_usage(today["bathroom"], [p["bathroom"] for p in previous]),
        alerts=[DayAlert.model_validate(a) for a in alerts],
    )
