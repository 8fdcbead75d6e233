"""Escalation of alerts nobody acknowledged in time.

An open alert carries ``next_escalation_at`` (set when it opens, from its severity; see
:mod:`eldercare.domain.alerts.lifecycle`). When that passes and the alert is still ``open`` (the
API moves it to ``acknowledged``), the next level is reached: level 1 reminds the duty staff and
notifies the supervisor channels (tier 1); level 2 reminds both and notifies the resident's
emergency contacts. Acknowledging stops it, because only ``status = 'open'`` alerts are claimed,
and the outbox cancels reminders of alerts that were acknowledged before the reminder went out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from alerts.context import load_context
from alerts.notify.enqueue import enqueue
from eldercare import logs
from eldercare.config import AlertsSettings
from eldercare.domain.alerts import lifecycle

log = logs.get("alerts")


async def escalate_due(conn: AsyncConnection[Any], settings: AlertsSettings, now: datetime, *, limit: int = 50) -> int:
    """Escalate every due alert by one level; the caller commits. Returns how many."""
    due = await lifecycle.due_for_escalation(conn, now, limit=limit)
    for alert in due:
        await _escalate(conn, alert, settings, now)
    return len(due)


async def _escalate(conn: AsyncConnection[Any], alert: dict[str, Any], settings: AlertsSettings, now: datetime) -> None:
    level = lifecycle.next_level(alert)
    ctx = await load_context(conn, alert["home_id"])
    queued = 0
    if ctx is not None:
        queued += await enqueue(conn, ctx, alert, purpose="reminder", level=level, now=now)
        queued += await enqueue(conn, ctx, alert, purpose="escalation", level=level, now=now)
    await lifecycle.escalate(conn, alert, settings=settings, now=now, notifications=queued)
    log.info("alert_escalated", alert_id=alert["id"], home_id=alert["home_id"], level=level, notifications=queued)
