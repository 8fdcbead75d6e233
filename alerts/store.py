"""Alert lifecycle in the database: open or update, auto-resolve, history, hysteresis state.

Everything here runs inside the caller's transaction, together with the inbox delete or the
periodic evaluation that caused it, so an alert change, its history row and its notifications
commit together or not at all. ``alerts_one_open`` (one unresolved alert per home and kind) and
``source_key`` make opening idempotent across any number of engine copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.context import HomeContext
from alerts.findings import KINDS, SEVERITY_RANK, Finding
from alerts.notify.enqueue import enqueue, quiet_until
from eldercare import logs
from eldercare.config import AlertsSettings
from eldercare.errors import TransientError

log = logs.get("alerts")

_COLUMNS = "id, home_id, resident_id, care_centre_id, kind, severity, status, explanation_en, explanation_zh, opened_at"
_INSERT = f"""
INSERT INTO alerts (home_id, resident_id, care_centre_id, kind, severity, explanation_en, explanation_zh, evidence,
                    source_key, opened_at, updated_at, next_escalation_at)
SELECT %(home)s, %(resident)s, %(centre)s, %(kind)s, %(severity)s, %(en)s, %(zh)s, %(evidence)s, %(source)s::text,
       %(now)s, %(now)s, %(escalate_at)s
 WHERE %(source)s::text IS NULL OR NOT EXISTS (SELECT 1 FROM alerts WHERE source_key = %(source)s::text)
ON CONFLICT DO NOTHING
RETURNING {_COLUMNS}
"""
_OPEN = f"SELECT {_COLUMNS} FROM alerts WHERE home_id = %s AND kind = %s AND status <> 'resolved' FOR UPDATE"
_UPDATE = f"""
UPDATE alerts SET severity = %s, explanation_en = %s, explanation_zh = %s, evidence = %s, updated_at = %s
 WHERE id = %s RETURNING {_COLUMNS}
"""
_RESOLVE = f"""
UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'auto_resolved', updated_at = %s,
                  next_escalation_at = NULL
 WHERE id = %s RETURNING {_COLUMNS}
