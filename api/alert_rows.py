"""How alerts are read: the columns, the scoped query and the response model (routes and stream share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.scope import ALERT_VISIBLE
from eldercare.domain.alerts.catalogue import Outcome, Severity, Status

COLS = (
    "a.id, a.home_id, a.resident_id, r.full_name AS resident_name, a.care_centre_id, a.kind, a.severity, a.status,"
    " a.explanation_en, a.explanation_zh, a.evidence, a.opened_at, a.updated_at, a.acknowledged_at, a.acknowledged_by,"
    " a.resolved_at, a.resolved_by, a.outcome, a.resolution_note, a.assigned_to, a.escalation_level, a.next_escalation_at,"
    " a.pending_until,"
    # Who has it, by name: a claimed alert says whose it is on every screen.
    " coalesce(ack.display_name, ack.username) AS acknowledged_by_name,"
    " coalesce(own.display_name, own.username) AS assigned_to_name,"
    " coalesce(res.display_name, res.username) AS resolved_by_name"
)
FROM = (
    " FROM alerts a LEFT JOIN residents r ON r.id = a.resident_id LEFT JOIN users ack ON ack.id = a.acknowledged_by"
    " LEFT JOIN users own ON own.id = a.assigned_to LEFT JOIN users res ON res.id = a.resolved_by WHERE " + ALERT_VISIBLE
)
ONE = "SELECT " + COLS + FROM + " AND a.id = %(id)s"
LIST = (
    "SELECT " + COLS + FROM + " AND (%(status)s::text IS NULL OR a.status = %(status)s)"
    " AND (%(kind)s::text IS NULL OR a.kind = %(kind)s)"
    " AND (%(severity)s::text IS NULL OR a.severity = %(severity)s)"
    " AND (%(resident)s::bigint IS NULL OR a.resident_id = %(resident)s)"
    " AND (%(home)s::text IS NULL OR a.home_id = %(home)s)"
    " AND (%(since)s::timestamptz IS NULL OR a.opened_at >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR a.opened_at < %(until)s)"
    " AND (%(c_at)s::timestamptz IS NULL OR (a.opened_at, a.id) < (%(c_at)s, %(c_id)s))"
    " ORDER BY a.opened_at DESC, a.id DESC LIMIT %(limit)s"
)
# The live queue: everything not yet resolved, bounded (a centre with more is already in trouble).
UNRESOLVED = "SELECT " + COLS + FROM + " AND a.status <> 'resolved' ORDER BY a.opened_at LIMIT 1000"


class Alert(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "home_id": "home-0001",
                    "resident_id": 7,
                    "resident_name": "李秀英",
                    "care_centre_id": 1,
                    "kind": "fall",
                    "severity": "critical",
                    "status": "open",
                    "explanation_en": "Wearable detected a fall in the bathroom at 07:12; no movement since.",
                    "explanation_zh": "07:12 在卫生间检测到跌倒，此后无活动。",
                    "evidence": {"device_id": "wearable-1", "peak_g": 3.1},
                    "opened_at": "2026-05-01T07:12:03Z",
                    "updated_at": "2026-05-01T07:12:03Z",
                    "acknowledged_at": None,
                    "acknowledged_by": None,
                    "resolved_at": None,
                    "resolved_by": None,
                    "outcome": None,
                    "resolution_note": None,
                    "assigned_to": None,
                    "escalation_level": 0,
                    "next_escalation_at": "2026-05-01T07:14:03Z",
                    "acknowledged_by_name": None,
                    "assigned_to_name": None,
                    "resolved_by_name": None,
                    "pending_until": None,
                }
            ]
        }
    )
    id: int
    home_id: str
    resident_id: int | None
    resident_name: str | None
    care_centre_id: int
    kind: str
    severity: Severity
    status: Status
    explanation_en: str
    explanation_zh: str
    evidence: dict[str, Any] | list[Any] | None = Field(description="what the rule saw")
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    resolved_at: datetime | None
    resolved_by: int | None
    outcome: Outcome | None
    resolution_note: str | None
    assigned_to: int | None
    escalation_level: int
    next_escalation_at: datetime | None = Field(description="when it escalates next unless claimed; null: never or claimed")
    acknowledged_by_name: str | None
    assigned_to_name: str | None = Field(description="whose it is: whoever claimed it, or was assigned it")
    resolved_by_name: str | None
    pending_until: datetime | None = Field(
        default=None,
        description="status pending: a possible fall waits for the resident until then (the countdown staff see)",
    )


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON-ready data (for the event stream)."""
    return Alert.model_validate(row).model_dump(mode="json")
