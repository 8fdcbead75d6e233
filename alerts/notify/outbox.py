"""Delivering notification_outbox rows: claimed with SKIP LOCKED, every attempt recorded.

A batch of due rows is locked (``FOR UPDATE ... SKIP LOCKED``) for the time it takes to send it,
then the outcome (sent, retry later with exponential backoff and jitter, failed for good) and one
notification_attempts row per attempt are committed together. Another engine copy skips locked
rows, so nothing is sent twice by two copies; if this process dies while sending, PostgreSQL
drops the locks and the rows are sent again later: delivery is at least once, and the webhook's
``X-Eldercare-Delivery`` header lets receivers drop the rare repeat.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.notify.channels import Delivery, Senders, SendResult
from eldercare import logs
from eldercare.config import AlertsSettings

log = logs.get("alerts")

_CLAIM = """
SELECT o.id, o.purpose, o.attempts, o.recipient, o.payload, o.channel_id,
       c.kind AS channel_kind, c.target, c.secret, c.enabled, a.status AS alert_status
  FROM notification_outbox o
  LEFT JOIN alerts a ON a.id = o.alert_id  -- NULL for a platform notice (alerts.platform)
  LEFT JOIN notification_channels c ON c.id = o.channel_id
 WHERE o.status = 'pending' AND o.next_attempt_at <= %s
 ORDER BY o.next_attempt_at, o.id
 LIMIT %s
   FOR UPDATE OF o SKIP LOCKED
"""
# The attempt and the outcome in one statement (one round trip): attempt first, then the update.
_ATTEMPT = """
WITH attempt AS (
    INSERT INTO notification_attempts (outbox_id, at, ok, duration_ms, status_code, error)
    VALUES (%(id)s, %(now)s, %(ok)s, %(ms)s, %(code)s, %(error)s)
)
"""
_SENT = (
    _ATTEMPT
    + """UPDATE notification_outbox SET status = 'sent', attempts = attempts + 1, sent_at = %(now)s, last_error = NULL
 WHERE id = %(id)s"""
)
_RETRY = (
    _ATTEMPT
    + """UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = %(retry_at)s, last_error = %(error)s
 WHERE id = %(id)s"""
)
_FAILED = (
    _ATTEMPT
    + """UPDATE notification_outbox SET status = 'failed', attempts = attempts + 1, last_error = %(error)s
 WHERE id = %(id)s"""
)
_CANCEL = "UPDATE notification_outbox SET status = 'cancelled', last_error = %s WHERE id = %s"


@dataclass
class BatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.cancelled


def backoff(settings: AlertsSettings, attempts: int) -> timedelta:
    """Exponential, capped, with +-20 % jitter so many failing rows do not retry in lockstep."""
    base = min(settings.notify_retry_max_s, settings.notify_retry_min_s * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


async def deliver_batch(conn: AsyncConnection[Any], senders: Senders, settings: AlertsSettings, now: datetime) -> BatchReport:
    """Send one batch of due notifications; the caller commits."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CLAIM, (now, settings.outbox_batch_size))
        rows = await cur.fetchall()
    report = BatchReport()
    sendable: list[tuple[dict[str, Any], Delivery]] = []
    for row in rows:
        reason = _cancel_reason(row)
        if reason is not None:
            await conn.execute(_CANCEL, (reason, row["id"]))
            report.cancelled += 1
        else:
            sendable.append((row, _delivery(row)))
    results = await asyncio.gather(*(senders.send(d, now.timestamp()) for _, d in sendable))
    for (row, delivery), result in zip(sendable, results, strict=True):
        await _record(conn, row, delivery, result, settings, now, report)
    return report


def _cancel_reason(row: dict[str, Any]) -> str | None:
    # Reminders and escalations exist to get an acknowledgement: once there is one, they stop.
    if row["purpose"] in ("reminder", "escalation") and row["alert_status"] != "open":
        return f"alert {row['alert_status']}"
    if row["channel_id"] is not None and not row["enabled"]:
        return "channel disabled"
    return None


def _delivery(row: dict[str, Any]) -> Delivery:
    if row["channel_id"] is not None:
        return Delivery(row["id"], row["channel_kind"], row["target"], row["secret"], row["payload"])
    recipient = row["recipient"] or {}
    return Delivery(row["id"], str(recipient.get("kind")), str(recipient.get("target")), None, row["payload"])


async def _record(
    conn: AsyncConnection[Any],
    row: dict[str, Any],
    delivery: Delivery,
    result: SendResult,
    settings: AlertsSettings,
    now: datetime,
    report: BatchReport,
) -> None:
    params = {
        "id": row["id"], "now": now, "ok": result.ok, "ms": result.duration_ms, "code": result.status_code,
        "error": result.error, "retry_at": None,
    }  # fmt: skip
    attempts = int(row["attempts"]) + 1
    if result.ok:
        await conn.execute(_SENT, params)
        report.sent += 1
        log.info("notification_sent", outbox_id=row["id"], channel=delivery.kind, attempts=attempts, ms=result.duration_ms)
    elif result.permanent or attempts >= settings.notify_max_attempts:
        await conn.execute(_FAILED, params)
        report.failed += 1
        log.error("notification_failed", outbox_id=row["id"], channel=delivery.kind, attempts=attempts, error=result.error)
    else:
        await conn.execute(_RETRY, {**params, "retry_at": now + backoff(settings, attempts)})
        report.retried += 1
        log.warning("notification_retry", outbox_id=row["id"], channel=delivery.kind, attempts=attempts, error=result.error)
