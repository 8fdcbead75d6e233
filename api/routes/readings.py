"""Raw readings of a resident's home: bounded time range, keyset pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.bounds import DateTime
from api.db import fetch_all, visible_resident_home
from api.deps import Conn, Ctx, User
from api.errors import InvalidInputError
from api.params import DEFAULT_PAGE, Id, PageSize, check_range, shifted

router = APIRouter(prefix="/api/v1/residents", tags=["readings"])

MAX_SPAN = timedelta(days=7)
_CURSOR = r"^\d{1,18}:\d{1,19}:[A-Za-z0-9_.:\-]{1,128}$"
_PAGE = """
SELECT ts, device_id, seq, metric, value, room FROM readings
 WHERE home_id = %(home)s AND ts >= %(since)s AND ts < %(until)s
   AND (%(metric)s::text IS NULL OR metric = %(metric)s)
   AND (%(c_ts)s::timestamptz IS NULL OR (ts, device_id, seq) > (%(c_ts)s, %(c_dev)s, %(c_seq)s))
 ORDER BY ts, device_id, seq LIMIT %(limit)s
"""


class Reading(BaseModel):
    ts: datetime
    device_id: str
    seq: int
    metric: str
    value: float
    room: str | None


class ReadingPage(BaseModel):
    items: list[Reading]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at the end of the range")


def _decode(cursor: str | None) -> tuple[datetime | None, str | None, int | None]:
    if cursor is None:
        return None, None, None
    micros, seq, device = cursor.split(":", 2)
    try:
        return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC), device, min(int(seq), 2**63 - 1)
    except (OverflowError, ValueError, OSError):
        raise InvalidInputError(("query", "cursor"), "invalid cursor / 无效的分页游标") from None


def _encode(row: dict[str, Any]) -> str:
    ts: datetime = row["ts"]
    return f"{int(ts.timestamp() * 1_000_000)}:{row['seq']}:{row['device_id']}"


@router.get(
    "/{resident_id}/readings", response_model=ReadingPage, responses={404: {"description": "not found or outside your scope"}}
)
async def readings(
    resident_id: Id,
    user: User,
    ctx: Ctx,
    conn: Conn,
    since: Annotated[DateTime | None, Query(alias="from", description="default: one hour before `to`")] = None,
    until: Annotated[DateTime | None, Query(alias="to", description="default: now")] = None,
    metric: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    limit: PageSize = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(pattern=_CURSOR)] = None,
) -> ReadingPage:
    """Readings in time order. The range may span at most 7 days; pages hold at most 1000."""
    home_id, _ = await visible_resident_home(conn, user, resident_id)
    until = until or ctx.clock.now()
    since = since or shifted(until, -timedelta(hours=1))
    check_range(since, until, max_span=MAX_SPAN)
    c_ts, c_dev, c_seq = _decode(cursor)
    params = {
        "home": home_id,
        "since": since,
        "until": until,
        "metric": metric,
        "c_ts": c_ts,
        "c_dev": c_dev,
        "c_seq": c_seq,
        "limit": limit + 1,
    }
    rows = await fetch_all(conn, _PAGE, params)
    more = len(rows) > limit
    rows = rows[:limit]
    return ReadingPage(items=[Reading.model_validate(r) for r in rows], next_cursor=_encode(rows[-1]) if more else None)
