"""The security audit log: lockouts, reused refresh tokens, accounts created, disabled or signed out.

One row per event, written in the transaction of what it records. Rows name the user, the
username tried and the client address (what an administrator needs to see an attack); never a
password or a token. Administrators read it at ``GET /api/v1/audit``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

AuditEvent = Literal[
    "login_locked",  # a (username, address) pair must wait before its next try
    "login_address_limited",  # an address failed for too many usernames in a minute
    "login_account_limited",  # a username failed from too many addresses in an hour
    "refresh_token_reused",  # a spent refresh token came back: its login's sessions are revoked
    "logged_out",
    "user_created",
    "user_disabled",
    "user_enabled",
    "sessions_revoked",
]

_INSERT = (
    "INSERT INTO security_audit (at, event, user_id, actor_id, username, client_ip, details) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


async def record(
    conn: psycopg.AsyncConnection,
    *,
    at: datetime,
    event: AuditEvent,
    user_id: int | None = None,
    actor_id: int | None = None,
    username: str | None = None,
    client_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(_INSERT, (at, event, user_id, actor_id, username, client_ip, Jsonb(details or {})))
