"""The two ways rules run: on inbox items (events, gateway status) and periodically per home.

Inbox items are claimed with ``FOR UPDATE SKIP LOCKED`` and deleted in the transaction that
records their outcome: each is handled exactly once by whichever engine copy claims it, and an
engine that dies mid-way leaves them for the next. Periodic judging of one home is
serialised by a transaction-scoped advisory lock, so two copies never judge the same home at the
same time; event alerts (fall, SOS) rely on the one-open-alert index instead and never wait for it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts import fall_window
from alerts.changes import open_or_update
from alerts.context import HomeContext, load_context
from alerts.deadlines import next_deadline
from alerts.event_rules import InboxItem, event_finding
from alerts.hysteresis import apply_results
from alerts.rules import evaluate_home
from alerts.snapshot import load_snapshot
from eldercare import logs
from eldercare.config import AlertsSettings
from eldercare.contracts.payloads import ALARM_EVENTS
from eldercare.db.pool import DATABASE_AWAY

log = logs.get("alerts")

# urgent = true: alarms only (falls, SOS, hazards: ALARM_EVENTS); false: everything else; NULL: both.
_CLAIM = """
SELECT id, home_id, device_id, seq, ts, type, room, data FROM alert_inbox
 WHERE %(urgent)s::boolean IS NULL OR (type = ANY(%(alarms)s)) = %(urgent)s::boolean
 ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
"""
_DELETE = "DELETE FROM alert_inbox WHERE id = ANY(%s)"
_DEAD_LETTER = """
INSERT INTO dead_letters (received_at, source, topic, home_id, payload, reason, detail)
VALUES (%s, 'alerts', 'alert_inbox', %s, %s, 'alert_engine_error', %s)
"""
# hashtext() folds the home id into the advisory lock key space; a namespace prefix keeps our
# keys apart from other users of advisory locks.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('eldercare-alerts:' || %s))"
# Returns a row when this pass may judge the home (and records it); none when another copy is
# judging it right now (the advisory lock) or judged it recently. One round trip for both.
_CLAIM_HOME_TURN = """
INSERT INTO alert_home_passes AS p (home_id, evaluated_at)
SELECT %(home)s, %(now)s WHERE pg_try_advisory_xact_lock(hashtext('eldercare-alerts:' || %(home)s))
ON CONFLICT (home_id) DO UPDATE SET evaluated_at = EXCLUDED.evaluated_at
 WHERE p.evaluated_at <= %(recent)s OR p.evaluated_at > EXCLUDED.evaluated_at
RETURNING home_id
"""
# The home's next moment of concern, from the judgement just made (alerts.deadlines).
_SET_DEADLINE = """
INSERT INTO alert_home_passes AS p (home_id, evaluated_at, due_at, due_kind) VALUES (%(home)s, %(now)s, %(at)s, %(kind)s)
ON CONFLICT (home_id) DO UPDATE SET due_at = EXCLUDED.due_at, due_kind = EXCLUDED.due_kind
"""
# Homes due (their deadline came, or a trigger marked them '-infinity': due at once, late for
# nothing, read as NULL), then homes with new input (ingest marks them): two index scans, whatever
# the number of quiet homes.
_DUE = """
(SELECT home_id, nullif(due_at, '-infinity'), due_kind FROM alert_home_passes WHERE due_at <= %(now)s ORDER BY due_at)
UNION ALL
(SELECT home_id, NULL, NULL FROM home_state WHERE judge_pending)
"""
_CLEAR_MARK = """
UPDATE home_state SET judge_pending = false
 WHERE home_id = (SELECT home_id FROM home_state WHERE home_id = %s AND judge_pending FOR UPDATE SKIP LOCKED)
