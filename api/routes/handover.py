"""The shift handover: the alarms closed during a shift (outcome, who, notes) and the alarms still
open at its end with whoever owns them, as a page and as a spreadsheet for the shift report.

Care staff see their centre's, admins every centre's; families and district offices have no use
for it (403): it names residents and what happened to them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api import alert_rows, spreadsheet
from api.alert_rows import Alert
from api.bounds import DateTime
from api.db import fetch_all
from api.deps import Conn, Ctx, Staff
from api.params import check_range, shifted
from api.scope import Principal
from eldercare.domain.alerts.catalogue import KINDS, OUTCOME_NAMES, SEVERITY_NAMES, Names

router = APIRouter(prefix="/api/v1/handover", tags=["shift handover"])

DEFAULT_SHIFT = timedelta(hours=8)
MAX_SPAN = timedelta(days=31)
ROWS_MAX = 2000

# Closed in the shift, oldest first, with every note written on the alarm (who, when, what).
_CLOSED = (
    "SELECT " + alert_rows.COLS + ","
    " (SELECT coalesce(json_agg(json_build_object('at', h.at, 'by', coalesce(u.display_name, u.username), 'note', h.note)"
    "   ORDER BY h.at, h.id), '[]') FROM alert_history h LEFT JOIN users u ON u.id = h.actor_id"
    "   WHERE h.alert_id = a.id AND h.note IS NOT NULL AND h.action <> 'resolved') AS notes"
    + alert_rows.FROM
    + " AND a.status = 'resolved' AND a.resolved_at >= %(since)s AND a.resolved_at < %(until)s"
    " ORDER BY a.resolved_at, a.id LIMIT %(limit)s"
)


class Note(BaseModel):
    at: datetime
    by: str | None = Field(description="who wrote it (null: the system)")
    note: str


class ClosedAlarm(Alert):
    notes: list[Note] = Field(description="every note written on the alarm before it was closed, oldest first")


class Owner(BaseModel):
    user_id: int | None = Field(description="null: nobody has claimed these yet")
    name: str | None
    alarms: int


class Handover(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    server_now: datetime
    closed: list[ClosedAlarm] = Field(description=f"closed in the shift, oldest first (at most {ROWS_MAX})")
    outcomes: dict[str, int] = Field(description="closed alarms per outcome")
    open: list[Alert] = Field(description="not resolved now, oldest first, with whoever owns each")
    owners: list[Owner] = Field(description="who owns the open alarms (unclaimed first)")


Since = Annotated[DateTime | None, Query(alias="from", description="closed at or after; default 8 hours before `to`")]
Until = Annotated[DateTime | None, Query(alias="to", description="closed before; default now")]


def _owners(open_alarms: list[Alert]) -> list[Owner]:
    counts = Counter((a.assigned_to or a.acknowledged_by, a.assigned_to_name or a.acknowledged_by_name) for a in open_alarms)
    ordered = sorted(counts.items(), key=lambda item: (item[0][0] is not None, -item[1], item[0][1] or ""))
    return [Owner(user_id=uid, name=name, alarms=n) for (uid, name), n in ordered]


async def handover(user: Principal, ctx: Ctx, conn: Conn, since: datetime | None, until: datetime | None) -> Handover:
    now = ctx.clock.now()
    until = until or now
    since = since or shifted(until, -DEFAULT_SHIFT)
    check_range(since, until, max_span=MAX_SPAN)
    closed = [
        ClosedAlarm.model_validate(r)
        for r in await fetch_all(conn, _CLOSED, user.params(since=since, until=until, limit=ROWS_MAX))
    ]
    still_open = [Alert.model_validate(r) for r in await fetch_all(conn, alert_rows.UNRESOLVED, user.params())]
    return Handover(
        since=since,
        until=until,
        server_now=now,
        closed=closed,
        outcomes=dict(Counter(a.outcome or "other" for a in closed)),
        open=still_open,
        owners=_owners(still_open),
    )


@router.get("", response_model=Handover, response_model_by_alias=True)
async def get_handover(user: Staff, ctx: Ctx, conn: Conn, since: Since = None, until: Until = None) -> Handover:
    """The shift's closed alarms and the open ones with their owners (a shift of at most 31 days;
    default the last 8 hours)."""
    return await handover(user, ctx, conn, since, until)


_HEADER = {
    "en": ["section", "alarm id", "opened", "closed", "kind", "severity", "resident", "home", "handled by",
           "time to claim (s)", "outcome", "closing note", "notes"],
    "zh-CN": ["类别", "警报编号", "发生时间", "结案时间", "类型", "级别", "老人", "住所", "处理人",
              "认领用时（秒）", "结果", "结案说明", "处理备注"],
}  # fmt: skip
_SECTIONS = {"en": ("closed", "open"), "zh-CN": ("已结案", "未结案")}


def _name(names: Names | None, key: str | None, lang: str) -> str | None:
    if names is None:
        return key
    return names.zh if lang == "zh-CN" else names.en


def _row(section: str, a: Alert, notes: list[Note], lang: str) -> list[object]:
    claim_s = (a.acknowledged_at - a.opened_at).total_seconds() if a.acknowledged_at else None
    kind = KINDS.get(a.kind)
    return [
        section, a.id, a.opened_at, a.resolved_at, _name(kind.names if kind else None, a.kind, lang),
        _name(SEVERITY_NAMES.get(a.severity), a.severity, lang), a.resident_name, a.home_id,
        a.resolved_by_name or a.assigned_to_name or a.acknowledged_by_name, claim_s,
        _name(OUTCOME_NAMES.get(a.outcome) if a.outcome else None, a.outcome, lang), a.resolution_note,
        "\n".join(f"{n.at.isoformat()} {n.by or '-'}: {n.note}" for n in notes),
    ]  # fmt: skip


def csv_rows(data: Handover, lang: str) -> list[list[object]]:
    closed, still_open = _SECTIONS[lang]
    rows = [_row(closed, a, a.notes, lang) for a in data.closed]
    return rows + [_row(still_open, a, [], lang) for a in data.open]


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_csv(
    user: Staff,
    ctx: Ctx,
    conn: Conn,
    since: Since = None,
    until: Until = None,
    lang: Literal["en", "zh-CN"] = "en",
) -> Response:
    """The handover as a spreadsheet: the closed alarms, then the open ones (UTF-8 CSV with a BOM)."""
    data = await handover(user, ctx, conn, since, until)
    name = f"handover-{data.until.strftime('%Y%m%dT%H%M')}.csv"
    return spreadsheet.response(name, _HEADER[lang], csv_rows(data, lang))
