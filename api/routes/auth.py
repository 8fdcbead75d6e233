"""OAuth2 password flow: access tokens, rotating refresh tokens, logout."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api import ratelimit
from api.deps import Conn, Ctx, User
from api.security import (
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


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"refresh_token": "pN3..."}]})
    refresh_token: str = Field(min_length=10, max_length=200)


class Me(BaseModel):
    id: int
    username: str
    role: str
    care_centre_id: int | None
    locale: str


_BAD_LOGIN = HTTPException(
    status.HTTP_401_UNAUTHORIZED, "wrong username or password / 用户名或密码错误", {"WWW-Authenticate": "Bearer"}
)


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={401: {"description": "wrong credentials"}, 429: {"description": "too many attempts"}},
)
async def token(
    request: Request,
    ctx: Ctx,
    conn: Conn,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenResponse:
    """Log in with a username and password (OAuth2 password grant, form-encoded)."""
    name = username.strip().lower()
    client_ip = request.client.host if request.client else "unknown"
    now = ctx.clock.now()
    per_minute = ctx.settings.api.login_attempts_per_minute
    if await ratelimit.is_limited(conn, username=name, client_ip=client_ip, now=now, per_minute=per_minute):
        log.warning("login_rate_limited")
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many attempts, wait a minute / 尝试次数过多，请稍后再试",
            {"Retry-After": "60"},
        )
    cur = await conn.execute("SELECT id, role, password_hash FROM users WHERE username = %s AND NOT disabled", (name,))
    row = await cur.fetchone()
    ok = await asyncio.to_thread(verify_password, row[2] if row else None, password)
    await ratelimit.record(conn, username=name, client_ip=client_ip, now=now, ok=ok)
    if not ok or row is None:
        await conn.commit()  # the failed attempt must count even though we answer with an error
        log.info("login_failed")
        raise _BAD_LOGIN
    log.info("login_ok", user_id=row[0])
    return await _tokens(ctx, conn, user_id=row[0], role=row[1])


async def _tokens(ctx: Ctx, conn: Conn, *, user_id: int, role: str) -> TokenResponse:
    now = ctx.clock.now()
    api = ctx.settings.api
    access = issue_access_token(ctx.jwt_secret, user_id=user_id, role=role, now=now, ttl_s=api.access_token_ttl_s)
    refresh = await issue_refresh_token(conn, user_id=user_id, now=now, ttl_s=api.refresh_token_ttl_s)
    return TokenResponse(access_token=access, expires_in=api.access_token_ttl_s, refresh_token=refresh)


@router.post("/refresh", response_model=TokenResponse, responses={401: {"description": "invalid, expired or reused token"}})
async def refresh(body: RefreshRequest, ctx: Ctx, conn: Conn) -> TokenResponse:
    """Exchange a refresh token for new tokens; the presented one is spent (rotation)."""
    api = ctx.settings.api
    try:
        user_id, successor = await rotate_refresh_token(
            conn, body.refresh_token, now=ctx.clock.now(), ttl_s=api.refresh_token_ttl_s
        )
    except TokenInvalidError:
        await conn.commit()  # a detected reuse revokes the family: keep that
        raise _BAD_LOGIN from None
    cur = await conn.execute("SELECT role FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    role = row[0] if row else "family"
    now = ctx.clock.now()
    access = issue_access_token(ctx.jwt_secret, user_id=user_id, role=role, now=now, ttl_s=api.access_token_ttl_s)
    return TokenResponse(access_token=access, expires_in=api.access_token_ttl_s, refresh_token=successor)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, ctx: Ctx, conn: Conn) -> None:
    """Revoke a refresh token and every token rotated from the same login."""
    await revoke_refresh_token(conn, body.refresh_token, now=ctx.clock.now())


@router.get("/me", response_model=Me)
async def me(user: User) -> Me:
    """The logged-in user."""
    return Me(id=user.user_id, username=user.username, role=user.role, care_centre_id=user.care_centre_id, locale=user.locale)
