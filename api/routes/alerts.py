"""Alerts: filter and page through them; acknowledge, resolve, comment, assign (each audited by the
one alert writer, :mod:`eldercare.domain.alerts.lifecycle`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api import alert_rows
from api.alert_rows import Alert
from api.bounds import Body, Comment, DateTime, IdValue, Note
from api.db import fetch_all, fetch_one, fetch_visible
from api.deps import Conn, Ctx, User, Writer
from api.errors import InvalidInputError
from api.params import DEFAULT_PAGE, HomeFilter, Id, IdFilter, PageSize
from api.scope import Principal
from eldercare import logs
from eldercare.domain.alerts import lifecycle
from eldercare.domain.alerts.catalogue import Action, Severity, StaffOutcome, Status

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
log = logs.get("api")

_CURSOR = r"^\d{1,18}\.\d{1,19}$"

_HISTORY = (
    "SELECT h.at, h.actor_id, u.username AS actor, h.action, h.note FROM alert_history h"
    " LEFT JOIN users u ON u.id = h.actor_id WHERE h.alert_id = %s ORDER BY h.at, h.id"
)
_ASSIGNABLE = (
    "SELECT id FROM users WHERE id = %(uid)s AND NOT disabled"
    " AND (role = 'admin' OR (role = 'staff' AND care_centre_id = %(centre)s))"
)


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null at the end")


class HistoryEntry(BaseModel):
    at: datetime
    actor_id: int | None
    actor: str | None = Field(description="username; null when the system acted")
    action: str
    note: str | None


class AlertDetail(Alert):
    history: list[HistoryEntry]


class AckIn(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "calling her now"}]})
    note: Note | None = None


class ResolveIn(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"outcome": "visited", "note": "Visited; she had slipped, no injury."}]}
    )
    outcome: StaffOutcome
    note: Note | None = None


class CommentIn(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "Daughter informed."}]})
    note: Comment


class AssignIn(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"user_id": 3}]})
    user_id: IdValue | None = Field(description="staff member of the alert's centre, or null to unassign")


def _decode_cursor(cursor: str | None) -> tuple[datetime | None, int | None]:
    if cursor is None:
        return None, None
    micros, alert_id = cursor.split(".")
    try:
        return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC), min(int(alert_id), 2**63 - 1)
    except (OverflowError, ValueError, OSError):
        raise InvalidInputError(("query", "cursor"), "invalid cursor / 无效的分页游标") from None


def _encode_cursor(row: dict[str, Any]) -> str:
    opened: datetime = row["opened_at"]
    return f"{int(opened.timestamp() * 1_000_000)}.{row['id']}"


@router.get("", response_model=AlertPage)
async def list_alerts(
    user: User,
    conn: Conn,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    kind: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    severity: Severity | None = None,
    resident_id: IdFilter = None,
    home_id: HomeFilter = None,
    since: Annotated[DateTime | None, Query(alias="from", description="opened at or after")] = None,
    until: Annotated[DateTime | None, Query(alias="to", description="opened before")] = None,
    limit: PageSize = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(pattern=_CURSOR)] = None,
) -> AlertPage:
    """Alerts in the caller's scope, newest first, filtered by status, kind, severity and time."""
    c_at, c_id = _decode_cursor(cursor)
    params = user.params(
        status=status_, kind=kind, severity=severity, resident=resident_id, home=home_id, since=since, until=until,
        c_at=c_at, c_id=c_id, limit=limit + 1,
    )  # fmt: skip
    rows = await fetch_all(conn, alert_rows.LIST, params)
    more = len(rows) > limit
    rows = rows[:limit]
    return AlertPage(items=[Alert.model_validate(r) for r in rows], next_cursor=_encode_cursor(rows[-1]) if more else None)


@router.get("/{alert_id}", response_model=AlertDetail, responses={404: {"description": "not found or outside your scope"}})
async def get_alert(alert_id: Id, user: User, conn: Conn) -> AlertDetail:
    """One alert with its audit trail."""
    row = await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    history = await fetch_all(conn, _HISTORY, (alert_id,))
    return AlertDetail.model_validate({**row, "history": history})


def _audited(alert_id: int, user: Principal, action: Action) -> None:
    log.info("alert_action", alert_id=alert_id, action=action, user_id=user.user_id)


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the alert is not in a state that allows this"},
    404: {"description": "not found or outside your scope"},
}


@router.post("/{alert_id}/acknowledge", response_model=AlertDetail, responses=_CONFLICT)
async def acknowledge(alert_id: Id, body: AckIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    """Someone is on it: the alert leaves the open queue and stops escalating."""
    await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    if not await lifecycle.acknowledge(conn, alert_id, actor_id=user.user_id, now=ctx.clock.now(), note=body.note):
        raise HTTPException(status.HTTP_409_CONFLICT, "alert is not open / 警报不是待处理状态")
    _audited(alert_id, user, "acknowledged")
    return await get_alert(alert_id, user, conn)


@router.post("/{alert_id}/resolve", response_model=AlertDetail, responses=_CONFLICT)
async def resolve(alert_id: Id, body: ResolveIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    """Close the alert with an outcome."""
    await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    now = ctx.clock.now()
    if not await lifecycle.resolve(conn, alert_id, actor_id=user.user_id, now=now, outcome=body.outcome, note=body.note):
        raise HTTPException(status.HTTP_409_CONFLICT, "alert is already resolved / 警报已解决")
    _audited(alert_id, user, "resolved")
    return await get_alert(alert_id, user, conn)


@router.post("/{alert_id}/comments", response_model=AlertDetail, status_code=status.HTTP_201_CREATED, responses=_CONFLICT)
async def comment(alert_id: Id, body: CommentIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    await lifecycle.comment(conn, alert_id, actor_id=user.user_id, now=ctx.clock.now(), note=body.note)
    _audited(alert_id, user, "commented")
    return await get_alert(alert_id, user, conn)


@router.post(
    "/{alert_id}/assign", response_model=AlertDetail, responses={**_CONFLICT, 422: {"description": "assignee not allowed"}}
)
async def assign(alert_id: Id, body: AssignIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    """Give the alert to a staff member of its centre (or take it back with null)."""
    alert = await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    if (
        body.user_id is not None
        and await fetch_one(conn, _ASSIGNABLE, {"uid": body.user_id, "centre": alert["care_centre_id"]}) is None
    ):
        raise InvalidInputError(("body", "user_id"), "assignee must be staff of the alert's centre / 只能指派给本中心员工")
    await lifecycle.assign(conn, alert_id, actor_id=user.user_id, now=ctx.clock.now(), assignee=body.user_id)
    _audited(alert_id, user, "assigned")
    return await get_alert(alert_id, user, conn)
