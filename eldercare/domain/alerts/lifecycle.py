"""The one writer of alerts: every transition and its history row, whoever asks.

The alert engine opens, updates, escalates and auto-resolves; staff (through the API)
acknowledge (which claims the alert: it is theirs now, and everyone sees it), log the attempts of
the care centre's protocol, comment, assign and resolve. Each function runs in the caller's transaction and
writes the alert change together with its ``alert_history`` row (actor NULL = the system), so the
caller's other writes (inbox delete, notifications) commit with it or not at all. The escalation
schedule (``next_escalation_at``) is kept here too: opening sets it from the severity, every
acknowledgement or resolution clears it, and nobody else touches it.

``alerts_one_open`` (one unresolved alert per home and kind) and ``source_key`` make opening
idempotent across any number of engine copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from eldercare.config import AlertsSettings
from eldercare.domain.alerts.catalogue import (
    AUTO_RESOLVED,
    LAST_ESCALATION_LEVEL,
    Action,
    AttemptResult,
    Severity,
    StaffOutcome,
    Step,
    SystemOutcome,
    worst,
)
from eldercare.errors import TransientError

# What notifications and the engine need of an alert row.
_COLUMNS = (
    "id, home_id, resident_id, care_centre_id, kind, severity, status, explanation_en, explanation_zh, opened_at,"
    " escalation_level"
)
_INSERT = f"""
INSERT INTO alerts (home_id, resident_id, care_centre_id, kind, severity, explanation_en, explanation_zh, evidence,
                    source_key, opened_at, updated_at, next_escalation_at, status, pending_until)
SELECT %(home)s, %(resident)s, %(centre)s, %(kind)s, %(severity)s, %(en)s, %(zh)s, %(evidence)s, %(source)s::text,
       %(now)s, %(now)s, %(escalate_at)s, %(status)s, %(pending_until)s
 WHERE %(source)s::text IS NULL OR NOT EXISTS (SELECT 1 FROM alerts WHERE source_key = %(source)s::text)
ON CONFLICT DO NOTHING
RETURNING {_COLUMNS}
"""
_SOURCE_USED = "SELECT 1 FROM alerts WHERE source_key = %s"
_OPEN_ID = "SELECT id FROM alerts WHERE home_id = %s AND kind = %s AND status <> 'resolved'"
_OPEN_ALERT = f"SELECT {_COLUMNS}, evidence FROM alerts WHERE home_id = %s AND kind = %s AND status <> 'resolved' FOR UPDATE"
_UPDATE = f"""
UPDATE alerts SET severity = %s, explanation_en = %s, explanation_zh = %s, evidence = %s, updated_at = %s
 WHERE id = %s RETURNING {_COLUMNS}
"""
_AUTO_RESOLVE = f"""
UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = '{AUTO_RESOLVED}', updated_at = %s, next_escalation_at = NULL
 WHERE id = %s RETURNING {_COLUMNS}
"""
_DUE = f"""
SELECT {_COLUMNS} FROM alerts
 WHERE status = 'open' AND next_escalation_at <= %s
 ORDER BY next_escalation_at LIMIT %s
   FOR UPDATE SKIP LOCKED
"""
_ESCALATE = "UPDATE alerts SET escalation_level = %s, next_escalation_at = %s, updated_at = %s WHERE id = %s"
_ACKNOWLEDGE = (
    "UPDATE alerts SET status = 'acknowledged', acknowledged_at = %(now)s, acknowledged_by = %(actor)s, updated_at = %(now)s,"
    " assigned_to = %(actor)s, next_escalation_at = NULL WHERE id = %(id)s AND status = 'open' RETURNING id"
)
_ATTEMPT = "UPDATE alerts SET updated_at = %s WHERE id = %s AND status = 'acknowledged' RETURNING id"
_RESOLVE = (
    "UPDATE alerts SET status = 'resolved', resolved_at = %(now)s, resolved_by = %(actor)s, outcome = %(outcome)s,"
    " resolution_note = %(note)s, acknowledged_at = coalesce(acknowledged_at, %(now)s),"
    " acknowledged_by = coalesce(acknowledged_by, %(actor)s), updated_at = %(now)s, next_escalation_at = NULL"
    " WHERE id = %(id)s AND status <> 'resolved' RETURNING id"
)
# A pending alert (a fall waiting for the resident): nothing escalates it until it is confirmed.
_PENDING_DUE = f"""
SELECT {_COLUMNS}, evidence, pending_until FROM alerts
 WHERE status = 'pending' AND pending_until <= %s
 ORDER BY pending_until LIMIT %s
   FOR UPDATE SKIP LOCKED
