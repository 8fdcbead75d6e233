"""Homes: register one (its MQTT password is shown once), rotate its credentials, list, read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.bounds import Address, Body, HomeIdValue, IdValue, Label, TimeZoneName
from api.db import fetch_all, fetch_visible
from api.deps import Conn, Ctx, User, Writer
from api.params import HomeId
from api.scope import HOME_VISIBLE
from eldercare import logs
from eldercare.domain.homes import HomeCredentials, register_home, rotate_credentials

router = APIRouter(prefix="/api/v1/homes", tags=["homes"])
log = logs.get("api")

_COLS = "h.id, h.care_centre_id, h.label, h.address, h.timezone, h.credentials_rotated_at, h.created_at"
_LIST = "SELECT " + _COLS + " FROM homes h WHERE " + HOME_VISIBLE + " ORDER BY h.id LIMIT 5000"
_ONE = "SELECT " + _COLS + " FROM homes h WHERE h.id = %(id)s AND " + HOME_VISIBLE


class HomeIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"id": "home-0001", "care_centre_id": 1, "label": "3-2-401", "timezone": "Asia/Shanghai"}]
        },
    )
    id: HomeIdValue = Field(description="becomes the gateway's MQTT username")
    care_centre_id: IdValue
    label: Label | None = None
    address: Address | None = None
    timezone: TimeZoneName = "UTC"


class Home(BaseModel):
    id: str
    care_centre_id: int
    label: str | None
    address: str | None
    timezone: str
    credentials_rotated_at: datetime | None
    created_at: datetime


class Credentials(BaseModel):
    """Shown once: only a hash is stored. Configure the gateway with it now."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"home_id": "home-0001", "mqtt_username": "home-0001", "mqtt_password": "Zk1...", "broker_synced": True}]
        }
    )
    home_id: str
    mqtt_username: str
    mqtt_password: str
    broker_synced: bool = Field(description="false when no broker admin is configured: the broker was not told")


def _shown_once(creds: HomeCredentials) -> Credentials:
    return Credentials(
        home_id=creds.home_id, mqtt_username=creds.home_id, mqtt_password=creds.password, broker_synced=creds.broker_synced
    )


@router.get("", response_model=list[Home])
async def list_homes(user: User, conn: Conn) -> list[dict[str, Any]]:
    return await fetch_all(conn, _LIST, user.params())


@router.post(
    "",
    response_model=Credentials,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such centre"}, 409: {"description": "home exists"}},
)
async def create_home(body: HomeIn, user: Writer, ctx: Ctx, conn: Conn) -> Credentials:
    """Register a home and create its broker account; the password in the answer is not stored."""
    if user.role == "staff" and body.care_centre_id != user.care_centre_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    creds = await register_home(
        conn,
        home_id=body.id,
        care_centre_id=body.care_centre_id,
        broker=ctx.broker,
        topic_root=ctx.settings.mqtt.topic_root,
        now=ctx.clock.now(),
        label=body.label,
        address=body.address,
        timezone=body.timezone,
    )
    log.info("home_registered", home_id=body.id, broker_synced=creds.broker_synced)
    return _shown_once(creds)


@router.get("/{home_id}", response_model=Home, responses={404: {"description": "not found or outside your scope"}})
async def get_home(home_id: HomeId, user: User, conn: Conn) -> dict[str, Any]:
    return await fetch_visible(conn, _ONE, user.params(id=home_id))


@router.post(
    "/{home_id}/credentials", response_model=Credentials, responses={404: {"description": "not found or outside your scope"}}
)
async def rotate(home_id: HomeId, user: Writer, ctx: Ctx, conn: Conn) -> Credentials:
    """New MQTT credentials for the home; the old password stops working at the broker."""
    await get_home(home_id, user, conn)
    creds = await rotate_credentials(
        conn, home_id=home_id, broker=ctx.broker, topic_root=ctx.settings.mqtt.topic_root, now=ctx.clock.now()
    )
    log.info("home_credentials_rotated", home_id=home_id, broker_synced=creds.broker_synced)
    return _shown_once(creds)
