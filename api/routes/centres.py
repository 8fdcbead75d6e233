"""Care centres and their notification channels."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.bounds import Body, Name, Phone, Secret, ShortName, Target, TimeOfDay, TimeZoneName
from api.db import fetch_all, fetch_visible
from api.deps import Admin, Conn, User
from api.params import Id
from api.scope import CENTRE_VISIBLE
from eldercare.domain.alerts.catalogue import Severity
from eldercare.errors import NotFoundError

router = APIRouter(prefix="/api/v1/centres", tags=["care centres"])


class CentreIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "朝阳社区养老服务中心", "timezone": "Asia/Shanghai", "phone": "+86 10 1234 5678"}]
        },
    )
    name: Name
    timezone: TimeZoneName = "UTC"
    phone: Phone | None = None
    quiet_start: TimeOfDay | None = None
    quiet_end: TimeOfDay | None = None


class Centre(BaseModel):
    id: int
    name: str
    timezone: str
    phone: str | None
    quiet_start: TimeOfDay | None
    quiet_end: TimeOfDay | None


class ChannelIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "duty phone", "kind": "webhook", "target": "https://example.org/hook", "secret": "s3cr3t-key", "tier": 0}
            ]
        },
    )
    name: ShortName
    kind: Literal["webhook", "email", "apprise"]
    target: Target
    secret: Secret | None = Field(default=None, description="webhook HMAC key (required for webhooks)")
    tier: int = Field(default=0, ge=0, le=1, description="0: duty staff, 1: supervisor (escalation)")
    min_severity: Severity = "low"
    enabled: bool = True

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> ChannelIn:
        if self.kind == "webhook" and self.secret is None:
            raise ValueError("a webhook channel needs a secret to sign its requests")
        return self


class Channel(BaseModel):
    """A notification channel; its secret is write-only and never returned."""

    id: int
    care_centre_id: int
    name: str
    kind: str
    target: str
    tier: int
    min_severity: Severity
    enabled: bool


_CENTRE_COLS = "c.id, c.name, c.timezone, c.phone, c.quiet_start, c.quiet_end"
_CHANNEL_COLS = "n.id, n.care_centre_id, n.name, n.kind, n.target, n.tier, n.min_severity, n.enabled"
_LIST = "SELECT " + _CENTRE_COLS + " FROM care_centres c WHERE " + CENTRE_VISIBLE + " ORDER BY c.id"
_ONE = "SELECT " + _CENTRE_COLS + " FROM care_centres c WHERE c.id = %(id)s AND " + CENTRE_VISIBLE
_CHANNELS = "SELECT " + _CHANNEL_COLS + " FROM notification_channels n WHERE n.care_centre_id = %s ORDER BY n.id"
_INSERT_CHANNEL = (
    "INSERT INTO notification_channels AS n (care_centre_id, name, kind, target, secret, tier, min_severity, enabled)"
    " VALUES (%(centre)s, %(name)s, %(kind)s, %(target)s, %(secret)s, %(tier)s, %(min_severity)s, %(enabled)s)"
    " RETURNING " + _CHANNEL_COLS
)


@router.get("", response_model=list[Centre])
async def list_centres(user: User, conn: Conn) -> list[dict[str, Any]]:
    """Centres visible to the caller: all for admins, their own for staff, those a district office
    oversees, none for families."""
    return await fetch_all(conn, _LIST, user.params())


@router.post("", response_model=Centre, status_code=status.HTTP_201_CREATED)
async def create_centre(body: CentreIn, user: Admin, conn: Conn) -> dict[str, Any]:
    """Create a care centre (administrators)."""
    return await fetch_visible(
        conn,
        "INSERT INTO care_centres (name, timezone, phone, quiet_start, quiet_end)"
        " VALUES (%(name)s, %(timezone)s, %(phone)s, %(quiet_start)s, %(quiet_end)s)"
        " RETURNING id, name, timezone, phone, quiet_start, quiet_end",
        body.model_dump(),
    )


@router.get("/{centre_id}", response_model=Centre, responses={404: {"description": "not found or outside your scope"}})
async def get_centre(centre_id: Id, user: User, conn: Conn) -> dict[str, Any]:
    return await fetch_visible(conn, _ONE, user.params(id=centre_id))


@router.get(
    "/{centre_id}/channels", response_model=list[Channel], responses={404: {"description": "not found or outside your scope"}}
)
async def list_channels(centre_id: Id, user: User, conn: Conn) -> list[dict[str, Any]]:
    """The centre's notification channels (secrets are never returned; not a district office's business:
    their targets are staff phones and addresses, so 404 as outside its scope)."""
    await get_centre(centre_id, user, conn)
    if not user.can_write:
        raise NotFoundError("not found")
    return await fetch_all(conn, _CHANNELS, (centre_id,))


@router.post(
    "/{centre_id}/channels",
    response_model=Channel,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such centre"}},
)
async def create_channel(centre_id: Id, body: ChannelIn, user: Admin, conn: Conn) -> dict[str, Any]:
    await get_centre(centre_id, user, conn)
    return await fetch_visible(
        conn,
        _INSERT_CHANNEL,
        {"centre": centre_id, **body.model_dump()},
    )


@router.delete(
    "/{centre_id}/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"description": "not found"}}
)
async def delete_channel(centre_id: Id, channel_id: Id, user: Admin, conn: Conn) -> None:
    await get_centre(centre_id, user, conn)
    await fetch_visible(
        conn,
        "DELETE FROM notification_channels WHERE id = %(id)s AND care_centre_id = %(c)s RETURNING id",
        {"id": channel_id, "c": centre_id},
    )
