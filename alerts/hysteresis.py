"""Turning periodic rule results into alert changes, without storms.

Per (home, kind) the table alert_rule_state remembers whether a new alert may open (``armed``).
A holding condition opens an alert only when armed, and disarms. A clear condition re-arms only
after it has stayed clear for ``clear_hold_s``; at that moment the system also resolves the alert
when its kind auto-resolves (a device back online). So a flapping input keeps one alert open
instead of opening many, and an alert that staff resolved while the condition still held does
not come straight back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from alerts.changes import auto_resolve, open_or_update
from alerts.context import HomeContext
from alerts.findings import Finding
from eldercare.config import AlertsSettings
from eldercare.domain.alerts import lifecycle
from eldercare.domain.alerts.catalogue import kind as kind_of

_LOAD = "SELECT kind, armed, active_since, clear_since FROM alert_rule_state WHERE home_id = %s FOR UPDATE"
_SAVE = """
INSERT INTO alert_rule_state (home_id, kind, armed, active_since, clear_since, updated_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (home_id, kind) DO UPDATE
   SET armed = EXCLUDED.armed, active_since = EXCLUDED.active_since,
       clear_since = EXCLUDED.clear_since, updated_at = EXCLUDED.updated_at
"""


@dataclass
class RuleState:
    armed: bool = True
    active_since: datetime | None = None
    clear_since: datetime | None = None


@dataclass
class Changes:
    opened: list[str]
    resolved: list[str]
    # every kind's state after the evaluation (alerts.deadlines: when a disarmed rule re-arms)
    states: dict[str, RuleState] = field(default_factory=dict)


async def apply_results(
    conn: AsyncConnection[Any],
    ctx: HomeContext,
    results: dict[str, Finding | None],
    *,
    now: datetime,
    settings: AlertsSettings,
) -> Changes:
    """Apply one evaluation of a home (caller holds the home's advisory lock and the transaction)."""
    states = await _load(conn, ctx.home_id)
    changes = Changes([], [])
    hold = timedelta(seconds=settings.clear_hold_s)
    for kind, found in sorted(results.items()):
        state = states.get(kind, RuleState())
        before = (state.armed, state.active_since, state.clear_since)
        if found is not None:
            await _holding(conn, ctx, state, found, now, settings, changes)
        else:
            await _clear(conn, ctx, kind, state, now, hold, changes)
        if (state.armed, state.active_since, state.clear_since) != before or kind not in states:
            await conn.execute(_SAVE, (ctx.home_id, kind, state.armed, state.active_since, state.clear_since, now))
        states[kind] = state
    changes.states = states
    return changes


async def _holding(
    conn: AsyncConnection[Any],
    ctx: HomeContext,
    state: RuleState,
    found: Finding,
    now: datetime,
    settings: AlertsSettings,
    changes: Changes,
) -> None:
    state.active_since = state.active_since or now
    state.clear_since = None
    if not state.armed:
        await lifecycle.refresh_devices(conn, ctx.home_id, found, now)
        return
    opened = await open_or_update(conn, ctx, found, now=now, settings=settings)
    state.armed = False
    if opened is not None and opened.created:
        changes.opened.append(found.kind)


async def _clear(
    conn: AsyncConnection[Any],
    ctx: HomeContext,
    kind: str,
    state: RuleState,
    now: datetime,
    hold: timedelta,
    changes: Changes,
) -> None:
    auto = kind_of(kind).auto_resolve
    if state.active_since is not None and not auto:
        await lifecycle.note_cleared(conn, ctx.home_id, kind, now)
    state.active_since = None
    state.clear_since = state.clear_since or now
    if state.armed or now - state.clear_since < hold:
        return
    state.armed = True
    if auto and await auto_resolve(conn, ctx, kind, now) is not None:
        changes.resolved.append(kind)


async def _load(conn: AsyncConnection[Any], home_id: str) -> dict[str, RuleState]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LOAD, (home_id,))
        rows = await cur.fetchall()
    return {r["kind"]: RuleState(r["armed"], r["active_since"], r["clear_since"]) for r in rows}
