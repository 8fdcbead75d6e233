"""District oversight: figures across the care centres a civil-affairs office funds, read-only.

Per centre: homes monitored and devices healthy now, open, unclaimed and overdue alarms now, and
the time to acknowledge and to resolve (p50, p90) over a range, in total and per ISO week (weeks of
the centre's own time zone). Figures only: no resident, home or alert of any centre is named here,
so a district account needs nothing else (and sees nothing else). Admins see every centre, care
staff their own. ``/export.csv`` is the same as a spreadsheet.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api import device_health, spreadsheet
from api.bounds import DateTime
from api.db import fetch_all
from api.deps import Conn, Ctx, Overseer
from api.params import check_range, shifted
from api.routes.devices import LOW_BATTERY_PCT
from api.scope import CENTRE_VISIBLE, Principal

router = APIRouter(prefix="/api/v1/oversight", tags=["district oversight"])

DEFAULT_SPAN = timedelta(days=28)
MAX_SPAN = timedelta(days=366)

_NOW = (
    """
SELECT c.id AS care_centre_id, c.name, c.timezone,
       (SELECT count(*) FROM homes h WHERE h.care_centre_id = c.id) AS homes,
       (SELECT count(*) FROM homes h JOIN home_state hs ON hs.home_id = h.id
         WHERE h.care_centre_id = c.id AND hs.gateway_state = 'online') AS homes_monitored,
       (SELECT count(*) FROM devices d JOIN homes h ON h.id = d.home_id WHERE h.care_centre_id = c.id) AS devices,
       (SELECT count(*) FROM alerts a WHERE a.care_centre_id = c.id AND a.status IN ('open', 'acknowledged')) AS open_alarms,
       (SELECT count(*) FROM alerts a WHERE a.care_centre_id = c.id AND a.status = 'open') AS unclaimed_alarms,
       (SELECT count(*) FROM alerts a WHERE a.care_centre_id = c.id AND a.status = 'open'
           AND (a.escalation_level > 0 OR a.next_escalation_at <= %(now)s)) AS overdue_alarms
  FROM care_centres c WHERE """
    + CENTRE_VISIBLE
    + " ORDER BY c.id LIMIT 500"
)

# Each device of the centres in scope, for the alert engine's offline rule (api.device_health).
_DEVICES = (
    "SELECT h.care_centre_id, d.battery_pct, "
    + device_health.COLUMNS
    + " FROM devices d JOIN homes h ON h.id = d.home_id JOIN care_centres c ON c.id = h.care_centre_id WHERE "
    + CENTRE_VISIBLE
)

# Staff response times: claiming is always a person; a resolution counts only when a person closed
# it (an alert the system closed itself, e.g. a gateway back online, says nothing about the centre).
_TIMES = (
    """
SELECT c.id AS care_centre_id, (date_trunc('week', a.opened_at AT TIME ZONE c.timezone))::date AS week_start,
       count(*) AS alerts, count(a.acknowledged_at) AS acknowledged, count(a.resolved_by) AS resolved_by_staff,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.acknowledged_at - a.opened_at)) AS ack_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.acknowledged_at - a.opened_at)) AS ack_p90_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN a.resolved_by IS NOT NULL
                                                   THEN extract(epoch FROM a.resolved_at - a.opened_at) END) AS resolve_p50_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY CASE WHEN a.resolved_by IS NOT NULL
                                                   THEN extract(epoch FROM a.resolved_at - a.opened_at) END) AS resolve_p90_s
  FROM care_centres c JOIN alerts a ON a.care_centre_id = c.id
 WHERE """
    + CENTRE_VISIBLE
    + """ AND a.opened_at >= %(since)s AND a.opened_at < %(until)s AND a.status <> 'pending'
 GROUP BY GROUPING SETS ((c.id), (c.id, 2))
 ORDER BY c.id, week_start NULLS FIRST
