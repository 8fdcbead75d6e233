"""The engine's side of the alert lifecycle: each change it asks of the one writer
(:mod:`eldercare.domain.alerts.lifecycle`), with the notifications that change owes.

Everything runs inside the caller's transaction, together with the inbox delete or the periodic
evaluation that caused it, so an alert change, its history row and its notifications commit
together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from alerts.context import HomeContext
from alerts.findings import Finding
from alerts.notify.enqueue import enqueue, quiet_until
from eldercare import logs
from eldercare.config import AlertsSettings
from eldercare.domain.alerts import lifecycle
from eldercare.domain.alerts.catalogue import held_by_quiet_hours
from eldercare.domain.alerts.lifecycle import Change

log = logs.get("alerts")


async def open_or_update(
    conn: AsyncConnection[Any],
    ctx: HomeContext,
    found: Finding,
    *,
    now: datetime,
    settings: AlertsSettings,
    source_key: str | None = None,
) -> Change | None:
    """Open an alert for ``found`` and enqueue its notifications, or update the open one of its kind.

    Returns None when ``source_key`` was already used (a redelivered event: nothing to do)."""
    # Escalation counts from when staff can first be told: after the quiet hours for non-critical.
    told_at = now
    if held_by_quiet_hours(found.kind, found.severity):
        told_at = quiet_until(now, ctx.centre_zone, ctx.quiet_start, ctx.quiet_end) or now
    change = await lifecycle.open_or_update(conn, ctx, found, now=now, told_at=told_at, settings=settings, source_key=source_key)
    if change is not None and change.created and not await enqueue(conn, ctx, change.alert, purpose="opened", level=0, now=now):
        # Still on the dashboard, but nobody is pushed: an operator should add a channel.
        log.warning("alert_without_channels", alert_id=change.alert["id"], care_centre_id=ctx.care_centre_id)
    return change


async def confirm(
    conn: AsyncConnection[Any], ctx: HomeContext, alert_id: int, found: Finding, *, now: datetime, settings: AlertsSettings
) -> dict[str, Any] | None:
    """Raise a pending alert (a fall nobody cancelled) as ``found`` and enqueue its notifications,
    as :func:`open_or_update` does for a new alert. None when it was no longer pending."""
    told_at = now
    if found.severity != "critical":
        told_at = quiet_until(now, ctx.centre_zone, ctx.quiet_start, ctx.quiet_end) or now
    alert = await lifecycle.confirm(conn, alert_id, found, now=now, told_at=told_at, settings=settings)
    if alert is not None and not await enqueue(conn, ctx, alert, purpose="opened", level=0, now=now):
        log.warning("alert_without_channels", alert_id=alert_id, care_centre_id=ctx.care_centre_id)
    return alert


async def auto_resolve(conn: AsyncConnection[Any], ctx: HomeContext, kind: str, now: datetime) -> int | None:
    """The system resolves the unresolved alert of ``kind`` (its condition is gone) and tells the duty staff."""
    resolved = await lifecycle.auto_resolve(conn, ctx.home_id, kind, now)
    if resolved is None:
        return None
    await enqueue(conn, ctx, resolved, purpose="resolved", level=0, now=now)
    return int(resolved["id"])