"""
_PENDING_OF = (
    f"SELECT {_COLUMNS}, evidence, pending_until FROM alerts WHERE home_id = %s AND kind = %s AND status = 'pending' FOR UPDATE"
)
_CONFIRM = f"""
UPDATE alerts SET status = 'open', severity = %(severity)s, explanation_en = %(en)s, explanation_zh = %(zh)s,
       evidence = %(evidence)s, pending_until = NULL, updated_at = %(now)s, next_escalation_at = %(escalate_at)s
 WHERE id = %(id)s AND status = 'pending' RETURNING {_COLUMNS}
"""
_CLOSE_PENDING = f"""
UPDATE alerts SET status = 'resolved', resolved_at = %(now)s, outcome = %(outcome)s, explanation_en = %(en)s,
       explanation_zh = %(zh)s, evidence = %(evidence)s, pending_until = NULL, updated_at = %(now)s, next_escalation_at = NULL
 WHERE id = %(id)s AND status = 'pending' RETURNING {_COLUMNS}
"""
_TOUCH = "UPDATE alerts SET updated_at = %s WHERE id = %s"
_ASSIGN = "UPDATE alerts SET assigned_to = %s, updated_at = %s WHERE id = %s"
_HISTORY = "INSERT INTO alert_history (alert_id, at, actor_id, action, note, details) VALUES (%s, %s, %s, %s, %s, %s)"

Row = dict[str, Any]


class Subject(Protocol):
    """Whom an alert is about (the engine's HomeContext is one)."""

    @property
    def home_id(self) -> str: ...
    @property
    def resident_id(self) -> int | None: ...
    @property
    def care_centre_id(self) -> int: ...


class Raised(Protocol):
    """What a rule found (the engine's Finding is one)."""

    @property
    def kind(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def explanation_en(self) -> str: ...
    @property
    def explanation_zh(self) -> str: ...
    @property
    def evidence(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Change:
    alert: Row  # the alert after the change (the columns of _COLUMNS)
    created: bool


def escalation_delay(settings: AlertsSettings, severity: str) -> timedelta | None:
    """How long an alert of ``severity`` may stay unacknowledged before the next level; None = never."""
    seconds = {
        "critical": settings.escalate_critical_s,
        "high": settings.escalate_high_s,
        "medium": settings.escalate_medium_s,
        "low": settings.escalate_low_s,
    }[severity]
    return timedelta(seconds=seconds) if seconds > 0 else None


async def _history(
    conn: AsyncConnection[Any],
    alert_id: int,
    now: datetime,
    action: Action,
    note: str | None = None,
    *,
    actor_id: int | None = None,
    **details: Any,
) -> None:
    await conn.execute(_HISTORY, (alert_id, now, actor_id, action, note, Jsonb(details)))


# ------------------------------------------------------------------ the system (the alert engine)


async def open_or_update(
    conn: AsyncConnection[Any],
    subject: Subject,
    found: Raised,
    *,
    now: datetime,
    told_at: datetime,
    settings: AlertsSettings,
    source_key: str | None = None,
    pending_until: datetime | None = None,
) -> Change | None:
    """Open an alert for ``found``, or update the open one of its kind (severity only ever rises).

    ``told_at`` is when staff can first be told (after quiet hours): escalation counts from then.
    With ``pending_until`` a new alert opens as pending: nothing escalates it until :func:`confirm`.
    Returns None when ``source_key`` was already used (a redelivered event: nothing to do)."""
    params = _insert_params(subject, found, now, told_at, settings, source_key)
    if pending_until is not None:
        params.update(status="pending", pending_until=pending_until, escalate_at=None)
    # Two tries: the open alert that blocked the insert may be resolved (by staff) before we read it.
    for _ in range(2):
        async with conn.cursor(row_factory=dict_row) as cur:
            # One round trip on the hot path: a redelivered event or an open alert of the kind inserts nothing.
            await cur.execute(_INSERT, params)
            created = await cur.fetchone()
            if created is not None:
                await _history(conn, created["id"], now, "opened", severity=found.severity, source=source_key)
                return Change(created, created=True)
            if source_key is not None:
                await cur.execute(_SOURCE_USED, (source_key,))
                if await cur.fetchone() is not None:
                    return None  # a redelivered event: it has raised its alert already
            await cur.execute(_OPEN_ALERT, (subject.home_id, found.kind))
            current = await cur.fetchone()
        if current is not None:
            return Change(await _update(conn, current, found, now, source_key), created=False)
    raise TransientError(f"alert of kind {found.kind} kept changing while being opened")


def _insert_params(
    subject: Subject, found: Raised, now: datetime, told_at: datetime, settings: AlertsSettings, source_key: str | None
) -> dict[str, Any]:
    delay = escalation_delay(settings, found.severity)
    return {
        "home": subject.home_id, "resident": subject.resident_id, "centre": subject.care_centre_id, "kind": found.kind,
        "severity": found.severity, "en": found.explanation_en, "zh": found.explanation_zh,
        "evidence": Jsonb(found.evidence), "source": source_key, "now": now,
        "escalate_at": told_at + delay if delay else None, "status": "open", "pending_until": None,
    }  # fmt: skip


async def _update(conn: AsyncConnection[Any], current: Row, found: Raised, now: datetime, source_key: str | None) -> Row:
    severity = worst(current["severity"], found.severity)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _UPDATE, (severity, found.explanation_en, found.explanation_zh, Jsonb(found.evidence), now, current["id"])
        )
        updated = await cur.fetchone()
    assert updated is not None  # locked FOR UPDATE by the caller's read
    await _history(
        conn, current["id"], now, "updated", severity=severity, previous_severity=current["severity"], source=source_key
    )
    return updated


async def refresh_devices(conn: AsyncConnection[Any], home_id: str, found: Raised, now: datetime) -> bool:
    """An open device alert lists the devices concerned now: when another sensor goes offline (or
    its battery low) while the alert is open, staff must see it, not silence. True when updated."""
    if "devices" not in found.evidence:
        return False
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_OPEN_ALERT, (home_id, found.kind))
        current = await cur.fetchone()
    if current is None or _device_ids(current["evidence"]) == _device_ids(found.evidence):
        return False
    await _update(conn, current, found, now, None)
    return True


def _device_ids(evidence: dict[str, Any]) -> set[str]:
    return {str(d.get("id")) for d in evidence.get("devices", []) if isinstance(d, dict)}


async def auto_resolve(conn: AsyncConnection[Any], home_id: str, kind: str, now: datetime) -> Row | None:
    """The system resolves the unresolved alert of ``kind`` (its condition is gone); None when there is none."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_OPEN_ALERT, (home_id, kind))
        current = await cur.fetchone()
        if current is None:
            return None
        await cur.execute(_AUTO_RESOLVE, (now, now, current["id"]))
        resolved = await cur.fetchone()
    assert resolved is not None
    await _history(conn, resolved["id"], now, "resolved", "condition cleared", outcome=AUTO_RESOLVED)
    return resolved


async def pending_due(conn: AsyncConnection[Any], now: datetime, *, limit: int) -> list[Row]:
    """Pending alerts whose wait is over, locked for this transaction (other copies skip them)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PENDING_DUE, (now, limit))
        return await cur.fetchall()