"""
_HISTORY = "INSERT INTO alert_history (alert_id, at, action, note, details) VALUES (%s, %s, %s, %s, %s)"


@dataclass(frozen=True)
class Opened:
    alert_id: int
    created: bool


def escalation_delay(settings: AlertsSettings, severity: str) -> timedelta | None:
    seconds = {
        "critical": settings.escalate_critical_s,
        "high": settings.escalate_high_s,
        "medium": settings.escalate_medium_s,
        "low": settings.escalate_low_s,
    }[severity]
    return timedelta(seconds=seconds) if seconds > 0 else None


async def history(
    conn: AsyncConnection[Any], alert_id: int, now: datetime, action: str, note: str | None = None, **details: Any
) -> None:
    await conn.execute(_HISTORY, (alert_id, now, action, note, Jsonb(details)))


async def open_or_update(
    conn: AsyncConnection[Any],
    ctx: HomeContext,
    found: Finding,
    *,
    now: datetime,
    settings: AlertsSettings,
    source_key: str | None = None,
) -> Opened | None:
    """Open an alert for ``found`` and enqueue its notifications, or update the open one of its kind.

    Returns None when ``source_key`` was already used (a redelivered event: nothing to do)."""
    params = _insert_params(ctx, found, now, settings, source_key)
    # Two tries: the open alert that blocked the insert may be resolved (by staff) before we read it.
    for _ in range(2):
        async with conn.cursor(row_factory=dict_row) as cur:
            # One round trip on the hot path: a redelivered event or an open alert of the kind inserts nothing.
            await cur.execute(_INSERT, params)
            created = await cur.fetchone()
            if created is not None:
                await _opened(conn, ctx, created, found, now, source_key)
                return Opened(created["id"], created=True)
            if source_key is not None:
                await cur.execute("SELECT 1 FROM alerts WHERE source_key = %s", (source_key,))
                if await cur.fetchone() is not None:
                    return None  # a redelivered event: it has raised its alert already
            await cur.execute(_OPEN, (ctx.home_id, found.kind))
            current = await cur.fetchone()
        if current is not None:
            await _update(conn, current, found, now, source_key)
            return Opened(current["id"], created=False)
    raise TransientError(f"alert of kind {found.kind} kept changing while being opened")


async def _opened(
    conn: AsyncConnection[Any], ctx: HomeContext, created: dict[str, Any], found: Finding, now: datetime, source: str | None
) -> None:
    await history(conn, created["id"], now, "opened", severity=found.severity, source=source)
    if not await enqueue(conn, ctx, created, purpose="opened", level=0, now=now):
        # Still on the dashboard, but nobody is pushed: an operator should add a channel.
        log.warning("alert_without_channels", alert_id=created["id"], care_centre_id=ctx.care_centre_id)


def _insert_params(
    ctx: HomeContext, found: Finding, now: datetime, settings: AlertsSettings, source_key: str | None
) -> dict[str, Any]:
    delay = escalation_delay(settings, found.severity)
    # Escalation counts from when staff can first be told: after the quiet hours for non-critical.
    told_at = now
    if found.severity != "critical":
        told_at = quiet_until(now, ctx.centre_zone, ctx.quiet_start, ctx.quiet_end) or now
    return {
        "home": ctx.home_id, "resident": ctx.resident_id, "centre": ctx.care_centre_id, "kind": found.kind,
        "severity": found.severity, "en": found.explanation_en, "zh": found.explanation_zh,
        "evidence": Jsonb(found.evidence), "source": source_key, "now": now,
        "escalate_at": told_at + delay if delay else None,
    }  # fmt: skip


async def _update(
    conn: AsyncConnection[Any], current: dict[str, Any], found: Finding, now: datetime, source_key: str | None
) -> None:
    """A repeat of an open alert's condition updates it (severity only ever rises)."""
    severity = max(current["severity"], found.severity, key=lambda s: SEVERITY_RANK[s])
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _UPDATE, (severity, found.explanation_en, found.explanation_zh, Jsonb(found.evidence), now, current["id"])
        )
    await history(
        conn, current["id"], now, "updated", severity=severity, previous_severity=current["severity"], source=source_key
    )


async def auto_resolve(conn: AsyncConnection[Any], ctx: HomeContext, kind: str, now: datetime) -> int | None:
    """The system resolves the unresolved alert of ``kind`` (its condition is gone), with history."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_OPEN, (ctx.home_id, kind))
        current = await cur.fetchone()
        if current is None:
            return None
        await cur.execute(_RESOLVE, (now, now, current["id"]))
        resolved = await cur.fetchone()
    assert resolved is not None
    await history(conn, resolved["id"], now, "resolved", "condition cleared", outcome="auto_resolved")
    await enqueue(conn, ctx, resolved, purpose="resolved", level=0, now=now)
    return int(resolved["id"])


async def note_cleared(conn: AsyncConnection[Any], ctx: HomeContext, kind: str, now: datetime) -> None:
    """Tell staff in the history that a condition they have not closed yet is gone (e.g. activity resumed)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id FROM alerts WHERE home_id = %s AND kind = %s AND status <> 'resolved'", (ctx.home_id, kind))
        row = await cur.fetchone()
    if row is not None:
        await history(conn, row["id"], now, "updated", "condition cleared", condition="cleared")


async def refresh_device_list(conn: AsyncConnection[Any], ctx: HomeContext, found: Finding, now: datetime) -> None:
    """A device alert that is open lists the devices concerned now: when another sensor goes
    offline (or its battery low) while the alert is open, staff must see it, not silence."""
    if "devices" not in found.evidence:
        return
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, severity, evidence FROM alerts WHERE home_id = %s AND kind = %s AND status <> 'resolved' FOR UPDATE",
            (ctx.home_id, found.kind),
        )
        current = await cur.fetchone()
    if current is None or _device_ids(current["evidence"]) == _device_ids(found.evidence):
        return
    await _update(conn, current, found, now, None)


def _device_ids(evidence: dict[str, Any]) -> set[str]:
    return {str(d.get("id")) for d in evidence.get("devices", []) if isinstance(d, dict)}


def auto_resolves(kind: str) -> bool:
    return KINDS[kind].auto_resolve
