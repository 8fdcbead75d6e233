"""Alerts: filter and page through them; the incident (an alert's whole story); acknowledge (= claim),
log protocol attempts, resolve, comment, assign (each audited by the one alert writer,
:mod:`eldercare.domain.alerts.lifecycle`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from eldercare.domain.alerts.catalogue import Action, AttemptResult, Severity, StaffOutcome, Status, Step, resolution_needs_note

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
log = logs.get("api")

_CURSOR = r"^\d{1,18}\.\d{1,19}$"

_HISTORY = (
    "SELECT h.at, h.actor_id, u.username AS actor, coalesce(u.display_name, u.username) AS actor_name, h.action, h.note,"
    " h.details FROM alert_history h LEFT JOIN users u ON u.id = h.actor_id WHERE h.alert_id = %s ORDER BY h.at, h.id"
)
# Where every notification about the alert went and how its delivery stands; never a channel's
# target or secret, never a contact's address.
_NOTIFICATIONS = (
    "SELECT o.purpose, o.escalation_level, o.status, o.attempts, o.created_at, o.sent_at, c.kind AS channel_kind,"
    " c.name AS channel_name, o.recipient->>'name' AS recipient_name FROM notification_outbox o"
    " LEFT JOIN notification_channels c ON c.id = o.channel_id WHERE o.alert_id = %s ORDER BY o.created_at, o.id LIMIT 200"
)
# Signs of a person in the home during the hour before now (or before the alert was resolved).
_ACTIVITY = """
SELECT ts AS at, metric AS what, room, device_id FROM readings
 WHERE home_id = %(home)s AND ts > %(since)s AND ts <= %(until)s AND value > 0
   AND metric IN ('motion', 'door_open', 'bed_occupied')
UNION ALL
SELECT ts, type, room, device_id FROM events WHERE home_id = %(home)s AND ts > %(since)s AND ts <= %(until)s
 ORDER BY 1 DESC LIMIT 200
"""
ACTIVITY_WINDOW = timedelta(hours=1)
_CONTACTS = "SELECT emergency_contacts FROM residents WHERE id = %s"
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
    actor_name: str | None = Field(description="display name (the username when none)")
    action: Action
    note: str | None
    details: dict[str, Any] = Field(description="e.g. the outcome, the escalation level, a protocol attempt's step and result")


class Notification(BaseModel):
    purpose: str = Field(description="opened, reminder, escalation, resolved")
    escalation_level: int
    status: str = Field(description="pending, sent, failed, cancelled")
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    channel_kind: str | None = Field(description="webhook, email or apprise; null for an emergency contact")
    channel_name: str | None
    recipient_name: str | None = Field(description="the emergency contact notified, when not a channel")


class ActivityEntry(BaseModel):
    at: datetime
    what: str = Field(description="a reading (motion, door_open, bed_occupied) or an event type (fall, sos, door, ...)")
    room: str | None
    device_id: str


class AlertDetail(Alert):
    history: list[HistoryEntry]
    notifications: list[Notification] = Field(description="staff only (empty for families)")
    activity: list[ActivityEntry] = Field(description="the home's last hour, newest first (up to the resolution)")
    server_now: datetime = Field(description="the server's clock: ages and countdowns are counted from it")


class AckIn(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "calling her now"}]})
    note: Note | None = None


class ResolveIn(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"outcome": "visited", "note": "Visited; she had slipped, no injury."}]}
    )
    outcome: StaffOutcome
    note: Note | None = None


class AttemptIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"step": "call_contact", "contact_index": 0, "result": "no_answer", "note": None}]},
    )
    step: Step
    result: AttemptResult
    contact_index: int | None = Field(
        default=None, ge=0, le=9, description="for call_contact: the contact's place in the resident's list (0 = first)"
    )
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
async def get_alert(alert_id: Id, user: User, ctx: Ctx, conn: Conn) -> AlertDetail:
    """The incident: the alert, every action on it (who, when, note, details), its notifications and
    their delivery, and the home's last hour of activity."""
    row = await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    now = ctx.clock.now()
    until = min(row["resolved_at"] or now, now)
    history = await fetch_all(conn, _HISTORY, (alert_id,))
    notifications = await fetch_all(conn, _NOTIFICATIONS, (alert_id,)) if user.can_write else []
    activity = await fetch_all(conn, _ACTIVITY, {"home": row["home_id"], "since": until - ACTIVITY_WINDOW, "until": until})
    return AlertDetail.model_validate(
        {**row, "history": history, "notifications": notifications, "activity": activity, "server_now": now}
    )


