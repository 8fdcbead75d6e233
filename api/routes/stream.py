"""The live alert stream for the dashboard (Server-Sent Events), scoped like everything else.

Every change to an alert sends a database notification (migration 0070) that wakes the streams at
once (:mod:`api.alert_wakeups`); each then reads the unresolved alerts in its scope and sends what
changed. The stream also polls every ``stream_poll_interval_s``, so progress never depends on a
notification. The caller is re-authenticated on every read, so an expired token or a disabled
account ends it.

Events:

- ``clock``: the server's data clock (``now``, ``speed``) at the start and with every keepalive;
  the dashboard counts every age and countdown from it.
- ``alert``: an unresolved alert, new or changed (the full alert as JSON).
- ``gone``: an alert left the queue: the full alert when it was resolved (the closed-alarm log
  shows who closed it and how), or only ``{"id"}`` when it left the caller's scope.
- ``synced``: the ids of every unresolved alert in scope, after the first batch of ``alert``
  events of a connection. The page drops whatever it holds that is not listed, so a reconnection
  misses nothing even when the page was away while alerts came and went.

Each event carries an ``id``: the data-clock time of the read it came from. A reconnecting
``EventSource`` sends the last one back as ``Last-Event-ID``; the stream then also sends ``gone``
for every alert resolved since (with a margin for transactions that committed late), so the
closed-alarm log of a page that lost its connection for a while has no hole either.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.security import OAuth2PasswordBearer

from api import alert_rows
from api.db import fetch_all
from api.deps import TOKEN_URL, ApiContext, Ctx, authenticate
from api.routes.clock import speed_of
from api.scope import Principal
from eldercare import logs
from eldercare.db.pool import DATABASE_AWAY

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
log = logs.get("api")
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
KEEPALIVE_S = 15.0
# A resolution is stamped before its transaction commits: look this many wall seconds further back.
LATE_COMMIT_S = 60.0
_LEFT = "SELECT " + alert_rows.COLS + alert_rows.FROM + " AND a.id = ANY(%(ids)s) AND a.status = 'resolved'"
_RESOLVED_SINCE = (
    "SELECT " + alert_rows.COLS + alert_rows.FROM + " AND a.status = 'resolved' AND a.resolved_at >= %(since)s"
    " ORDER BY a.resolved_at LIMIT 1000"
)


class _Stream:
    """One connection's view: what it has sent, and how to say what changed since."""

    def __init__(self, ctx: ApiContext, user: Principal) -> None:
        self.ctx, self.user = ctx, user
        self.known: dict[int, dict[str, Any]] = {}

    def event(self, name: str, data: dict[str, Any], at: datetime) -> str:
        return f"event: {name}\nid: {int(at.timestamp() * 1_000_000)}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    def clock(self) -> str:
        now = self.ctx.clock.now()
        return self.event("clock", {"now": now.isoformat(), "speed": speed_of(self.ctx.clock)}, now)

    async def changes(self) -> list[str]:
        now = self.ctx.clock.now()
        async with self.ctx.pool.connection() as conn:
            rows = await fetch_all(conn, alert_rows.UNRESOLVED, self.user.params())
            current = {int(r["id"]): alert_rows.jsonable(r) for r in rows}
            left = [i for i in self.known if i not in current]
            resolved = await fetch_all(conn, _LEFT, self.user.params(ids=left)) if left else []
        closed = {int(r["id"]): alert_rows.jsonable(r) for r in resolved}
        events = [self.event("alert", a, now) for i, a in current.items() if self.known.get(i) != a]
        events += [self.event("gone", closed.get(i, {"id": i}), now) for i in left]
        self.known = current
        return events

    async def resolved_since(self, last_event_id: str | None) -> list[str]:
        since = _since(last_event_id, speed_of(self.ctx.clock))
        if since is None:
            return []
        now = self.ctx.clock.now()
        async with self.ctx.pool.connection() as conn:
            rows = await fetch_all(conn, _RESOLVED_SINCE, self.user.params(since=since))
        return [self.event("gone", alert_rows.jsonable(r), now) for r in rows]

    def synced(self) -> str:
        return self.event("synced", {"ids": sorted(self.known)}, self.ctx.clock.now())


def _since(last_event_id: str | None, speed: float) -> datetime | None:
    """The data-clock time of the event the page saw last, less the late-commit margin; None when absent or garbled."""
    if not last_event_id or not last_event_id.isdigit() or len(last_event_id) > 18:
        return None
    seen = datetime.fromtimestamp(int(last_event_id) / 1_000_000, tz=UTC)
    return seen - timedelta(seconds=LATE_COMMIT_S * max(1.0, speed))


async def _events(
    ctx: ApiContext, user: Principal, token: str, request: Request, last_event_id: str | None
) -> AsyncIterator[str]:
    interval = ctx.settings.api.stream_poll_interval_s
    stream = _Stream(ctx, user)
    quiet_s = 0.0
    yield "retry: 2000\n\n"
    yield stream.clock()
    log.info("alert_stream_opened", user_id=user.user_id)
    first = True
    try:
        while not await request.is_disconnected():
            seen = ctx.wakeups.generation  # before the read: a change notified during it wakes us at once
            try:
                await authenticate(ctx, token)
                changes = await stream.changes()
                if first:
                    changes += [stream.synced(), *await stream.resolved_since(last_event_id)]
            except HTTPException:
                yield 'event: auth\ndata: {"detail": "token expired"}\n\n'
                return
            except DATABASE_AWAY as exc:
                # End the stream cleanly; the dashboard reconnects and gets a fresh snapshot.
                log.warning("alert_stream_database_unavailable", error=type(exc).__name__)
                return
            first = False
            for change in changes:
                yield change
            if changes:
                quiet_s = 0.0
            elif quiet_s >= KEEPALIVE_S:
                quiet_s = 0.0
                yield ": keepalive\n\n"
                yield stream.clock()
            started = ctx.wall.now()
            await ctx.wakeups.wait(seen, interval)  # a wall-clock cadence, not simulated time
            quiet_s += (ctx.wall.now() - started).total_seconds()
    finally:
        log.info("alert_stream_closed", user_id=user.user_id)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"example": 'event: alert\ndata: {"id": 42, "status": "open"}\n\n'}}},
        401: {"description": "not logged in, or the access token expired or was revoked"},
        503: {"description": "the database is unreachable: try again"},
    },
)
async def stream(
    request: Request,
    ctx: Ctx,
    token: Annotated[str | None, Depends(_bearer)],
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> StreamingResponse:
    """Server-Sent Events: the server's clock, every unresolved alert in scope, then each change as it
    happens (woken by the database's notifications). ``Last-Event-ID`` adds the alerts resolved since."""
    user = await authenticate(ctx, token)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _events(ctx, user, token or "", request, last_event_id), media_type="text/event-stream", headers=headers
    )
