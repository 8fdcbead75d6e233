"""The fall pipeline's reads and writes (what is decided is in :mod:`alerts.falls`).

Three moments, each in the caller's transaction:

* a fall event from the inbox opens the alert *pending* until the candidate's wait ends (or, with
  the window switched off, raises it at once);
* a button press from the inbox answers the home's pending fall when it falls inside the wait:
  one press closes it (the press raises no SOS), another pattern raises it (and its SOS);
* the engine's outbox loop (every ``outbox_poll_interval_s``) judges the pending falls whose wait
  is over, with the home's activity since, claimed ``FOR UPDATE SKIP LOCKED`` so that any number
  of engine copies judge each once.

Raising a pending fall is :func:`alerts.changes.confirm` (its notifications go out then); closing
it notifies nobody. Both go through the one writer, :mod:`eldercare.domain.alerts.lifecycle`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from alerts import falls
from alerts.changes import confirm, open_or_update
from alerts.context import HomeContext, load_context
from alerts.event_rules import InboxItem
from alerts.findings import finding
from alerts.snapshot import activity
from eldercare import logs
from eldercare.config import AlertsSettings
from eldercare.domain.alerts import lifecycle

log = logs.get("alerts")
_DUE_BATCH = 100


@dataclass
class Decided:
    """What one pass over the due falls did (kinds raised; alerts closed without a call)."""

    raised: list[str] = field(default_factory=list)
    closed: int = 0


async def on_fall(
    conn: AsyncConnection[Any], ctx: HomeContext, item: InboxItem, *, settings: AlertsSettings, now: datetime
) -> lifecycle.Change | None:
    """Open the alert of a fall event: pending until its wait ends, or raised at once."""
    seen = await activity(conn, ctx.home_id, item.ts - falls.LOOKBACK, max(now, item.ts))
    c = falls.candidate(item, ctx.rules.fall, seen)
    found = falls.as_finding(item, c, [falls.opening(item, c, ctx.zone)], "critical")
    if c.immediate:
        return await open_or_update(conn, ctx, found, now=now, settings=settings, source_key=item.source_key)
    change = await lifecycle.open_or_update(
        conn, ctx, found, now=now, told_at=now, settings=settings, source_key=item.source_key, pending_until=c.decide_at
    )
    if change is not None and change.created:
        log.info("fall_pending", alert_id=change.alert["id"], home_id=ctx.home_id, soft=c.soft, in_bed=c.in_bed)
    return change


async def on_press(
    conn: AsyncConnection[Any], ctx: HomeContext, item: InboxItem, *, settings: AlertsSettings, now: datetime
) -> bool:
    """A button press that answers the home's pending fall. True when it said "I'm OK" (the fall
    is closed and the press is no SOS); False otherwise (a call for help raises the fall too)."""
    pending = await lifecycle.pending_of(conn, ctx.home_id, "fall")
    if pending is None:
        return False
    c = falls.Candidate.from_json(pending["evidence"]["candidate"])
    if not c.at <= item.ts <= pending["pending_until"]:
        return False  # before the fall, or after its window: a press like any other
    verdict = falls.answer(c, str(item.data.get("press", "single")), item.ts, ctx.zone)
    await _apply(conn, ctx, pending, verdict, settings=settings, now=now)
    return verdict.outcome is not None


async def decide_due(conn: AsyncConnection[Any], settings: AlertsSettings, now: datetime) -> Decided:
    """Judge every pending fall whose wait is over (the caller commits)."""
    decided = Decided()
    for row in await lifecycle.pending_due(conn, now, limit=_DUE_BATCH):
        ctx = await load_context(conn, row["home_id"])
        if ctx is None:
            continue  # the home was deleted while its fall waited: nothing to tell anyone
        c = falls.Candidate.from_json(row["evidence"]["candidate"])
        seen = await activity(conn, ctx.home_id, c.at - falls.LOOKBACK, now)
        verdict = falls.judge(c, seen, now, ctx.zone)
        await _apply(conn, ctx, row, verdict, settings=settings, now=now)
        if verdict.outcome is None:
            decided.raised.append("fall")
        else:
            decided.closed += 1
    return decided


async def _apply(
    conn: AsyncConnection[Any],
    ctx: HomeContext,
    alert: dict[str, Any],
    verdict: falls.Verdict,
    *,
    settings: AlertsSettings,
    now: datetime,
) -> None:
    evidence = dict(alert["evidence"])
    evidence["steps"] = [*evidence.get("steps", []), verdict.step.as_json()]
    en = f"{alert['explanation_en']} {verdict.step.en}"
    zh = f"{alert['explanation_zh']}{verdict.step.zh}"
    found = finding("fall", en, zh, evidence, verdict.severity)
    if verdict.outcome is None:
        await confirm(conn, ctx, int(alert["id"]), found, now=now, settings=settings)
        log.info("fall_raised", alert_id=alert["id"], home_id=ctx.home_id, severity=verdict.severity)
    else:
        await lifecycle.close_pending(conn, int(alert["id"]), found, outcome=verdict.outcome, now=now)
        log.info("fall_closed", alert_id=alert["id"], home_id=ctx.home_id, outcome=verdict.outcome)
