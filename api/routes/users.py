"""Users: administrators create and disable accounts and link family members to residents;
care staff list their centre's colleagues (to assign alerts). Disabling revokes every session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict

from api import accounts
from api.accounts import NewUser
from api.bounds import Body
from api.db import fetch_all, fetch_visible
from api.deps import Admin, Conn, Ctx, Writer
from api.params import Id
from eldercare import logs

router = APIRouter(prefix="/api/v1/users", tags=["users"])
log = logs.get("api")

_COLS = (
    "u.id, u.username, u.role, u.care_centre_id, u.display_name, u.locale, u.disabled, u.created_at,"
    " coalesce(array_agg(fl.resident_id ORDER BY fl.resident_id) FILTER (WHERE fl.resident_id IS NOT NULL), '{}')"
    " AS resident_ids,"
    " ARRAY(SELECT d.care_centre_id FROM district_centres d WHERE d.user_id = u.id ORDER BY 1) AS district_centre_ids"
)
_LIST = (
    "SELECT " + _COLS + " FROM users u LEFT JOIN family_links fl ON fl.user_id = u.id"
    " WHERE %(p_role)s = 'admin' OR (u.role = 'staff' AND u.care_centre_id = %(p_centre)s)"
    " GROUP BY u.id ORDER BY u.id LIMIT 5000"
)
_ONE = "SELECT " + _COLS + " FROM users u LEFT JOIN family_links fl ON fl.user_id = u.id WHERE u.id = %(id)s GROUP BY u.id"


class UserPatch(Body):
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
    district_centre_ids: list[int]


@router.get("", response_model=list[User])
async def list_users(user: Writer, conn: Conn) -> list[dict[str, Any]]:
    """Admins: everyone. Care staff: the staff of their own centre (whom they can assign alerts to)."""
    return await fetch_all(conn, _LIST, user.params())


@router.post(
    "",
    response_model=User,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such care centre or resident"}, 409: {"description": "username taken"}},
)
async def create_user(body: NewUser, user: Admin, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    """Create an account (the same rules and writes as ``eldercare users add``)."""
    user_id = await accounts.create_user(conn, body, now=ctx.wall.now(), actor_id=user.user_id)
    log.info("user_created", user_id=user_id, role=body.role, by=user.user_id)
    return await fetch_visible(conn, _ONE, {"id": user_id})


@router.patch(
    "/{user_id}",
    response_model=User,
    responses={404: {"description": "no such user"}, 409: {"description": "the only active administrator"}},
)
async def update_user(user_id: Id, body: UserPatch, user: Admin, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    """Disable (or re-enable) an account; disabling also revokes every session it holds.
    The only active administrator cannot be disabled (409)."""
    await accounts.set_disabled(conn, user_id, disabled=body.disabled, now=ctx.wall.now(), actor_id=user.user_id)
    log.info("user_updated", user_id=user_id, disabled=body.disabled, by=user.user_id)
    return await fetch_visible(conn, _ONE, {"id": user_id})


@router.post(
    "/{user_id}/revoke-sessions", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"description": "no such user"}}
)
async def revoke_sessions(user_id: Id, user: Admin, ctx: Ctx, conn: Conn) -> None:
    """Log a user out everywhere: every refresh token is revoked, and every access token issued with one."""
    await fetch_visible(conn, "SELECT id FROM users WHERE id = %(id)s", {"id": user_id})
    await accounts.revoke_sessions(conn, user_id, now=ctx.wall.now(), actor_id=user.user_id)
    log.info("user_sessions_revoked", user_id=user_id, by=user.user_id)
