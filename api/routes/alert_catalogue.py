"""The alert catalogue: every kind, severity (in order), status and outcome with its names in both
languages, straight from :mod:`eldercare.domain.alerts.catalogue`. The dashboard takes its labels
and its queue order from here, so a new kind shows up named without touching the dashboard."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import User
from eldercare.domain.alerts.catalogue import Action, AttemptResult, Outcome, Severity, Status, Step, as_document

router = APIRouter(prefix="/api/v1/alert-catalogue", tags=["alerts"])


class _Named(BaseModel):
    en: str
    zh: str


class KindEntry(_Named):
    key: str
    severity: Severity = Field(description="the default; a rule may raise it")
    auto_resolve: bool = Field(description="the system resolves it when its condition has cleared")


class SeverityEntry(_Named):
    key: Severity
    rank: int = Field(description="0 for the mildest, rising with urgency")
    note_required: bool = Field(description="resolving an alert of this severity needs a note")


class StatusEntry(_Named):
    key: Status


class OutcomeEntry(_Named):
    key: Outcome
    staff: bool = Field(description="offered to staff when they resolve an alert (false: set by the system)")


class ActionEntry(_Named):
    key: Action


class StepEntry(_Named):
    key: Step


class AttemptResultEntry(_Named):
    key: AttemptResult


class AlertCatalogue(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kinds": [{"key": "fall", "severity": "critical", "auto_resolve": False, "en": "Fall", "zh": "跌倒"}],
                    "severities": [{"key": "low", "rank": 0, "note_required": False, "en": "low", "zh": "低"}],
                    "statuses": [{"key": "open", "en": "Open", "zh": "待处理"}],
                    "outcomes": [{"key": "visited", "staff": True, "en": "Visited", "zh": "已上门"}],
                    "actions": [{"key": "acknowledged", "en": "Claimed", "zh": "已认领"}],
                    "steps": [{"key": "call_resident", "en": "Call the resident", "zh": "致电老人"}],
                    "attempt_results": [{"key": "no_answer", "en": "No answer", "zh": "无人接听"}],
                }
            ]
        }
    )
    kinds: list[KindEntry]
    severities: list[SeverityEntry] = Field(description="mildest first")
    statuses: list[StatusEntry]
    outcomes: list[OutcomeEntry]
    actions: list[ActionEntry] = Field(description="what an alert's history rows record")
    steps: list[StepEntry] = Field(description="the care centre's protocol, in order")
    attempt_results: list[AttemptResultEntry] = Field(description="what came of one attempt at a step")


_CATALOGUE = AlertCatalogue.model_validate(as_document())


@router.get("", response_model=AlertCatalogue)
async def alert_catalogue(user: User) -> AlertCatalogue:
    """Names (English and Chinese) and order of everything an alert can be."""
    return _CATALOGUE
