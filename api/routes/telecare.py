"""Telecare figures per care centre: how fast alerts are acknowledged and resolved (p50, p90)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.bounds import DateTime
from api.db import fetch_all, fetch_visible
from api.deps import Conn, Ctx, User
from api.params import Id, check_range, shifted
from api.scope import CENTRE_VISIBLE

router = APIRouter(prefix="/api/v1/centres", tags=["telecare"])

MAX_SPAN = timedelta(days=366)
_CENTRE = "SELECT c.id FROM care_centres c WHERE c.id = %(id)s AND " + CENTRE_VISIBLE
_FIGURES = """
SELECT severity, count(*) AS alerts, count(acknowledged_at) AS acknowledged, count(resolved_at) AS resolved,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)) AS ack_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)) AS ack_p90_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)) AS resolve_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)) AS resolve_p90_s
  FROM alerts WHERE care_centre_id = %(centre)s AND opened_at >= %(since)s AND opened_at < %(until)s
 GROUP BY GROUPING SETS ((), (severity))
 ORDER BY severity NULLS FIRST
"""


class Figures(BaseModel):
    alerts: int
    acknowledged: int
    resolved: int
    ack_p50_s: float | None = Field(description="median seconds from opened to acknowledged")
    ack_p90_s: float | None
    resolve_p50_s: float | None = Field(description="median seconds from opened to resolved")
    resolve_p90_s: float | None


class Telecare(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "care_centre_id": 1,
                    "from": "2026-04-01T00:00:00Z",
                    "to": "2026-05-01T00:00:00Z",
                    "overall": {
                        "alerts": 120,
                        "acknowledged": 118,
                        "resolved": 115,
                        "ack_p50_s": 48.0,
                        "ack_p90_s": 210.0,
                        "resolve_p50_s": 1500.0,
                        "resolve_p90_s": 5400.0,
                    },
                    "by_severity": {},
                }
            ]
        },
    )
    care_centre_id: int
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    overall: Figures
    by_severity: dict[str, Figures]


@router.get(
    "/{centre_id}/telecare",
    response_model=Telecare,
    response_model_by_alias=True,
    responses={404: {"description": "not found or outside your scope"}},
)
async def telecare(
    centre_id: Id,
    user: User,
    ctx: Ctx,
    conn: Conn,
    since: Annotated[
        DateTime | None, Query(alias="from", description="alerts opened at or after; default 30 days before `to`")
    ] = None,
    until: Annotated[DateTime | None, Query(alias="to", description="alerts opened before; default now")] = None,
) -> Telecare:
    """Response times of the centre's alerts opened in the range (at most 366 days)."""
    await fetch_visible(conn, _CENTRE, user.params(id=centre_id))
    until = until or ctx.clock.now()
    since = since or shifted(until, -timedelta(days=30))
    check_range(since, until, max_span=MAX_SPAN)
    rows: list[dict[str, Any]] = await fetch_all(conn, _FIGURES, {"centre": centre_id, "since": since, "until": until})
    overall = next((r for r in rows if r["severity"] is None), None)
    empty = Figures(alerts=0, acknowledged=0, resolved=0, ack_p50_s=None, ack_p90_s=None, resolve_p50_s=None, resolve_p90_s=None)
    return Telecare(
        care_centre_id=centre_id,
        since=since,
        until=until,
        overall=Figures.model_validate(overall) if overall else empty,
        by_severity={r["severity"]: Figures.model_validate(r) for r in rows if r["severity"] is not None},
    )
