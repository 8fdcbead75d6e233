"""Dependencies injected into routes: the database connection, the clock, and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from psycopg_pool import AsyncConnectionPool

from api.alert_wakeups import AlertWakeups
from api.scope import Principal
from api.security import TokenInvalidError, decode_access_token
from eldercare.clock import Clock
from eldercare.config import Settings
from eldercare.mqtt.dynsec import BrokerAdmin

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
# The token's generation must still be the user's: logout and revocation move it on.
_USER = (
    "SELECT id, username, role, care_centre_id, locale,"
    " ARRAY(SELECT d.care_centre_id FROM district_centres d WHERE d.user_id = users.id ORDER BY 1)"
    " FROM users WHERE id = %s AND token_generation = %s AND NOT disabled"
)


@dataclass(frozen=True)
class ApiContext:
    """What every request needs, built once by the app factory.

    ``clock`` is the data clock (simulated in a demo); ``wall`` times everything about security
    (token lifetimes, login delays, revocations), which a faster simulated clock must not shorten.
    """

    settings: Settings
    pool: AsyncConnectionPool
    clock: Clock
    wall: Clock
    broker: BrokerAdmin | None
    wakeups: AlertWakeups

    @property
    def jwt_secret(self) -> str:
        secret = self.settings.api.jwt_secret
        if secret is None:  # create_app refuses to build without one
            raise RuntimeError("no JWT secret configured")
        return secret.get_secret_value()


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]


async def get_conn(ctx: Ctx) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled connection for the request: committed when the route returns, rolled back on error.

    Scoped to the route function, so the commit happens before the response starts: a 2xx means
    committed and visible. (A ``yield`` dependency of the default "request" scope exits after the
    response has been sent, and a client could act on its 201 before the commit.)
    """
    async with ctx.pool.connection() as conn:
        # Unnamed statements every time: the planner sees the actual values and prunes the optional
        # filters (`%(x)s IS NULL OR ...`) instead of settling on a generic plan after five runs.
        conn.prepare_threshold = None
        yield conn


Conn = Annotated[psycopg.AsyncConnection, Depends(get_conn, scope="function")]

_UNAUTHORISED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not authenticated / 未登录或登录已过期",
    headers={"WWW-Authenticate": "Bearer"},
)


async def _principal(ctx: ApiContext, conn: psycopg.AsyncConnection, token: str | None) -> Principal:
    if not token:
        raise _UNAUTHORISED
    try:
        claims = decode_access_token(ctx.jwt_secret, token, now=ctx.wall.now())
    except TokenInvalidError:
        raise _UNAUTHORISED from None
    cur = await conn.execute(_USER, (claims.user_id, claims.generation))
    row = await cur.fetchone()
    if row is None:
        raise _UNAUTHORISED
    return Principal(
        user_id=row[0], username=row[1], role=row[2], care_centre_id=row[3], locale=row[4], district_centre_ids=tuple(row[5])
    )


async def authenticate(ctx: ApiContext, token: str | None) -> Principal:
    """The user behind an access token, on a short connection of its own (streams hold none)."""
    async with ctx.pool.connection() as conn:
        return await _principal(ctx, conn, token)


async def current_user(ctx: Ctx, conn: Conn, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    """The caller, looked up on the request's own connection (one pool checkout per request)."""
    return await _principal(ctx, conn, token)


User = Annotated[Principal, Depends(current_user)]


def require_writer(user: User) -> Principal:
    """Admins and care staff; families are read-only (403 whatever the target, so it reveals nothing)."""
    if not user.can_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "read-only account / 只读账户")
    return user


def require_staff(user: User) -> Principal:
    """Care staff and admins, for what families and district offices have no use for (dead letters)."""
    if user.role not in ("admin", "staff"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "care staff and administrators only / 仅限护理人员和管理员")
    return user


def require_overseer(user: User) -> Principal:
    """Figures across care centres: admins, care staff (their own) and district offices; 403 for families."""
    if user.role == "family":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not for family accounts / 家属账户不可用")
    return user


def require_admin(user: User) -> Principal:
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "administrators only / 仅限管理员")
    return user


Writer = Annotated[Principal, Depends(require_writer)]
Staff = Annotated[Principal, Depends(require_staff)]
Admin = Annotated[Principal, Depends(require_admin)]
Overseer = Annotated[Principal, Depends(require_overseer)]
