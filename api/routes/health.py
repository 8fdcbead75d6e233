"""Liveness and readiness for orchestrators (the compose healthcheck calls ``/healthz``): no auth, no data."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "the database is unreachable"}})
async def healthz(ctx: Ctx) -> JSONResponse:
    """200 when the API can reach its database, 503 otherwise."""
    try:
        async with ctx.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure here means "not ready"; the reason is in the pool's own log
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
