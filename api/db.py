"""Small helpers over psycopg for route modules: rows as dicts, one translation of errors."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.scope import RESIDENT_VISIBLE, Principal
from eldercare.errors import NotFoundError


async def fetch_all(
    conn: psycopg.AsyncConnection, query: str, params: dict[str, Any] | tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_one(
    conn: psycopg.AsyncConnection, query: str, params: dict[str, Any] | tuple[Any, ...] = ()
) -> dict[str, Any] | None:
    rows = await fetch_all(conn, query, params)
    return rows[0] if rows else None


async def fetch_visible(conn: psycopg.AsyncConnection, query: str, params: dict[str, Any]) -> dict[str, Any]:
    """One row the caller may see, or NotFoundError (answered 404) when it is absent or out of scope."""
    row = await fetch_one(conn, query, params)
    if row is None:
        raise NotFoundError("not found")
    return row


_RESIDENT_HOME = (
    "SELECT r.id, r.home_id, h.timezone, h.care_centre_id FROM residents r JOIN homes h ON h.id = r.home_id"
    " WHERE r.id = %(id)s AND " + RESIDENT_VISIBLE
)


async def visible_resident_home(conn: psycopg.AsyncConnection, user: Principal, resident_id: int) -> tuple[str, str]:
    """(home id, home time zone) of a resident the caller may see; NotFoundError otherwise."""
    row = await fetch_visible(conn, _RESIDENT_HOME, user.params(id=resident_id))
    return str(row["home_id"]), str(row["timezone"])
