"""Login throttling: growing delays per (username, client address), kept in PostgreSQL.

Per pair, because a limit per username let anyone lock its owner out from anywhere by typing
wrong passwords (ten a minute did it). A pair's delay slows only whoever guesses from that address:

- An address gets ``login_free_failures`` wrong passwords for a username; each further failure
  doubles the wait before that pair may try again (2 s, 4 s, 8 s ... up to ``login_max_delay_s``).
  A correct password, or a day without failures, resets the pair.
- An address failing for many usernames (password spraying) is refused for everyone it tries
  once it has ``login_address_failures_per_minute`` failures in the last minute.
- A username failing from many addresses (a distributed guess) is refused from addresses it has
  never logged in from once it has ``login_account_failures_per_hour`` failures in the last hour;
  the addresses its owner logged in from in the last 90 days keep working.

Each lockout starts an entry in the security audit log. Every window runs on the wall clock (the
API's data clock may be simulated and 60 times faster). The address is the request's client as
Starlette gives it, so trusting a reverse proxy's forwarded header later is one uvicorn setting.

In the database rather than in memory, because the API runs as several copies and restarts on
deploy; the cost is a few indexed lookups next to an argon2 verification.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from api import audit
from eldercare.config import ApiSettings

KNOWN_ADDRESS_DAYS = 90
_PAIR_RESET = timedelta(days=1)
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)

# Attempts from one pair are serialised, or a burst of parallel guesses would all pass the check
# before the first failure is recorded. The lock ends with the request's transaction.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s || chr(10) || %s, 20260501))"
_PAIR = "SELECT locked_until FROM login_throttle WHERE username = %s AND client_ip = %s"
_ADDRESS_FAILURES = "SELECT count(*) FROM login_attempts WHERE client_ip = %s AND at > %s AND NOT ok"
_ACCOUNT_FAILURES = "SELECT count(*) FROM login_attempts WHERE username = %s AND at > %s AND NOT ok"
_KNOWN = (
    "SELECT 1 FROM login_known_addresses k JOIN users u ON u.id = k.user_id"
    " WHERE u.username = %s AND k.client_ip = %s AND k.last_ok_at > %s"
)
_RECORD = "INSERT INTO login_attempts (username, client_ip, at, ok) VALUES (%s, %s, %s, %s)"
# Old rows serve no purpose; trimming them here keeps the tables small without a separate job.
_TRIM = "DELETE FROM login_attempts WHERE at < %s"
_TRIM_PAIRS = "DELETE FROM login_throttle WHERE last_failure_at < %s"
_TRIM_KNOWN = "DELETE FROM login_known_addresses WHERE user_id = %s AND last_ok_at < %s"
_FAIL = """
INSERT INTO login_throttle AS t (username, client_ip, failures, last_failure_at, locked_until)
VALUES (%(u)s, %(ip)s, 1, %(now)s, %(now)s)
ON CONFLICT (username, client_ip) DO UPDATE
   SET failures = t.failures + 1, last_failure_at = %(now)s
RETURNING failures
"""
_LOCK_UNTIL = "UPDATE login_throttle SET locked_until = %s WHERE username = %s AND client_ip = %s"
_RESET = "DELETE FROM login_throttle WHERE username = %s AND client_ip = %s"
_KNOWN_UPSERT = (
    "INSERT INTO login_known_addresses (user_id, client_ip, last_ok_at) VALUES (%s, %s, %s)"
    " ON CONFLICT (user_id, client_ip) DO UPDATE SET last_ok_at = excluded.last_ok_at"
)


@dataclass(frozen=True)
class Limits:
    free_failures: int
    max_delay_s: int
    address_failures_per_minute: int
    account_failures_per_hour: int

    @classmethod
    def of(cls, api: ApiSettings) -> Limits:
        return cls(
            api.login_free_failures,
            api.login_max_delay_s,
            api.login_address_failures_per_minute,
            api.login_account_failures_per_hour,
        )

    def delay_s(self, failures: int) -> int:
        """The wait after the ``failures``-th failure in a row from one pair."""
        if failures <= self.free_failures:
            return 0
        doubled: int = 2 ** min(failures - self.free_failures, 32)
        return min(self.max_delay_s, doubled)


@dataclass(frozen=True)
class Refusal:
    retry_after_s: int
    reason: str  # pair, address or account: logged, never shown (it would guide an attacker)


async def refused(conn: psycopg.AsyncConnection, limits: Limits, *, username: str, address: str, now: datetime) -> Refusal | None:
    """Why this attempt must wait, checked before the password is (so a refused guess learns nothing)."""
    await conn.execute(_LOCK, (username, address))
    pair = await (await conn.execute(_PAIR, (username, address))).fetchone()
    if pair is not None and pair[0] > now:
        return Refusal(math.ceil((pair[0] - now).total_seconds()), "pair")
    if await _count(conn, _ADDRESS_FAILURES, address, now - _MINUTE) >= limits.address_failures_per_minute:
        return Refusal(60, "address")
    if await _count(conn, _ACCOUNT_FAILURES, username, now - _HOUR) >= limits.account_failures_per_hour:
        known_since = now - timedelta(days=KNOWN_ADDRESS_DAYS)
        if await (await conn.execute(_KNOWN, (username, address, known_since))).fetchone() is None:
            return Refusal(15 * 60, "account")
    return None


async def failed(conn: psycopg.AsyncConnection, limits: Limits, *, username: str, address: str, now: datetime) -> None:
    """Count a wrong password; start the pair's delay, and audit each lockout as it starts."""
    await conn.execute(_RECORD, (username, address, now, False))
    await conn.execute(_TRIM, (now - _HOUR,))
    await conn.execute(_TRIM_PAIRS, (now - _PAIR_RESET,))  # a day without failures resets a pair
    row = await (await conn.execute(_FAIL, {"u": username, "ip": address, "now": now})).fetchone()
    failures = int(row[0]) if row else 1
    delay_s = limits.delay_s(failures)
    if delay_s:
        await conn.execute(_LOCK_UNTIL, (now + timedelta(seconds=delay_s), username, address))
        details = {"failures": failures, "delay_s": delay_s}
        await audit.record(conn, at=now, event="login_locked", username=username, client_ip=address, details=details)
    if await _count(conn, _ADDRESS_FAILURES, address, now - _MINUTE) == limits.address_failures_per_minute:
        await audit.record(conn, at=now, event="login_address_limited", username=username, client_ip=address)
    if await _count(conn, _ACCOUNT_FAILURES, username, now - _HOUR) == limits.account_failures_per_hour:
        await audit.record(conn, at=now, event="login_account_limited", username=username, client_ip=address)


async def succeeded(conn: psycopg.AsyncConnection, *, user_id: int, username: str, address: str, now: datetime) -> None:
    """A correct password: the pair starts afresh and the address becomes one of the user's usual ones."""
    await conn.execute(_RECORD, (username, address, now, True))
    await conn.execute(_RESET, (username, address))
    await conn.execute(_KNOWN_UPSERT, (user_id, address, now))
    await conn.execute(_TRIM_KNOWN, (user_id, now - timedelta(days=KNOWN_ADDRESS_DAYS)))


async def _count(conn: psycopg.AsyncConnection, query: str, key: str, since: datetime) -> int:
    row = await (await conn.execute(query, (key, since))).fetchone()
    return int(row[0]) if row else 0
