"""Passwords, access tokens and refresh tokens.

Access tokens are short-lived HS256 JWTs whose times come from the injected wall clock (PyJWT's
own expiry check reads the system clock, so it is switched off and done here; the API's data clock
may be simulated and faster, and must not shorten a token). Each carries the user's token
generation (``gen``); logging out, a reused refresh token, disabling the account and "revoke
sessions" move the generation on, which ends every access token issued before (checked on each
request, in the query that loads the caller anyway).

Refresh tokens are 256-bit random strings stored as SHA-256 digests: a stolen database does not
yield usable tokens, and a high-entropy secret needs no slow KDF. Each use rotates the token;
presenting an already-rotated token revokes its whole family, because someone else holds a copy.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
_HASHER = PasswordHasher()
# Verified against when the username does not exist, so both paths cost one argon2 verification.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class TokenInvalidError(Exception):
    """The presented token is malformed, forged, expired or revoked (the caller answers 401)."""


class RefreshTokenReusedError(TokenInvalidError):
    """A spent refresh token came back: its family is revoked and the user's access tokens end."""

    def __init__(self, user_id: int) -> None:
        super().__init__("refresh token reused")
        self.user_id = user_id


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    role: str
    generation: int


def issue_access_token(secret: str, *, user_id: int, role: str, generation: int, now: datetime, ttl_s: int) -> str:
    claims = {
        "sub": str(user_id),
        "role": role,
        "gen": generation,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(secret: str, token: str, *, now: datetime) -> AccessClaims:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        raise TokenInvalidError("malformed or forged token") from None
    if claims.get("typ") != "access" or not isinstance(claims.get("exp"), int) or not isinstance(claims.get("gen"), int):
        raise TokenInvalidError("not an access token")
    if claims["exp"] <= now.timestamp():
        raise TokenInvalidError("token expired")
    try:
        return AccessClaims(int(claims["sub"]), str(claims["role"]), int(claims["gen"]))
    except (KeyError, ValueError):
        raise TokenInvalidError("malformed claims") from None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_refresh_token(
    conn: psycopg.AsyncConnection, *, user_id: int, now: datetime, ttl_s: int, family: uuid.UUID | None = None
) -> str:
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO refresh_tokens (user_id, token_hash, family, issued_at, expires_at) VALUES (%s, %s, %s, %s, %s)",
        (user_id, _digest(token), family or uuid.uuid4(), now, now + timedelta(seconds=ttl_s)),
    )
    return token


async def rotate_refresh_token(conn: psycopg.AsyncConnection, token: str, *, now: datetime, ttl_s: int) -> tuple[int, str]:
    """Spend ``token`` and return (user id, its successor). Raises TokenInvalidError; the caller commits."""
    cur = await conn.execute(
        "SELECT t.id, t.user_id, t.family, t.expires_at, t.used_at, t.revoked_at, u.disabled"
        "  FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = %s FOR UPDATE OF t",
        (_digest(token),),
    )
    row = await cur.fetchone()
    if row is None:
        raise TokenInvalidError("unknown refresh token")
    token_id, user_id, family, expires_at, used_at, revoked_at, disabled = row
    if used_at is not None:
        await revoke_family(conn, family, now=now)
        await end_access_tokens(conn, user_id)
        raise RefreshTokenReusedError(int(user_id))
    if revoked_at is not None or expires_at <= now or disabled:
        raise TokenInvalidError("refresh token expired or revoked")
    await conn.execute("UPDATE refresh_tokens SET used_at = %s WHERE id = %s", (now, token_id))
    successor = await issue_refresh_token(conn, user_id=user_id, now=now, ttl_s=ttl_s, family=family)
    return int(user_id), successor


async def revoke_family(conn: psycopg.AsyncConnection, family: uuid.UUID, *, now: datetime) -> None:
    await conn.execute("UPDATE refresh_tokens SET revoked_at = %s WHERE family = %s AND revoked_at IS NULL", (now, family))


async def end_access_tokens(conn: psycopg.AsyncConnection, user_id: int) -> None:
    """Every access token the user holds stops working at its next request."""
    await conn.execute("UPDATE users SET token_generation = token_generation + 1 WHERE id = %s", (user_id,))


async def revoke_refresh_token(conn: psycopg.AsyncConnection, token: str, *, now: datetime) -> int | None:
    """Log out: revoke the token's whole family and end the user's access tokens; the user's id,
    or None when the token is unknown."""
    cur = await conn.execute("SELECT family, user_id FROM refresh_tokens WHERE token_hash = %s", (_digest(token),))
    row = await cur.fetchone()
    if row is None:
        return None
    await revoke_family(conn, row[0], now=now)
    await end_access_tokens(conn, row[1])
    return int(row[1])
