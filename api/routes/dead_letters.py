"""Dead letters: what the platform received from a home's gateway and refused, with the reason.

Feedback for whoever installs or builds a gateway: care staff see their centre's homes' dead letters
(platform administrators every one, including those of unregistered homes and unreadable topics),
listed with filters and summed per reason. The reasons are those of ``docs/protocol.md`` (plus
``alert_engine_error`` from the alert engine). Families see none (403); a home outside the caller's
scope is 404, as everywhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.bounds import MAX_ID, DateTime
from api.db import fetch_all, fetch_visible
from api.deps import Conn, Ctx, Staff
from api.params import DEFAULT_PAGE, HomeFilter, PageSize, check_range, shifted
from api.scope import HOME_VISIBLE, Principal
from eldercare.contracts.codec import RejectReason

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])

PAYLOAD_HEAD_BYTES = 512
SUMMARY_MAX_SPAN = timedelta(days=366)
SUMMARY_DEFAULT_SPAN = timedelta(days=7)
REASONS = [reason.value for reason in RejectReason] + ["alert_engine_error"]
ReasonFilter = Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="only this reason: " + ", ".join(REASONS))]

# A dead letter of a registered home is visible as its home is; one without a known home (an
# unreadable topic, an unregistered home) only to administrators (HOME_VISIBLE on a missing h).
_SCOPED = (
    " FROM dead_letters d LEFT JOIN homes h ON h.id = d.home_id WHERE " + HOME_VISIBLE + " AND %(p_role)s <> 'family'"
    " AND (%(home)s::text IS NULL OR d.home_id = %(home)s) AND (%(reason)s::text IS NULL OR d.reason = %(reason)s)"
    " AND (%(since)s::timestamptz IS NULL OR d.received_at >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR d.received_at < %(until)s)"
)
_PAGE = (
    "SELECT d.id, d.received_at, d.source, d.topic, d.home_id, d.reason, d.detail, octet_length(d.payload) AS payload_bytes,"
    " substring(d.payload FROM 1 FOR %(head)s) AS payload_head"
    + _SCOPED
    + " AND (%(before)s::bigint IS NULL OR d.id < %(before)s)"
    " ORDER BY d.id DESC LIMIT %(limit)s"
)
_SUMMARY = (
    "SELECT d.reason, count(*) AS count, count(DISTINCT d.home_id) AS homes, min(d.received_at) AS first_at,"
    " max(d.received_at) AS last_at" + _SCOPED + " GROUP BY d.reason ORDER BY count(*) DESC, d.reason"
)
_HOME = "SELECT h.id FROM homes h WHERE h.id = %(id)s AND " + HOME_VISIBLE


class DeadLetter(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 812,
                    "received_at": "2026-05-01T08:00:00Z",
                    "source": "ingest",
                    "topic": "eldercare/v1/home-0001/readings",
                    "home_id": "home-0001",
                    "reason": "ts_in_future",
                    "detail": "readings[0].ts is 3600 s after the receive time (window: 300 s)",
                    "payload_bytes": 211,
                    "payload_head": '{"v": 1, "home_id": "home-0001", "readings": [...',
                }
            ]
        }
    )
    id: int
    received_at: datetime
    source: str = Field(description="the service that refused it (ingest, alerts)")
    topic: str
    home_id: str | None = Field(description="null when the topic named no home")
    reason: str = Field(description="stable name, as listed in docs/protocol.md")
    detail: str
    payload_bytes: int
    payload_head: str = Field(
        description=f"the first {PAYLOAD_HEAD_BYTES} bytes of the payload as text (bytes that are not UTF-8 as \\xNN)"
    )


class ReasonCount(BaseModel):
    reason: str
    count: int
    homes: int = Field(description="distinct homes with this reason")
    first_at: datetime
    last_at: datetime


class DeadLetterSummary(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-04-24T08:00:00Z",
                    "to": "2026-05-01T08:00:00Z",
                    "home_id": None,
                    "total": 14,
                    "reasons": [
                        {
                            "reason": "wrong_type",
                            "count": 12,
                            "homes": 1,
                            "first_at": "2026-04-30T10:00:00Z",
                            "last_at": "2026-05-01T07:59:00Z",
                        }
                    ],
                }
            ]
        },
    )
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    home_id: str | None
    total: int
    reasons: list[ReasonCount] = Field(description="most frequent first")


async def _check_home(conn: Conn, user: Principal, home_id: str | None) -> None:
    if home_id is not None:
        await fetch_visible(conn, _HOME, user.params(id=home_id))


def _row(row: dict[str, Any]) -> DeadLetter:
    head = bytes(row.pop("payload_head")).decode("utf-8", "backslashreplace")
    return DeadLetter.model_validate({**row, "payload_head": head})


@router.get("", response_model=list[DeadLetter], responses={404: {"description": "home not found or outside your scope"}})
async def list_dead_letters(
    user: Staff,
    conn: Conn,
    home_id: HomeFilter = None,
    reason: ReasonFilter = None,
    since: Annotated[DateTime | None, Query(alias="from", description="received at or after")] = None,
    until: Annotated[DateTime | None, Query(alias="to", description="received before")] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="older than this id (the last one seen)")] = None,
    limit: PageSize = DEFAULT_PAGE,
) -> list[DeadLetter]:
    """Newest first; page with ``before``."""
    await _check_home(conn, user, home_id)
    params = user.params(
        home=home_id, reason=reason, since=since, until=until, before=before, limit=limit, head=PAYLOAD_HEAD_BYTES
    )
    return [_row(row) for row in await fetch_all(conn, _PAGE, params)]


@router.get(
    "/summary",
    response_model=DeadLetterSummary,
    response_model_by_alias=True,
    responses={404: {"description": "home not found or outside your scope"}},
)
async def summary(
    user: Staff,
    ctx: Ctx,
    conn: Conn,
    home_id: HomeFilter = None,
    since: Annotated[DateTime | None, Query(alias="from", description="default: 7 days before `to`")] = None,
    until: Annotated[DateTime | None, Query(alias="to", description="default: now")] = None,
) -> DeadLetterSummary:
    """Dead letters per reason in the range (at most 366 days), with how many homes each."""
    await _check_home(conn, user, home_id)
    until = until or ctx.clock.now()
    since = since or shifted(until, -SUMMARY_DEFAULT_SPAN)
    check_range(since, until, max_span=SUMMARY_MAX_SPAN)
    rows = await fetch_all(conn, _SUMMARY, user.params(home=home_id, reason=None, since=since, until=until))
    reasons = [ReasonCount.model_validate(row) for row in rows]
    return DeadLetterSummary(since=since, until=until, home_id=home_id, total=sum(r.count for r in reasons), reasons=reasons)
