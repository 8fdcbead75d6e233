"""Activity timeline of a resident's home, in hourly or daily buckets, from the hourly rollups."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.bounds import DateTime
from api.db import fetch_all, visible_resident_home
from api.deps import Conn, Ctx, User
from api.params import Id, check_range, shifted

router = APIRouter(prefix="/api/v1/residents", tags=["activity"])

MAX_HOURLY = timedelta(days=31)
MAX_DAILY = timedelta(days=366)

_HOURLY = """
SELECT bucket AS start, sum(motion_events)::bigint AS motion, sum(door_events)::bigint AS door, sum(bed_events)::bigint AS bed,
       sum(power_events)::bigint AS power, sum(readings)::bigint AS readings,
       coalesce(jsonb_object_agg(coalesce(room, 'unknown'), motion_events) FILTER (WHERE motion_events > 0), '{}')
           AS motion_by_room
  FROM activity_hourly
 WHERE home_id = %(home)s AND bucket >= %(since)s AND bucket < %(until)s
 GROUP BY bucket ORDER BY bucket
"""
_DAILY = """
SELECT (date_trunc('day', bucket AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s) AS start,
       sum(motion_events)::bigint AS motion, sum(door_events)::bigint AS door, sum(bed_events)::bigint AS bed,
       sum(power_events)::bigint AS power, sum(readings)::bigint AS readings, '{}'::jsonb AS motion_by_room
  FROM activity_hourly
 WHERE home_id = %(home)s AND bucket >= %(since)s AND bucket < %(until)s
 GROUP BY 1 ORDER BY 1
"""


class Bucket(BaseModel):
    start: datetime
    motion: int = Field(description="motion detections")
    door: int = Field(description="door openings")
    bed: int = Field(description="bed-occupancy readings")
    power: int = Field(description="appliance-in-use readings (power above 5 W)")
    readings: int
    motion_by_room: dict[str, int] = Field(description="hourly buckets only")


class Timeline(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resident_id": 7,
                    "timezone": "Asia/Shanghai",
                    "bucket": "hour",
                    "from": "2026-05-01T00:00:00Z",
                    "to": "2026-05-02T00:00:00Z",
                    "buckets": [
                        {
                            "start": "2026-05-01T07:00:00Z",
                            "motion": 31,
                            "door": 2,
                            "bed": 4,
                            "power": 3,
                            "readings": 60,
                            "motion_by_room": {"kitchen": 12},
                        }
                    ],
                }
            ]
        },
        populate_by_name=True,
    )
    resident_id: int
    timezone: str = Field(description="the home's time zone: daily buckets start at its midnight")
    bucket: Literal["hour", "day"]
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    buckets: list[Bucket]


def _default_range(now: datetime, bucket: str) -> tuple[datetime, datetime]:
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return until - (timedelta(hours=24) if bucket == "hour" else timedelta(days=14)), until


@router.get(
    "/{resident_id}/activity",
    response_model=Timeline,
    response_model_by_alias=True,
    responses={404: {"description": "not found or outside your scope"}},
)
async def timeline(
    resident_id: Id,
    user: User,
    ctx: Ctx,
    conn: Conn,
    bucket: Literal["hour", "day"] = "hour",
    since: Annotated[
        DateTime | None, Query(alias="from", description="default: 24 h (hourly) or 14 days (daily) before `to`")
    ] = None,
    until: Annotated[DateTime | None, Query(alias="to", description="default: the end of the current hour")] = None,
) -> Timeline:
    """Motion, door, bed and appliance activity. Ranges: at most 31 days hourly, 366 days daily."""
    home_id, tz = await visible_resident_home(conn, user, resident_id)
    default_since, default_until = _default_range(ctx.clock.now(), bucket)
    until = until or default_until
    since = since or shifted(until, default_since - default_until)
    check_range(since, until, max_span=MAX_HOURLY if bucket == "hour" else MAX_DAILY)
    query = _HOURLY if bucket == "hour" else _DAILY
    rows: list[dict[str, Any]] = await fetch_all(conn, query, {"home": home_id, "since": since, "until": until, "tz": tz})
    return Timeline(
        resident_id=resident_id,
        timezone=tz,
        bucket=bucket,
        since=since,
        until=until,
        buckets=[Bucket.model_validate(r) for r in rows],
    )
