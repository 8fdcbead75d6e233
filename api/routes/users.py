"""Users: administrators create and disable accounts and link family members to residents;
care staff list their centre's colleagues (to assign alerts). Disabling revokes every session."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.db import fetch_all, fetch_one, fetch_visible
from api.deps import Admin, Conn, Ctx, Writer
from api.params import Id
from api.security import hash_password
from eldercare import logs

router = APIRouter(prefix="/api/v1/users", tags=["users"])
log = logs.get("api")

_COLS = (
    "u.id, u.username, u.role, u.care_centre_id, u.display_name, u.locale, u.disabled, u.created_at,"
    " coalesce(array_agg(fl.resident_id ORDER BY fl.resident_id) FILTER (WHERE fl.resident_id IS NOT NULL), '{}') AS resident_ids"
)
_LIST = (
    "SELECT " + _COLS + " FROM users u LEFT JOIN family_links fl ON fl.user_id = u.id"
    " WHERE %(p_role)s = 'admin' OR (u.role = 'staff' AND u.care_centre_id = %(p_centre)s)"
    " GROUP BY u.id ORDER BY u.id LIMIT 5000"
)
_ONE = "SELECT " + _COLS + " FROM users u LEFT JOIN family_links fl ON fl.user_id = u.id WHERE u.id = %(id)s GROUP BY u.id"
_INSERT = (
    "INSERT INTO users (username, password_hash, role, care_centre_id, display_name, locale)"
    " VALUES (%(username)s, %(password_hash)s, %(role)s, %(care_centre_id)s, %(display_name)s, %(locale)s) RETURNING id"
)
_REVOKE = "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL"


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "wang.fang",
                    "password": "a long passphrase",
                    "role": "family",
                    "resident_ids": [7],
                    "locale": "zh-CN",
                }
            ]
        },
    )
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9][a-z0-9._\-]{2,63}$")
    password: str = Field(min_length=10, max_length=256)
    role: Literal["admin", "staff", "family"]
    care_centre_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    resident_ids: list[int] = Field(default_factory=list, max_length=20)
    display_name: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00]*$")
    locale: Literal["zh-CN", "en"] = "zh-CN"

    @model_validator(mode="after")
    def _role_fits(self) -> UserIn:
        if self.role == "staff" and self.care_centre_id is None:
            raise ValueError("care staff need a care_centre_id")
        if self.role == "family" and not self.resident_ids:
            raise ValueError("a family member needs at least one linked resident")
        if self.role != "family" and self.resident_ids:
            raise ValueError("only family members are linked to residents")
        return self


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"disabled": True}]})
    disabled: bool


class User(BaseModel):
    id: int
    username: str
    role: str
    care_centre_id: int | None
    display_name: str | None
    locale: str
    disabled: bool
    created_at: datetime
    resident_ids: list[int]


@router.get("", response_model=list[User])
async def list_users(user: Writer, conn: Conn) -> list[dict[str, Any]]:
    """Admins: everyone. Care staff: the staff of their own centre (whom they can assign alerts to)."""
    return await fetch_all(conn, _LIST, user.params())


@router.post("", response_model=User, status_code=status.HTTP_201_CREATED, responses={409: {"description": "username taken"}})
async def create_user(body: UserIn, user: Admin, conn: Conn) -> dict[str, Any]:
    values = body.model_dump(exclude={"password", "resident_ids"})
    values["password_hash"] = await asyncio.to_thread(hash_password, body.password)
    if await fetch_one(conn, "SELECT 1 FROM users WHERE username = %s", (body.username,)):
        raise HTTPException(status.HTTP_409_CONFLICT, "username taken / 用户名已存在")
    created = await fetch_visible(conn, _INSERT, values)
    for resident_id in body.resident_ids:
        await fetch_visible(conn, "SELECT id FROM residents WHERE id = %(id)s", {"id": resident_id})
        await conn.execute("INSERT INTO family_links (user_id, resident_id) VALUES (%s, %s)", (created["id"], resident_id))
    log.info("user_created", user_id=created["id"], role=body.role, by=user.user_id)
    return await fetch_visible(conn, _ONE, {"id": created["id"]})


@router.patch("/{user_id}", response_model=User, responses={404: {"description": "no such user"}})
async def update_user(user_id: Id, body: UserPatch, user: Admin, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    """Disable (or re-enable) an account; disabling also revokes every refresh token it holds."""
    await fetch_visible(
        conn, "UPDATE users SET disabled = %(d)s WHERE id = %(id)s RETURNING id", {"d": body.disabled, "id": user_id}
    )
    if body.disabled:
        await conn.execute(_REVOKE, (ctx.clock.now(), user_id))
    log.info("user_updated", user_id=user_id, disabled=body.disabled, by=user.user_id)
    return await fetch_visible(conn, _ONE, {"id": user_id})


@router.post(
    "/{user_id}/revoke-sessions", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"description": "no such user"}}
)
async def revoke_sessions(user_id: Id, user: Admin, ctx: Ctx, conn: Conn) -> None:
    """Log a user out everywhere: every refresh token is revoked (access tokens die within their TTL)."""
    await fetch_visible(conn, "SELECT id FROM users WHERE id = %(id)s", {"id": user_id})
    await conn.execute(_REVOKE, (ctx.clock.now(), user_id))
    log.info("user_sessions_revoked", user_id=user_id, by=user.user_id)
