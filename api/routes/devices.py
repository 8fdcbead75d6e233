"""Devices: status, battery and last seen, for the homes the caller may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import device_health
from api.db import fetch_all, fetch_visible
from api.deps import Conn, Ctx, User
from api.params import DeviceId, HomeFilter
from api.scope import HOME_VISIBLE

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

LOW_BATTERY_PCT = 20.0

# A device is "silent" when the alert engine would call it offline (api.device_health).
_COLS = (
    "d.id, d.home_id, d.room, d.battery_pct, d.battery_at, d.signal_lqi, " + device_health.COLUMNS + ","
    " CASE WHEN d.battery_pct < %(low_battery)s THEN 'low_battery' ELSE 'ok' END AS status"
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
    status: str = Field(
        description="ok, low_battery or silent: heard from less recently than silent_after_s, or marked offline by "
        "the gateway's zigbee network (what the alert engine calls device_offline)"
    )
    silent_after_s: int = Field(
        description="how long this device may be silent: 2 x its own usual longest silence (learned) + 15 min, "
        "or its kind's default before that is learned"
    )


def _device(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    status = "silent" if device_health.silent(row, now) else row["status"]
    return {**row, "status": status, "silent_after_s": round(device_health.silence_limit_s(row))}


@router.get("", response_model=list[Device])
async def list_devices(user: User, ctx: Ctx, conn: Conn, home_id: HomeFilter = None) -> list[dict[str, Any]]:
    rows = await fetch_all(conn, _LIST, user.params(low_battery=LOW_BATTERY_PCT, home=home_id))
    now = ctx.clock.now()
    return [_device(r, now) for r in rows]


@router.get("/{device_id}", response_model=Device, responses={404: {"description": "not found or outside your scope"}})
async def get_device(device_id: DeviceId, user: User, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    row = await fetch_visible(conn, _ONE, user.params(low_battery=LOW_BATTERY_PCT, id=device_id))
    return _device(row, ctx.clock.now())
