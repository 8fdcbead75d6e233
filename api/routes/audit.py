"""The security audit log, for administrators: lockouts, reused refresh tokens, account changes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.audit import AuditEvent
from api.bounds import MAX_ID
from api.db import fetch_all
from api.deps import Admin, Conn
from api.params import DEFAULT_PAGE, PageSize

router = APIRouter(prefix="/api/v1/audit", tags=["users"])

_PAGE = """
SELECT id, at, event, user_id, actor_id, username, client_ip, details FROM security_audit
 WHERE (%(before)s::bigint IS NULL OR id < %(before)s) AND (%(event)s::text IS NULL OR event = %(event)s)
 ORDER BY id DESC LIMIT %(limit)s
"""


class AuditEntry(BaseModel):
    id: int
    at: datetime
    event: AuditEvent
    user_id: int | None
    actor_id: int | None
    username: str | None
    client_ip: str | None
    details: dict[str, Any]


@router.get("", response_model=list[AuditEntry])
async def audit_log(
    user: Admin,
    conn: Conn,
    event: Annotated[AuditEvent | None, Query(description="only this kind of event")] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="entries older than this id (the last one seen)")] = None,
    limit: PageSize = DEFAULT_PAGE,
) -> list[dict[str, Any]]:
    """The newest entries first; page with ``before``."""
    return await fetch_all(conn, _PAGE, {"before": before, "event": event, "limit": limit})
