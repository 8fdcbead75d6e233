"""Liveness and readiness for orchestrators (the compose healthcheck calls ``/healthz``): no auth, no data."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import Ctx

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "unavailable"]


@router.get("/healthz", response_model=Health, responses={503: {"model": Health, "description": "the database is unreachable"}})
async def healthz(ctx: Ctx) -> JSONResponse:
    """200 when the API can reach its database, 503 otherwise."""
    try:
        async with ctx.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure here means "not ready"; the reason is in the pool's own log
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
