"""OAuth2 password flow: access tokens, rotating refresh tokens, logout."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api import audit, throttle
from api.bounds import NO_NUL, PASSWORD_MAX, Body, RefreshToken
from api.deps import Conn, Ctx, User
from api.security import (
    RefreshTokenReusedError,
    TokenInvalidError,
    issue_access_token,
    issue_refresh_token,
    revoke_refresh_token,
    rotate_refresh_token,
    verify_password,
)
from eldercare import logs

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
log = logs.get("api")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"access_token": "eyJhbGciOi...", "token_type": "bearer", "expires_in": 900, "refresh_token": "pN3..."}]
        }
    )


class RefreshRequest(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"refresh_token": "pN3..."}]})
    refresh_token: RefreshToken


class Me(BaseModel):
    id: int
    username: str
    role: str
    care_centre_id: int | None
    locale: str


_BAD_LOGIN = HTTPException(
    status.HTTP_401_UNAUTHORIZED, "wrong username or password / 用户名或密码错误", {"WWW-Authenticate": "Bearer"}
)
_BAD_REFRESH = HTTPException(
    status.HTTP_401_UNAUTHORIZED,
    "the refresh token is unknown, expired or revoked: log in again / 刷新令牌无效、已过期或已撤销，请重新登录",
    {"WWW-Authenticate": "Bearer"},
)


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        401: {"description": "wrong credentials"},
        429: {
            "description": "too many wrong passwords from this address for this username (or from this address, or for"
            " this username from addresses it never logged in from): wait `Retry-After` seconds",
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        },
    },
)
async def token(
    request: Request,
    ctx: Ctx,
    conn: Conn,
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=NO_NUL)],
    password: Annotated[str, Form(min_length=1, max_length=PASSWORD_MAX, pattern=NO_NUL)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenResponse:
    """Log in with a username and password (OAuth2 password grant, form-encoded)."""
    name = username.strip().lower()
    address = request.client.host if request.client else "unknown"
    now = ctx.wall.now()
    limits = throttle.Limits.of(ctx.settings.api)
    refusal = await throttle.refused(conn, limits, username=name, address=address, now=now)
    if refusal is not None:
        log.warning("login_throttled", reason=refusal.reason, retry_after_s=refusal.retry_after_s)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many attempts, wait and try again / 尝试次数过多，请稍后再试",
            {"Retry-After": str(refusal.retry_after_s)},
        )
    cur = await conn.execute(
        "SELECT id, role, password_hash, token_generation FROM users WHERE username = %s AND NOT disabled", (name,)
    )
    row = await cur.fetchone()
    ok = await asyncio.to_thread(verify_password, row[2] if row else None, password)
    if not ok or row is None:
        await throttle.failed(conn, limits, username=name, address=address, now=now)
        await conn.commit()  # the failed attempt must count even though we answer with an error
        log.info("login_failed")
        raise _BAD_LOGIN
    await throttle.succeeded(conn, user_id=row[0], username=name, address=address, now=now)
    log.info("login_ok", user_id=row[0])
    refresh_token = await issue_refresh_token(conn, user_id=row[0], now=now, ttl_s=ctx.settings.api.refresh_token_ttl_s)
    return _tokens(ctx, user_id=row[0], role=row[1], generation=row[3], refresh_token=refresh_token)


def _tokens(ctx: Ctx, *, user_id: int, role: str, generation: int, refresh_token: str) -> TokenResponse:
    ttl_s = ctx.settings.api.access_token_ttl_s
    access = issue_access_token(
        ctx.jwt_secret, user_id=user_id, role=role, generation=generation, now=ctx.wall.now(), ttl_s=ttl_s
    )
    return TokenResponse(access_token=access, expires_in=ttl_s, refresh_token=refresh_token)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses={401: {"description": "the refresh token is unknown, expired, revoked or was already used"}},
)
async def refresh(request: Request, body: RefreshRequest, ctx: Ctx, conn: Conn) -> TokenResponse:
    """Exchange a refresh token for new tokens; the presented one is spent (rotation). Presenting a
    spent one again revokes its login and ends the user's access tokens (someone holds a copy)."""
    now = ctx.wall.now()
    try:
        user_id, successor = await rotate_refresh_token(
            conn, body.refresh_token, now=now, ttl_s=ctx.settings.api.refresh_token_ttl_s
        )
    except RefreshTokenReusedError as reused:
        address = request.client.host if request.client else None
        await audit.record(conn, at=now, event="refresh_token_reused", user_id=reused.user_id, client_ip=address)
        await conn.commit()  # a detected reuse revokes the family: keep that
        log.warning("refresh_token_reused", user_id=reused.user_id)
        raise _BAD_REFRESH from None
    except TokenInvalidError:
        raise _BAD_REFRESH from None
    cur = await conn.execute("SELECT role, token_generation FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    if row is None:
        raise _BAD_REFRESH
    return _tokens(ctx, user_id=user_id, role=row[0], generation=row[1], refresh_token=successor)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, ctx: Ctx, conn: Conn) -> None:
    """Revoke a refresh token and every token rotated from the same login, and end the user's
    access tokens (their other devices refresh theirs). An unknown token is not an error."""
    now = ctx.wall.now()
    user_id = await revoke_refresh_token(conn, body.refresh_token, now=now)
    if user_id is not None:
        await audit.record(conn, at=now, event="logged_out", user_id=user_id)


@router.get("/me", response_model=Me)
async def me(user: User) -> Me:
    """The logged-in user."""
    return Me(id=user.user_id, username=user.username, role=user.role, care_centre_id=user.care_centre_id, locale=user.locale)
