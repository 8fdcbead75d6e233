"""The server's clock, so that every age, countdown and "today" people see is counted from it.

In a demo the data clock runs faster than the wall clock (60x by default): a browser that counted
ages from its own clock against simulated timestamps showed a seconds-old fall as "2 h ago". The
dashboard reads ``now`` and ``speed`` here and advances ``now`` by ``speed`` x the wall time it has
measured since, which stays right whatever the speed.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Ctx, User
from eldercare.clock import Clock, ScaledClock

router = APIRouter(prefix="/api/v1/clock", tags=["clock"])


class ServerClock(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"now": "2026-05-01T07:12:03Z", "speed": 60.0}]})
    now: datetime = Field(description="the data clock: the time every alert and reading is stamped with")
    speed: float = Field(description="data seconds per wall second (1 unless a demo runs simulated time)")


def speed_of(clock: Clock) -> float:
    """How fast ``clock`` runs against the wall: a scaled clock's speed, 1 otherwise (a fixed test clock
    only moves when told, and the page's own ticking in between is the best estimate there is)."""
    return clock.speed if isinstance(clock, ScaledClock) else 1.0


@router.get("", response_model=ServerClock)
async def server_clock(user: User, ctx: Ctx) -> ServerClock:
    """The server's data clock and its speed against the wall clock."""
    return ServerClock(now=ctx.clock.now(), speed=speed_of(ctx.clock))
