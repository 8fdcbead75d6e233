"""Login rate limiting, kept in PostgreSQL.

In the database rather than in memory because the API runs as several copies behind a load
balancer and restarts on deploy: a per-process counter would multiply the allowance by the number
of copies and forget it on every restart. The cost is one indexed count per login, which is
negligible next to the argon2 verification itself.

Limits per rolling minute: failed attempts per username (guessing one account's password) and
all attempts per client IP (spraying many accounts). The check runs before the password is
verified, so a limited client learns nothing about the password.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

_WINDOW = timedelta(minutes=1)
_COUNT = """
SELECT (SELECT count(*) FROM login_attempts WHERE username = %(u)s AND at > %(since)s AND NOT ok),
       (SELECT count(*) FROM login_attempts WHERE client_ip = %(ip)s AND at > %(since)s)
"""


async def is_limited(conn: psycopg.AsyncConnection, *, username: str, client_ip: str, now: datetime, per_minute: int) -> bool:
    cur = await conn.execute(_COUNT, {"u": username, "ip": client_ip, "since": now - _WINDOW})
    row = await cur.fetchone()
    by_user, by_ip = row if row else (0, 0)
    # An IP may log in to a few accounts (a shared care-centre PC), hence the wider IP allowance.
    return bool(by_user >= per_minute or by_ip >= per_minute * 3)


async def record(conn: psycopg.AsyncConnection, *, username: str, client_ip: str, now: datetime, ok: bool) -> None:
    await conn.execute(
        "INSERT INTO login_attempts (username, client_ip, at, ok) VALUES (%s, %s, %s, %s)", (username, client_ip, now, ok)
    )
    # Old rows serve no purpose; trimming them here keeps the table small without a separate job.
    await conn.execute("DELETE FROM login_attempts WHERE at < %s", (now - 10 * _WINDOW,))
