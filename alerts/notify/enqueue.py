"""Putting notifications into notification_outbox, in the transaction that changed the alert.

An alert is therefore committed before anyone is notified, and a notification exists exactly when
its alert change does. ``dedupe_key`` is unique: however many engine copies try, each
notification is enqueued once. Quiet hours (the care centre's local time) delay non-critical
notifications (except the catalogue's ``immediate`` kinds, a water leak) to the end of the quiet period; they are never dropped.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from alerts.context import HomeContext
from alerts.notify.messages import build_payload
from eldercare.domain.alerts.catalogue import LAST_ESCALATION_LEVEL, held_by_quiet_hours, severity_rank

_INSERT = """
INSERT INTO notification_outbox (alert_id, channel_id, recipient, purpose, escalation_level, dedupe_key,
                                 payload, next_attempt_at, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (dedupe_key) DO NOTHING
"""
# Which channels hear about an alert at each escalation level: the duty staff (tier 0) at once,
# the supervisor (tier 1) at level 1, the resident's emergency contacts at level 2.
NEW_TIER: dict[int, tuple[int, ...]] = {0: (0,), 1: (1,), 2: ()}
REMIND_TIERS: dict[int, tuple[int, ...]] = {0: (), 1: (0,), 2: (0, 1)}
CONTACTS_LEVEL = LAST_ESCALATION_LEVEL


def quiet_until(now: datetime, zone: ZoneInfo, start: time | None, end: time | None) -> datetime | None:
    """The end of the quiet period ``now`` falls in, or None when not in quiet hours."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else t >= start or t < end
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


async def enqueue(
    conn: AsyncConnection[Any], ctx: HomeContext, alert: dict[str, Any], *, purpose: str, level: int, now: datetime
) -> int:
    """Enqueue the notifications of one alert change; returns how many rows were new."""
    due = now
    if held_by_quiet_hours(alert["kind"], alert["severity"]):
        due = quiet_until(now, ctx.centre_zone, ctx.quiet_start, ctx.quiet_end) or now
    payload = Jsonb(build_payload(alert, purpose, level))
    rows: list[tuple[Any, ...]] = []
    base = f"alert:{alert['id']}:{purpose}:{level}"
    tiers = REMIND_TIERS[level] if purpose == "reminder" else NEW_TIER.get(level, ())
    if purpose == "resolved":
        tiers = (0,)
    for channel_id in _channels(ctx, tiers, alert["severity"]):
        rows.append((alert["id"], channel_id, None, purpose, level, f"{base}:ch:{channel_id}", payload, due, now))
    if purpose == "escalation" and level == CONTACTS_LEVEL:
        for key, recipient in _contact_recipients(ctx):
            rows.append((alert["id"], None, Jsonb(recipient), purpose, level, f"{base}:{key}", payload, due, now))
    if not rows:
        return 0
    async with conn.cursor() as cur:
        await cur.executemany(_INSERT, rows)  # pipelined: one round trip for every recipient
        return max(0, cur.rowcount)


def _channels(ctx: HomeContext, tiers: tuple[int, ...], severity: str) -> list[int]:
    rank = severity_rank(severity)
    return [c.id for c in ctx.channels if c.tier in tiers and rank >= severity_rank(c.min_severity)]


def _contact_recipients(ctx: HomeContext) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for index, contact in enumerate(ctx.emergency_contacts):
        for kind, field in (("email", "email"), ("apprise", "apprise_url")):
            target = contact.get(field)
            if isinstance(target, str) and target:
                out.append((f"contact:{index}:{kind}", {"kind": kind, "target": target, "contact_index": index}))
    return out