"""
# Only these change what a periodic rule sees at once; fall and SOS open their alerts directly
# (the long-lie rule needs minutes of stillness, so the periodic pass judges it) and stay off the
# latency-critical path.
_ALARMS = sorted(ALARM_EVENTS)
_RE_EVALUATE = frozenset({"door", "bed", "presence", "gateway_status"})


@dataclass
class Outcome:
    items: int = 0
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


async def process_inbox(
    conn: AsyncConnection[Any], settings: AlertsSettings, now: datetime, *, urgent: bool | None = None, isolate: bool = False
) -> Outcome:
    """Claim one batch, apply the rules, delete the items; the caller commits.

    ``urgent=True`` claims only alarms (falls, SOS, hazards), so that their commit (and notification) never
    waits behind the re-evaluation of other homes that door or presence items trigger.

    With ``isolate`` each home's items run in a savepoint and a failing home's items become dead
    letters; without it (the fast path: two round trips fewer per home) any failure aborts the
    batch, and the caller rolls back and runs it again isolated."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_CLAIM, {"urgent": urgent, "alarms": _ALARMS, "limit": settings.inbox_batch_size})
        rows = await cur.fetchall()
    outcome = Outcome(items=len(rows))
    by_home: dict[str, list[InboxItem]] = defaultdict(list)
    for row in rows:
        by_home[row["home_id"]].append(InboxItem(**row))
    for home_id in sorted(by_home):  # one lock order for every copy: no deadlocks
        if isolate:
            await _isolated(conn, home_id, by_home[home_id], settings, now, outcome)
        else:
            await _home_items(conn, home_id, by_home[home_id], settings, now, outcome)
    if rows:
        await conn.execute(_DELETE, ([r["id"] for r in rows],))
    return outcome


async def _isolated(
    conn: AsyncConnection[Any], home_id: str, items: list[InboxItem], settings: AlertsSettings, now: datetime, outcome: Outcome
) -> None:
    """One home's items in a savepoint: an item the engine cannot handle becomes a dead letter
    (visible to operators) instead of blocking every home's inbox forever."""
    mine = Outcome()
    try:
        async with conn.transaction():
            await _home_items(conn, home_id, items, settings, now, mine)
    except DATABASE_AWAY:
        raise  # the connection is gone, or a race worth retrying: the whole batch is retried
    except Exception as exc:  # noqa: BLE001 - isolates one home's items; logged and dead-lettered
        log.error("inbox_items_failed", home_id=home_id, items=len(items), error=type(exc).__name__)
        for item in items:
            body = json.dumps({"inbox_id": item.id, "type": item.type, "device": item.device_id, "seq": item.seq})
            await conn.execute(_DEAD_LETTER, (now, home_id, body.encode(), type(exc).__name__))
        return
    outcome.opened += mine.opened
    outcome.resolved += mine.resolved


async def _home_items(
    conn: AsyncConnection[Any], home_id: str, items: list[InboxItem], settings: AlertsSettings, now: datetime, outcome: Outcome
) -> None:
    ctx = await load_context(conn, home_id)
    if ctx is None:
        log.warning("inbox_unknown_home", home_id=home_id, items=len(items))
        return
    # In the order things happened (a fall before the press that answers it, even at the same
    # instant), whatever order the items reached the inbox in.
    for item in sorted(items, key=lambda i: (i.ts, i.type != "fall", i.id)):
        if item.type == "fall" and ctx.rules.fall.enabled:
            change = await fall_window.on_fall(conn, ctx, item, settings=settings, now=now)
            if change is not None and change.created and change.alert["status"] == "open":
                outcome.opened.append("fall")
            continue
        if item.type == "sos" and await fall_window.on_press(conn, ctx, item, settings=settings, now=now):
            continue  # "I'm OK" in a fall's cancel window: the fall is closed, the press raises nothing
        found = event_finding(item, ctx.rules, ctx.zone)
        if found is None:
            continue
        opened = await open_or_update(conn, ctx, found, now=now, settings=settings, source_key=item.source_key)
        if opened is not None and opened.created:
            outcome.opened.append(found.kind)
            log.info("alert_opened", alert_id=opened.alert["id"], home_id=home_id, kind=found.kind, severity=found.severity)
    if any(item.type in _RE_EVALUATE for item in items):
        # Event alerts need no lock (alerts_one_open decides), so an SOS never waits behind a
        # periodic pass; rule state does: this home's periodic pass must not run concurrently.
        await conn.execute(_LOCK, (home_id,))
        await evaluate(conn, ctx, settings, now, outcome)


