"""Devices: status, battery and last seen, for the homes the caller may see."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.db import fetch_all, fetch_visible
from api.deps import Conn, Ctx, User
from api.params import DeviceId, HomeFilter
from api.scope import HOME_VISIBLE

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

# A device silent for longer than this is shown as "silent" (the alert engine decides about alerts).
SILENT_AFTER_S = 2 * 3600
LOW_BATTERY_PCT = 20.0

_COLS = (
    "d.id, d.home_id, d.kind, d.room, d.first_seen_at, d.last_seen_at, d.battery_pct, d.battery_at, d.signal_lqi,"
    " CASE WHEN d.last_seen_at < %(silent_before)s THEN 'silent'"
    " WHEN d.battery_pct < %(low_battery)s THEN 'low_battery' ELSE 'ok' END AS status"
)
_FROM = " FROM devices d JOIN homes h ON h.id = d.home_id WHERE " + HOME_VISIBLE
_LIST = "SELECT " + _COLS + _FROM + " AND (%(home)s::text IS NULL OR d.home_id = %(home)s) ORDER BY d.home_id, d.id LIMIT 5000"
_ONE = "SELECT " + _COLS + _FROM + " AND d.id = %(id)s"


class Device(BaseModel):
    id: str
    home_id: str
    kind: str
    room: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    battery_pct: float | None
    battery_at: datetime | None
    signal_lqi: int | None
    status: str = Field(description="ok, low_battery or silent (nothing heard for 2 hours)")


def _params(ctx: Ctx, user: User, **extra: Any) -> dict[str, Any]:
    now = ctx.clock.now()
    return user.params(silent_before=now - timedelta(seconds=SILENT_AFTER_S), low_battery=LOW_BATTERY_PCT, **extra)


@router.get("", response_model=list[Device])
async def list_devices(user: User, ctx: Ctx, conn: Conn, home_id: HomeFilter = None) -> list[dict[str, Any]]:
    return await fetch_all(conn, _LIST, _params(ctx, user, home=home_id))


@router.get("/{device_id}", response_model=Device, responses={404: {"description": "not found or outside your scope"}})
async def get_device(device_id: DeviceId, user: User, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    return await fetch_visible(conn, _ONE, _params(ctx, user, id=device_id))