async def pending_of(conn: AsyncConnection[Any], home_id: str, kind: str) -> Row | None:
    """The home's pending alert of ``kind``, locked; None when there is none."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PENDING_OF, (home_id, kind))
        return await cur.fetchone()


async def confirm(
    conn: AsyncConnection[Any], alert_id: int, found: Raised, *, now: datetime, told_at: datetime, settings: AlertsSettings
) -> Row | None:
    """A pending alert becomes open (staff are told now): its severity, explanation and evidence are
    ``found``'s and escalation counts from ``told_at``. None when it was no longer pending."""
    delay = escalation_delay(settings, found.severity)
    params = {
        "id": alert_id, "severity": found.severity, "en": found.explanation_en, "zh": found.explanation_zh,
        "evidence": Jsonb(found.evidence), "now": now, "escalate_at": told_at + delay if delay else None,
    }  # fmt: skip
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CONFIRM, params)
        confirmed = await cur.fetchone()
    if confirmed is not None:
        await _history(conn, alert_id, now, "confirmed", severity=found.severity)
    return confirmed


async def close_pending(
    conn: AsyncConnection[Any], alert_id: int, found: Raised, *, outcome: SystemOutcome, now: datetime
) -> Row | None:
    """The system closes a pending alert with ``outcome`` (the resident answered, got up, turned
    over): nobody is told, the alert stays in the history. None when it was no longer pending."""
    params = {
        "id": alert_id, "outcome": outcome, "en": found.explanation_en, "zh": found.explanation_zh,
        "evidence": Jsonb(found.evidence), "now": now,
    }  # fmt: skip
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CLOSE_PENDING, params)
        closed = await cur.fetchone()
    if closed is not None:
        await _history(conn, alert_id, now, "resolved", outcome=outcome)
    return closed