"""
)


class Times(BaseModel):
    alerts: int = Field(description="alerts opened in the period (possible falls still waiting excluded)")
    acknowledged: int
    resolved_by_staff: int
    ack_p50_s: float | None = Field(description="median seconds from opened to claimed")
    ack_p90_s: float | None
    resolve_p50_s: float | None = Field(description="median seconds from opened to closed by staff")
    resolve_p90_s: float | None


class Week(Times):
    week: str = Field(description="ISO week in the centre's time zone, e.g. 2026-W18")
    week_start: date = Field(description="its Monday")


class CentreFigures(BaseModel):
    care_centre_id: int
    name: str
    timezone: str
    homes: int
    homes_monitored: int = Field(description="homes whose gateway is online now")
    devices: int
    devices_healthy: int = Field(description="devices the alert engine does not call offline (own rhythm), battery not low")
    open_alarms: int = Field(description="open or claimed, not yet resolved")
    unclaimed_alarms: int
    overdue_alarms: int = Field(description="unclaimed past their escalation deadline")
    period: Times
    weeks: list[Week]


class Oversight(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    server_now: datetime
    centres: list[CentreFigures]


Since = Annotated[DateTime | None, Query(alias="from", description="alerts opened at or after; default 28 days before `to`")]
Until = Annotated[DateTime | None, Query(alias="to", description="alerts opened before; default now")]
_EMPTY = Times(
    alerts=0, acknowledged=0, resolved_by_staff=0, ack_p50_s=None, ack_p90_s=None, resolve_p50_s=None, resolve_p90_s=None
)


def _week(row: dict[str, Any]) -> Week:
    year, number, _ = row["week_start"].isocalendar()
    return Week.model_validate({**row, "week": f"{year}-W{number:02d}"})


async def figures(user: Principal, ctx: Ctx, conn: Conn, since: datetime | None, until: datetime | None) -> Oversight:
    now = ctx.clock.now()
    until = until or now
    since = since or shifted(until, -DEFAULT_SPAN)
    check_range(since, until, max_span=MAX_SPAN)
    centres = await fetch_all(conn, _NOW, user.params(now=now))
    healthy = Counter(
        d["care_centre_id"]
        for d in await fetch_all(conn, _DEVICES, user.params())
        if not device_health.silent(d, now) and (d["battery_pct"] is None or d["battery_pct"] >= LOW_BATTERY_PCT)
    )
    times = await fetch_all(conn, _TIMES, user.params(since=since, until=until))
    totals = {r["care_centre_id"]: Times.model_validate(r) for r in times if r["week_start"] is None}
    weeks: dict[int, list[Week]] = {}
    for r in times:
        if r["week_start"] is not None:
            weeks.setdefault(r["care_centre_id"], []).append(_week(r))
    return Oversight(
        since=since,
        until=until,
        server_now=now,
        centres=[
            CentreFigures.model_validate(
                {
                    **c,
                    "devices_healthy": healthy[c["care_centre_id"]],
                    "period": totals.get(c["care_centre_id"], _EMPTY),
                    "weeks": weeks.get(c["care_centre_id"], []),
                }
            )
            for c in centres
        ],
    )


@router.get("", response_model=Oversight, response_model_by_alias=True)
async def oversight(user: Overseer, ctx: Ctx, conn: Conn, since: Since = None, until: Until = None) -> Oversight:
    """Every centre in the caller's scope: its state now and its response times over the range
    (at most 366 days; default the last 28)."""
    return await figures(user, ctx, conn, since, until)


_SNAPSHOT = ("homes", "homes_monitored", "devices", "devices_healthy", "open_alarms", "unclaimed_alarms", "overdue_alarms")
_TIMES_COLS = ("alerts", "acknowledged", "resolved_by_staff", "ack_p50_s", "ack_p90_s", "resolve_p50_s", "resolve_p90_s")
HEADERS: dict[str, dict[str, str]] = {
    "en": {
        "care_centre_id": "centre id", "name": "care centre", "period": "period", "week_start": "week starts",
        "homes": "homes", "homes_monitored": "homes monitored", "devices": "devices", "devices_healthy": "devices healthy",
        "open_alarms": "open alarms", "unclaimed_alarms": "unclaimed alarms", "overdue_alarms": "overdue alarms",
        "alerts": "alarms", "acknowledged": "claimed", "resolved_by_staff": "closed by staff",
        "ack_p50_s": "time to claim p50 (s)", "ack_p90_s": "time to claim p90 (s)",
        "resolve_p50_s": "time to close p50 (s)", "resolve_p90_s": "time to close p90 (s)", "total": "whole range",
    },
    "zh-CN": {
        "care_centre_id": "中心编号", "name": "护理中心", "period": "时段", "week_start": "周一日期",
        "homes": "住所数", "homes_monitored": "在线监护住所", "devices": "设备数", "devices_healthy": "正常设备",
        "open_alarms": "未结警报", "unclaimed_alarms": "无人认领警报", "overdue_alarms": "超时警报",
        "alerts": "警报数", "acknowledged": "已认领", "resolved_by_staff": "人工结案",
        "ack_p50_s": "认领用时 p50（秒）", "ack_p90_s": "认领用时 p90（秒）",
        "resolve_p50_s": "结案用时 p50（秒）", "resolve_p90_s": "结案用时 p90（秒）", "total": "整个时段",
    },
}  # fmt: skip


def csv_rows(data: Oversight, words: dict[str, str]) -> list[list[object]]:
    """Per centre: one row for the whole range (with the state now), then one row per ISO week."""
    rows: list[list[object]] = []
    for c in data.centres:
        state = c.model_dump()
        rows.append([c.care_centre_id, c.name, words["total"], None, *(state[k] for k in _SNAPSHOT),
                     *(getattr(c.period, k) for k in _TIMES_COLS)])  # fmt: skip
        rows += [[c.care_centre_id, c.name, w.week, w.week_start, *([None] * len(_SNAPSHOT)),
                  *(getattr(w, k) for k in _TIMES_COLS)] for w in c.weeks]  # fmt: skip
    return rows


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_csv(
    user: Overseer,
    ctx: Ctx,
    conn: Conn,
    since: Since = None,
    until: Until = None,
    lang: Literal["en", "zh-CN"] = "en",
) -> Response:
    """The same figures as a spreadsheet (UTF-8 CSV with a byte-order mark; headers in ``lang``)."""
    data = await figures(user, ctx, conn, since, until)
    words = HEADERS[lang]
    header = [words[k] for k in ("care_centre_id", "name", "period", "week_start", *_SNAPSHOT, *_TIMES_COLS)]
    name = f"oversight-{data.since.date().isoformat()}-{data.until.date().isoformat()}.csv"
    return spreadsheet.response(name, header, csv_rows(data, words))
