"""The resident board: one line per resident with a status colour, last activity and device health."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import device_health
from api.db import fetch_all
from api.deps import Conn, Ctx, User
from api.scope import RESIDENT_VISIBLE
from eldercare.domain.alerts.catalogue import SEVERITIES, severity_rank

router = APIRouter(prefix="/api/v1/board", tags=["board"])

QUIET_AFTER = timedelta(hours=12)
_ALERTS_OF = "a.status <> 'resolved' AND (a.resident_id = r.id OR (a.resident_id IS NULL AND a.home_id = h.id))"
_BOARD = (
    "SELECT r.id AS resident_id, r.full_name AS name, r.home_id, h.label AS home_label, hs.last_activity_at,"
    " hs.last_motion_room, hs.gateway_state,"
    " (SELECT count(*) FROM alerts a WHERE " + _ALERTS_OF + ") AS open_alerts,"
    # The catalogue's severity order travels as a parameter: rank = position - 1 (0 = mildest).
    " (SELECT max(array_position(%(severities)s::text[], a.severity)) - 1"
    "    FROM alerts a WHERE " + _ALERTS_OF + " AND a.status = 'open') AS worst_open,"
    " (SELECT count(*) FROM devices d WHERE d.home_id = h.id) AS devices,"
    " (SELECT count(*) FROM devices d WHERE d.home_id = h.id AND d.battery_pct < 20) AS low_battery"
    " FROM residents r JOIN homes h ON h.id = r.home_id LEFT JOIN home_state hs ON hs.home_id = h.id"
    " WHERE " + RESIDENT_VISIBLE + " ORDER BY r.id LIMIT 2000"
)

# The devices of the homes on the board, judged silent as the alert engine judges offline (api.device_health).
_DEVICES = "SELECT d.home_id, " + device_health.COLUMNS + " FROM devices d WHERE d.home_id = ANY(%(homes)s)"

Colour = Literal["red", "amber", "green", "grey"]
_RED_FROM = severity_rank("high")


class BoardLine(BaseModel):
    resident_id: int
    name: str
    home_id: str
    home_label: str | None
    status: Colour = Field(description="red: an open high/critical alert; amber: needs a look; green: fine; grey: no data yet")
    last_activity_at: datetime | None
    last_motion_room: str | None
    gateway_state: str | None
    open_alerts: int
    devices: int
    low_battery: int
    silent: int


def colour(row: dict[str, Any], now: datetime) -> Colour:
    if row["worst_open"] is not None and row["worst_open"] >= _RED_FROM:
        return "red"
    if row["last_activity_at"] is None and row["devices"] == 0:
        return "grey"
    quiet = row["last_activity_at"] is None or now - row["last_activity_at"] > QUIET_AFTER
    if row["open_alerts"] or row["gateway_state"] == "offline" or row["low_battery"] or row["silent"] or quiet:
        return "amber"
    return "green"


@router.get("", response_model=list[BoardLine])
async def board(user: User, ctx: Ctx, conn: Conn) -> list[BoardLine]:
    """Every resident in scope."""
    now = ctx.clock.now()
    rows = await fetch_all(conn, _BOARD, user.params(severities=list(SEVERITIES)))
    devices = await fetch_all(conn, _DEVICES, {"homes": sorted({r["home_id"] for r in rows})})
    silent = Counter(d["home_id"] for d in devices if device_health.silent(d, now))
    lines = [{**r, "silent": silent[r["home_id"]]} for r in rows]
    return [BoardLine.model_validate({**line, "status": colour(line, now)}) for line in lines]
