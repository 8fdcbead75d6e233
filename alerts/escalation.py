"""Escalation of alerts nobody acknowledged in time.

An open alert carries ``next_escalation_at`` (set when it opens, from its severity). When that
passes and the alert is still ``open`` (the API moves it to ``acknowledged``), the next level is
reached: level 1 reminds the duty staff and notifies the supervisor channels (tier 1); level 2
reminds both and notifies the resident's emergency contacts. Acknowledging stops it, because
only ``status = 'open'`` alerts are claimed, and the outbox cancels reminders of alerts that were
acknowledged before the reminder went out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.context import load_context
from alerts.notify.enqueue import MAX_LEVEL, enqueue
from alerts.store import escalation_delay, history
from eldercare import logs
from eldercare.config import AlertsSettings

log = logs.get("alerts")

_DUE = """
SELECT id, home_id, resident_id, care_centre_id, kind, severity, status, explanation_en, explanation_zh, opened_at,
       escalation_level
  FROM alerts
 WHERE status = 'open' AND next_escalation_at <= %s
 ORDER BY next_escalation_at LIMIT %s
   FOR UPDATE SKIP LOCKED
"""
_STEP = "UPDATE alerts SET escalation_level = %s, next_escalation_at = %s, updated_at = %s WHERE id = %s"


async def escalate_due(conn: AsyncConnection[Any], settings: AlertsSettings, now: datetime, *, limit: int = 50) -> int:
    """Escalate every due alert by one level; the caller commits. Returns how many."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DUE, (now, limit))
        due = await cur.fetchall()
    for alert in due:
        await _escalate(conn, alert, settings, now)
    return len(due)


async def _escalate(conn: AsyncConnection[Any], alert: dict[str, Any], settings: AlertsSettings, now: datetime) -> None:
    level = int(alert["escalation_level"]) + 1
    delay = escalation_delay(settings, alert["severity"])
    following = now + delay if delay is not None and level < MAX_LEVEL else None
    await conn.execute(_STEP, (level, following, now, alert["id"]))
    ctx = await load_context(conn, alert["home_id"])
    queued = 0
    if ctx is not None:
        queued += await enqueue(conn, ctx, alert, purpose="reminder", level=level, now=now)
        queued += await enqueue(conn, ctx, alert, purpose="escalation", level=level, now=now)
    await history(conn, alert["id"], now, "escalated", level=level, notifications=queued)
    log.info("alert_escalated", alert_id=alert["id"], home_id=alert["home_id"], level=level, notifications=queued)