def _audited(alert_id: int, user: Principal, action: Action) -> None:
    log.info("alert_action", alert_id=alert_id, action=action, user_id=user.user_id)


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the alert is not in a state that allows this"},
    404: {"description": "not found or outside your scope"},
}


@router.post("/{alert_id}/acknowledge", response_model=AlertDetail, responses=_CONFLICT)
async def acknowledge(alert_id: Id, body: AckIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    """Claim it: the alert is yours (everyone sees whose it is), leaves the open queue and stops
    escalating. 409 when it is not open, e.g. someone else claimed it first."""
    await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    if not await lifecycle.acknowledge(conn, alert_id, actor_id=user.user_id, now=ctx.clock.now(), note=body.note):
        raise HTTPException(status.HTTP_409_CONFLICT, "alert is not open (already claimed?) / 警报不是待处理状态（可能已被认领）")
    _audited(alert_id, user, "acknowledged")
    return await get_alert(alert_id, user, ctx, conn)


@router.post(
    "/{alert_id}/attempts",
    response_model=AlertDetail,
    status_code=status.HTTP_201_CREATED,
    responses={**_CONFLICT, 422: {"description": "no such emergency contact"}},
)
async def log_attempt(alert_id: Id, body: AttemptIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    """Log one attempt of the care centre's protocol (a call to the resident, to an emergency contact
    by their place in the list, a dispatch) with its result. The alert must be claimed first (409)."""
    alert = await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    contact = await _contact(conn, alert["resident_id"], body)
    tried = lifecycle.Attempt(body.step, body.result, body.contact_index, contact)
    if not await lifecycle.attempt(conn, alert_id, actor_id=user.user_id, now=ctx.clock.now(), tried=tried, note=body.note):
        raise HTTPException(status.HTTP_409_CONFLICT, "claim the alert first / 请先认领警报")
    _audited(alert_id, user, "attempted")
    return await get_alert(alert_id, user, ctx, conn)


async def _contact(conn: Conn, resident_id: int | None, body: AttemptIn) -> str | None:
    """The name of the contact called (call_contact needs a contact that exists; other steps none)."""
    if body.step != "call_contact":
        if body.contact_index is not None:
            raise InvalidInputError(("body", "contact_index"), "contact_index is for call_contact / 仅致电联系人需要联系人")
        return None
    row = await fetch_one(conn, _CONTACTS, (resident_id,)) if resident_id is not None else None
    contacts = row["emergency_contacts"] if row else []
    if body.contact_index is None or body.contact_index >= len(contacts):
        raise InvalidInputError(("body", "contact_index"), "no such emergency contact / 无此紧急联系人")
    return str(contacts[body.contact_index].get("name") or "")


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertDetail,
    responses={**_CONFLICT, 422: {"description": "a critical alert needs a note saying what happened"}},
)
async def resolve(alert_id: Id, body: ResolveIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    """Close the alert with an outcome; a critical one also with a note saying what happened."""
    alert = await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    if alert["status"] != "resolved" and resolution_needs_note(alert["severity"]) and not (body.note or "").strip():
        raise InvalidInputError(("body", "note"), "a critical alert needs a note saying what happened / 紧急警报须填写处理说明")
    now = ctx.clock.now()
    if not await lifecycle.resolve(conn, alert_id, actor_id=user.user_id, now=now, outcome=body.outcome, note=body.note):
        raise HTTPException(status.HTTP_409_CONFLICT, "alert is already resolved / 警报已解决")
    _audited(alert_id, user, "resolved")
    return await get_alert(alert_id, user, ctx, conn)


@router.post("/{alert_id}/comments", response_model=AlertDetail, status_code=status.HTTP_201_CREATED, responses=_CONFLICT)
async def comment(alert_id: Id, body: CommentIn, user: Writer, ctx: Ctx, conn: Conn) -> AlertDetail:
    await fetch_visible(conn, alert_rows.ONE, user.params(id=alert_id))
    await lifecycle.comment(conn, alert_id, actor_id=user.user_id, now=ctx.clock.now(), note=body.note)
    _audited(alert_id, user, "commented")
    return await get_alert(alert_id, user, ctx, conn)


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
    return await get_alert(alert_id, user, ctx, conn)