async def evaluate(
    conn: AsyncConnection[Any], ctx: HomeContext, settings: AlertsSettings, now: datetime, outcome: Outcome
) -> None:
    """Run every periodic rule of one home, apply the results and store the home's next moment of
    concern (alerts.deadlines); the caller holds the home lock."""
    relearn_after = timedelta(seconds=settings.relearn_interval_s)
    snapshot = await load_snapshot(conn, ctx, now, relearn_after=relearn_after)
    results = evaluate_home(snapshot, ctx.rules, now)
    changes = await apply_results(conn, ctx, results, now=now, settings=settings)
    for kind in changes.opened:
        log.info("alert_opened", home_id=ctx.home_id, kind=kind)
    for kind in changes.resolved:
        log.info("alert_auto_resolved", home_id=ctx.home_id, kind=kind)
    outcome.opened += changes.opened
    outcome.resolved += changes.resolved
    routine = snapshot.routine
    deadline = next_deadline(
        snapshot,
        ctx.rules,
        now,
        states=changes.states,
        clear_hold=timedelta(seconds=settings.clear_hold_s),
        relearn_at=routine.learned_at + relearn_after if routine is not None else None,
        recheck=timedelta(seconds=settings.deadline_recheck_s),
    )
    await conn.execute(_SET_DEADLINE, {"home": ctx.home_id, "at": deadline.at, "kind": deadline.kind, "now": now})


async def home_ids(conn: AsyncConnection[Any]) -> list[str]:
    async with conn.cursor() as cur:
        await cur.execute("SELECT id FROM homes ORDER BY id")
        return [str(r[0]) for r in await cur.fetchall()]


@dataclass(frozen=True)
class Due:
    """A home the periodic pass judges: its deadline and what came due (None: input arrived, or
    the home is new or was marked by a change of settings, calendar, devices or alerts)."""

    home_id: str
    due_at: datetime | None
    kind: str | None


async def due_homes(conn: AsyncConnection[Any], now: datetime) -> list[Due]:
    """Homes whose next moment of concern has come, most overdue first, then homes with new input."""
    due: dict[str, Due] = {}
    async with conn.cursor() as cur:
        await cur.execute(_DUE, {"now": now})
        for home_id, due_at, kind in await cur.fetchall():
            due.setdefault(home_id, Due(home_id, due_at, kind))
    return list(due.values())


async def evaluate_home_locked(
    conn: AsyncConnection[Any], home_id: str, settings: AlertsSettings, now: datetime
) -> Outcome | None:
    """Periodic evaluation of one home in the caller's transaction; None when another copy holds
    it or judged it less than half an evaluation interval ago (copies share the periodic work).

    The home's "new input" mark is cleared first, in the same transaction: input committed after
    it marks the home again (and is judged next pass), so none is ever passed over. A mark that
    ingest is writing right now (its row is locked) is left for next pass rather than waited for."""
    recent = now - timedelta(seconds=settings.evaluation_interval_s / 2)
    async with conn.cursor() as cur:
        await cur.execute(_CLAIM_HOME_TURN, {"home": home_id, "now": now, "recent": recent})
        if await cur.fetchone() is None:
            return None
        await cur.execute(_CLEAR_MARK, (home_id,))
    ctx = await load_context(conn, home_id)
    outcome = Outcome()
    if ctx is not None:
        await evaluate(conn, ctx, settings, now, outcome)
    return outcome
