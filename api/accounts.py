"""User accounts: the one place a user is validated, created and disabled.

``eldercare users add`` (the first admin, scripts, the demo) and ``POST /api/v1/users`` both
validate with :class:`NewUser` and write with :func:`create_user`, so the two can never accept
different users. The caller commits.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

import psycopg
from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from api import audit
from api.bounds import LINKED_RESIDENTS_MAX, MAX_ID, USERNAME_PATTERN, Body, Label, Password
from api.security import end_access_tokens, hash_password
from eldercare.errors import NotFoundError, PermanentError

Role = Literal["admin", "staff", "family", "district"]

_INSERT = (
    "INSERT INTO users (username, password_hash, role, care_centre_id, display_name, locale)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING id"
)
_CENTRE_EXISTS = "SELECT 1 FROM care_centres WHERE id = %s"
_RESIDENTS_FOUND = "SELECT count(*) FROM residents WHERE id = ANY(%s)"
_LINK = "INSERT INTO family_links (user_id, resident_id) SELECT %s, unnest(%s::bigint[])"
_CENTRES_FOUND = "SELECT count(*) FROM care_centres WHERE id = ANY(%s)"
_OVERSEE = "INSERT INTO district_centres (user_id, care_centre_id) SELECT %s, unnest(%s::bigint[])"
# Every active admin row, locked: two admins disabling each other at once are serialised here,
# and the second sees that only one would remain.
_ACTIVE_ADMINS = "SELECT id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE"
_SET_DISABLED = "UPDATE users SET disabled = %s WHERE id = %s RETURNING role"
_REVOKE = "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL"


class UsernameTakenError(PermanentError):
    """The username belongs to another account (the API answers 409, the CLI exits 3)."""


class LastAdminError(PermanentError):
    """The change would leave no active administrator (answered 409)."""


class UserFields(Body):
    """Everything about a new user but the password (the CLI checks these before asking for it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME_PATTERN)
    role: Role
    care_centre_id: int | None = Field(default=None, ge=1, le=MAX_ID, validate_default=True)
    resident_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        default_factory=list, max_length=LINKED_RESIDENTS_MAX, validate_default=True
    )
    district_centre_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        default_factory=list,
        max_length=LINKED_RESIDENTS_MAX,
        validate_default=True,
        description="district: the care centres it oversees (read-only)",
    )
    display_name: Label | None = None
    locale: Literal["zh-CN", "en"] = "zh-CN"

    @field_validator("care_centre_id")
    @classmethod
    def _staff_have_a_centre(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("role") == "staff" and value is None:
            raise ValueError("care staff need a care_centre_id")
        if info.data.get("role") == "district" and value is not None:
            raise ValueError("a district office oversees district_centre_ids, not one care_centre_id")
        return value

    @field_validator("resident_ids")
    @classmethod
    def _family_are_linked(cls, value: list[int], info: ValidationInfo) -> list[int]:
        role = info.data.get("role")
        if role == "family" and not value:
            raise ValueError("a family member needs at least one linked resident")
        if role in ("admin", "staff", "district") and value:
            raise ValueError("only family members are linked to residents")
        if len(set(value)) != len(value):
            raise ValueError("a resident is listed twice")
        return value

    @field_validator("district_centre_ids")
    @classmethod
    def _districts_oversee_centres(cls, value: list[int], info: ValidationInfo) -> list[int]:
        role = info.data.get("role")
        if role == "district" and not value:
            raise ValueError("a district office oversees at least one care centre")
        if role != "district" and value:
            raise ValueError("only district offices oversee care centres")
        if len(set(value)) != len(value):
            raise ValueError("a care centre is listed twice")
        return value


class NewUser(UserFields):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
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
    password: Password


async def create_user(conn: psycopg.AsyncConnection, new: NewUser, *, now: datetime, actor_id: int | None = None) -> int:
    """Insert the user and their family links; the new id. UsernameTakenError, NotFoundError.
    ``actor_id``: the admin who asked (None: the command line)."""
    if new.care_centre_id is not None and await _missing(conn, _CENTRE_EXISTS, (new.care_centre_id,)):
        raise NotFoundError(f"care centre {new.care_centre_id} does not exist")
    found = await (await conn.execute(_RESIDENTS_FOUND, (new.resident_ids,))).fetchone()
    if found is None or found[0] != len(new.resident_ids):
        raise NotFoundError("a linked resident does not exist")
    found = await (await conn.execute(_CENTRES_FOUND, (new.district_centre_ids,))).fetchone()
    if found is None or found[0] != len(new.district_centre_ids):
        raise NotFoundError("an overseen care centre does not exist")
    password_hash = await asyncio.to_thread(hash_password, new.password)
    values = (new.username, password_hash, new.role, new.care_centre_id, new.display_name, new.locale)
    row = await (await conn.execute(_INSERT, values)).fetchone()
    if row is None:
        raise UsernameTakenError(f"user {new.username!r} already exists / 用户名已存在")
    if new.resident_ids:
        await conn.execute(_LINK, (row[0], new.resident_ids))
    if new.district_centre_ids:
        await conn.execute(_OVERSEE, (row[0], new.district_centre_ids))
    details = {"role": new.role, "resident_ids": new.resident_ids, "district_centre_ids": new.district_centre_ids}
    await audit.record(conn, at=now, event="user_created", user_id=row[0], actor_id=actor_id, details=details)
    return int(row[0])


async def _missing(conn: psycopg.AsyncConnection, query: str, params: tuple[object, ...]) -> bool:
    return await (await conn.execute(query, params)).fetchone() is None


async def set_disabled(
    conn: psycopg.AsyncConnection, user_id: int, *, disabled: bool, now: datetime, actor_id: int | None
) -> None:
    """Disable (revoking every session) or re-enable; never the last active admin. NotFoundError."""
    if disabled:
        admins = [row[0] for row in await (await conn.execute(_ACTIVE_ADMINS)).fetchall()]
        if admins == [user_id]:
            raise LastAdminError("the only active administrator cannot be disabled / 不能停用唯一的管理员")
    if await (await conn.execute(_SET_DISABLED, (disabled, user_id))).fetchone() is None:
        raise NotFoundError(f"user {user_id} does not exist")
    await audit.record(conn, at=now, event="user_disabled" if disabled else "user_enabled", user_id=user_id, actor_id=actor_id)
    if disabled:
        await _revoke(conn, user_id, now=now)


async def revoke_sessions(conn: psycopg.AsyncConnection, user_id: int, *, now: datetime, actor_id: int | None) -> None:
    """Log the user out everywhere: every refresh token revoked, every access token ended."""
    await _revoke(conn, user_id, now=now)
    await audit.record(conn, at=now, event="sessions_revoked", user_id=user_id, actor_id=actor_id)


async def _revoke(conn: psycopg.AsyncConnection, user_id: int, *, now: datetime) -> None:
    await conn.execute(_REVOKE, (now, user_id))
    await end_access_tokens(conn, user_id)