async def note_cleared(conn: AsyncConnection[Any], home_id: str, kind: str, now: datetime) -> None:
    """Tell staff in the history that a condition they have not closed yet is gone (e.g. activity resumed)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_OPEN_ID, (home_id, kind))
        row = await cur.fetchone()
    if row is not None:
        await _history(conn, row["id"], now, "updated", "condition cleared", condition="cleared")


async def due_for_escalation(conn: AsyncConnection[Any], now: datetime, *, limit: int) -> list[Row]:
    """Open alerts whose escalation is due, locked for this transaction (other copies skip them)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DUE, (now, limit))
        return await cur.fetchall()


def next_level(alert: Row) -> int:
    return int(alert["escalation_level"]) + 1


async def escalate(conn: AsyncConnection[Any], alert: Row, *, settings: AlertsSettings, now: datetime, notifications: int) -> int:
    """Step a due alert (from :func:`due_for_escalation`) to :func:`next_level`; returns that level."""
    level = next_level(alert)
    delay = escalation_delay(settings, alert["severity"])
    following = now + delay if delay is not None and level < LAST_ESCALATION_LEVEL else None
    await conn.execute(_ESCALATE, (level, following, now, alert["id"]))
    await _history(conn, alert["id"], now, "escalated", level=level, notifications=notifications)
    return level


# ------------------------------------------------------------------ staff (the API)


async def acknowledge(conn: AsyncConnection[Any], alert_id: int, *, actor_id: int, now: datetime, note: str | None) -> bool:
    """Someone is on it: the alert is theirs (assigned to them), leaves the open queue and stops
    escalating. False unless it was open (someone else claimed it first)."""
    async with conn.cursor() as cur:
        await cur.execute(_ACKNOWLEDGE, {"id": alert_id, "actor": actor_id, "now": now})
        if await cur.fetchone() is None:
            return False
    await _history(conn, alert_id, now, "acknowledged", note, actor_id=actor_id)
    return True


async def resolve(
    conn: AsyncConnection[Any], alert_id: int, *, actor_id: int, now: datetime, outcome: StaffOutcome, note: str | None
) -> bool:
    """Close the alert with an outcome. False when it was resolved already."""
    params = {"id": alert_id, "actor": actor_id, "now": now, "outcome": outcome, "note": note}
    async with conn.cursor() as cur:
        await cur.execute(_RESOLVE, params)
        if await cur.fetchone() is None:
            return False
    await _history(conn, alert_id, now, "resolved", note, actor_id=actor_id, outcome=outcome)
    return True


@dataclass(frozen=True)
class Attempt:
    """One try at a step of the protocol: whom (a contact's place in the resident's list), and what came of it."""

    step: Step
    result: AttemptResult
    contact_index: int | None = None
    contact_name: str | None = None


async def attempt(
    conn: AsyncConnection[Any], alert_id: int, *, actor_id: int, now: datetime, tried: Attempt, note: str | None
) -> bool:
    """Log one attempt of the protocol on a claimed alert. False unless the alert is acknowledged."""
    async with conn.cursor() as cur:
        await cur.execute(_ATTEMPT, (now, alert_id))
        if await cur.fetchone() is None:
            return False
    details = {"step": tried.step, "result": tried.result, "contact_index": tried.contact_index}
    await _history(conn, alert_id, now, "attempted", note, actor_id=actor_id, contact_name=tried.contact_name, **details)
    return True


async def comment(conn: AsyncConnection[Any], alert_id: int, *, actor_id: int, now: datetime, note: str) -> None:
    await conn.execute(_TOUCH, (now, alert_id))
    await _history(conn, alert_id, now, "commented", note, actor_id=actor_id)


async def assign(conn: AsyncConnection[Any], alert_id: int, *, actor_id: int, now: datetime, assignee: int | None) -> None:
    """Give the alert to ``assignee`` (None takes it back); who may be assigned is the caller's rule."""
    await conn.execute(_ASSIGN, (assignee, now, alert_id))
    await _history(conn, alert_id, now, "assigned", actor_id=actor_id, assigned_to=assignee)
