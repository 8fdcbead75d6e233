"""The live alert stream for the dashboard (Server-Sent Events), scoped like everything else.

The stream polls the alerts table: polling guarantees progress whatever wrote the row (the engine,
a test, another API copy), and one indexed query per second per open dashboard is cheap. Events:
``alert`` (new or changed, the full alert as JSON) and ``gone`` (resolved or out of scope now).
The caller is re-authenticated on every poll, so an expired token or a disabled account ends it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.security import OAuth2PasswordBearer
from psycopg_pool import PoolTimeout

from api import alert_rows
from api.db import fetch_all
from api.deps import TOKEN_URL, ApiContext, Ctx, authenticate
from api.scope import Principal
from eldercare import logs

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
log = logs.get("api")
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
KEEPALIVE_S = 15.0


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _snapshot(ctx: ApiContext, user: Principal) -> dict[int, dict[str, Any]]:
    async with ctx.pool.connection() as conn:
        rows = await fetch_all(conn, alert_rows.UNRESOLVED, user.params())
    return {int(r["id"]): alert_rows.jsonable(r) for r in rows}


async def _events(ctx: ApiContext, user: Principal, token: str, request: Request) -> AsyncIterator[str]:
    interval = ctx.settings.api.stream_poll_interval_s
    known: dict[int, dict[str, Any]] = {}
    quiet_s = 0.0
    yield "retry: 2000\n\n"
    log.info("alert_stream_opened", user_id=user.user_id)
    try:
        while not await request.is_disconnected():
            try:
                await authenticate(ctx, token)
                current = await _snapshot(ctx, user)
            except HTTPException:
                yield _event("auth", {"detail": "token expired"})
                return
            except (psycopg.OperationalError, PoolTimeout) as exc:
                # End the stream cleanly; the dashboard reconnects and gets a fresh snapshot.
                log.warning("alert_stream_database_unavailable", error=type(exc).__name__)
                return
            changes = [_event("alert", a) for i, a in current.items() if known.get(i) != a]
            changes += [_event("gone", {"id": i}) for i in known if i not in current]
            known = current
            for change in changes:
                yield change
            quiet_s = 0.0 if changes else quiet_s + interval
            if quiet_s >= KEEPALIVE_S:
                quiet_s = 0.0
                yield ": keepalive\n\n"
            await asyncio.sleep(interval)  # a wall-clock polling cadence, not simulated time
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
async def stream(request: Request, ctx: Ctx, token: Annotated[str | None, Depends(_bearer)]) -> StreamingResponse:
    """Server-Sent Events: every unresolved alert in scope at first, then each change as it happens."""
    user = await authenticate(ctx, token)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_events(ctx, user, token or "", request), media_type="text/event-stream", headers=headers)
