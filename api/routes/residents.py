"""Residents: profile, emergency contacts, rule settings and the absence calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from api.bounds import (
    CONTACTS_MAX,
    NAME_SCHEMA,
    Body,
    Date,
    DateTime,
    Email,
    HomeIdValue,
    Label,
    Name,
    Note,
    Phone,
    ShortNote,
    Url,
)
from api.db import fetch_all, fetch_visible
from api.deps import Conn, Ctx, User, Writer
from api.errors import InvalidInputError
from api.params import HomeFilter, Id
from api.scope import HOME_VISIBLE, RESIDENT_VISIBLE
from eldercare.domain.residents import HOME_CARD_COLUMNS, add_resident, record_change, update_home_card
from eldercare.domain.residents import update_resident as update_resident_row
from eldercare.domain.rule_settings import RuleSettings

router = APIRouter(prefix="/api/v1/residents", tags=["residents"])

_COLS = (
    "r.id, r.home_id, r.full_name, r.birth_year, r.phone, r.notes, r.emergency_contacts, r.rule_settings, r.created_at,"
    " r.date_of_birth, r.conditions, r.allergies, r.medication_notes, r.updated_at, h.address, h.access_notes,"
    " (SELECT coalesce(u.display_name, u.username) FROM users u WHERE u.id = r.updated_by) AS updated_by_name,"
    # Whom the family calls: the centre that looks after the home.
    " (SELECT c.name FROM care_centres c WHERE c.id = h.care_centre_id) AS care_centre_name,"
    " (SELECT c.phone FROM care_centres c WHERE c.id = h.care_centre_id) AS care_centre_phone,"
    # What the inactivity rule can see in this home, written with the learned routine by the alert
    # engine (alerts.inactivity.coverage); none before the first learning.
    " (SELECT m.model->'coverage' FROM routine_models m WHERE m.resident_id = r.id) AS welfare_coverage,"
    " (SELECT m.model->'usual_wake_s' FROM routine_models m WHERE m.resident_id = r.id) AS usual_wake_s"
)
_FROM = " FROM residents r JOIN homes h ON h.id = r.home_id WHERE " + RESIDENT_VISIBLE
_LIST = "SELECT " + _COLS + _FROM + " AND (%(home)s::text IS NULL OR r.home_id = %(home)s) ORDER BY r.id LIMIT 5000"
_ONE = "SELECT " + _COLS + _FROM + " AND r.id = %(id)s"
_HOME_VISIBLE = "SELECT h.id FROM homes h WHERE h.id = %(id)s AND " + HOME_VISIBLE
_ABSENCE_COLS = "id, resident_id, starts_at, ends_at, reason, note"
_ABSENCES = "SELECT " + _ABSENCE_COLS + " FROM absences WHERE resident_id = %s ORDER BY starts_at DESC LIMIT 500"
_INSERT_ABSENCE = (
    "INSERT INTO absences (resident_id, starts_at, ends_at, reason, note)"
    " VALUES (%(rid)s, %(starts_at)s, %(ends_at)s, %(reason)s, %(note)s) RETURNING " + _ABSENCE_COLS
)


class EmergencyContact(Body):
    model_config = ConfigDict(extra="forbid")
    name: Name
    relation: Label | None = None
    phone: Phone | None = None
    email: Email | None = None
    apprise_url: Url | None = None


class ResidentPatch(Body):
    """Fields to change; omitted fields keep their value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "phone": "+86 138 0000 0000",
                    "emergency_contacts": [{"name": "王小明", "relation": "son", "phone": "+86 139 0000 0000"}],
                    "rule_settings": {"inactivity": {"default_threshold_s": 7200}, "devices": {"gateway_offline_after_s": 600}},
                }
            ]
        },
    )
    # Optional, but never null: a resident always has a name (the schema says so too).
    full_name: Annotated[Name | None, WithJsonSchema(NAME_SCHEMA)] = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    date_of_birth: Date | None = Field(default=None, ge=date(1900, 1, 1), le=date(2100, 12, 31))
    phone: Phone | None = None
    notes: Note | None = None
    conditions: Note | None = Field(default=None, description="health conditions, in the staff's words")
    allergies: Note | None = None
    medication_notes: Note | None = None
    address: Note | None = Field(default=None, description="the home's address (shared by everyone living there)")
    access_notes: Note | None = Field(default=None, description="how to get in: key safe, door code, neighbour with a key")
    emergency_contacts: list[EmergencyContact] | None = Field(default=None, max_length=CONTACTS_MAX)
    rule_settings: RuleSettings | None = Field(
        default=None, description="replaces the resident's rule settings; a key left out takes its default"
    )


class ResidentIn(ResidentPatch):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"home_id": "home-0001", "full_name": "李秀英", "birth_year": 1941}]},
    )
    home_id: HomeIdValue
    full_name: Name


class WelfareCoverage(BaseModel):
    """What the inactivity rule can see in the home, learned from its sensors and the resident's
    routine: "Welfare checks are slow here: no sensor in the living room."."""

    level: Literal["good", "slow", "untrained"]
    rooms: list[str] = Field(description="rooms whose sensors reported in the learned history")
    has_door: bool
    has_bed: bool
    day_median_s: int | None = Field(description="by day, the median silence before an alarm (learned limits)")
    day_p90_s: int | None
    night_median_s: int | None
    notes_en: list[str]
    notes_zh: list[str]


class Resident(BaseModel):
    id: int
    home_id: str
    full_name: str
    birth_year: int | None
    date_of_birth: date | None
    phone: str | None
    notes: str | None
    conditions: str | None
    allergies: str | None
    medication_notes: str | None
    address: str | None
    access_notes: str | None
    emergency_contacts: list[dict[str, Any]] = Field(description="in the order they are called")
    rule_settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None = Field(description="last change of the card (audited: GET .../changes)")
    updated_by_name: str | None
    care_centre_name: str
    care_centre_phone: str | None = Field(description="the care centre's phone: what a family calls")
    welfare_coverage: WelfareCoverage | None = None
    usual_wake_s: dict[str, int] | None = Field(
        default=None, description="the learned usual get-up time, seconds after midnight in the home's zone: weekday, weekend"
    )


class AbsenceIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"starts_at": "2026-05-01T08:00:00+08:00", "ends_at": "2026-05-08T18:00:00+08:00", "reason": "holiday"}]
        },
    )
    starts_at: DateTime
    ends_at: DateTime
    reason: Literal["hospital", "holiday", "family_visit", "other"] = "other"
    note: ShortNote | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AbsenceIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class Absence(BaseModel):
    id: int
    resident_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    note: str | None


def _set_rules(rules: RuleSettings | None) -> dict[str, Any]:
    """What staff set, without the defaults: a default changed in the code reaches every resident."""
    return rules.model_dump(mode="json", exclude_unset=True) if rules else {}


@router.get("", response_model=list[Resident])
async def list_residents(user: User, conn: Conn, home_id: HomeFilter = None) -> list[dict[str, Any]]:
    return await fetch_all(conn, _LIST, user.params(home=home_id))


@router.post(
    "",
    response_model=Resident,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such home in your scope"}},
)
async def create_resident(body: ResidentIn, user: Writer, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    await fetch_visible(conn, _HOME_VISIBLE, user.params(id=body.home_id))
    values = body.model_dump(mode="json", exclude={"home_id", "rule_settings", *_HOME_FIELDS})
    values["rule_settings"] = _set_rules(body.rule_settings)
    created = await add_resident(conn, body.home_id, values)
    await update_home_card(conn, body.home_id, body.model_dump(include=_HOME_FIELDS, exclude_unset=True))
    await _audit(conn, created, sorted(body.model_fields_set), user, ctx)
    return await get_resident(created, user, conn)


@router.get("/{resident_id}", response_model=Resident, responses={404: {"description": "not found or outside your scope"}})
async def get_resident(resident_id: Id, user: User, conn: Conn) -> dict[str, Any]:
    return await fetch_visible(conn, _ONE, user.params(id=resident_id))


_HOME_FIELDS = set(HOME_CARD_COLUMNS)


async def _audit(conn: Conn, resident_id: int, fields: list[str], user: Writer, ctx: Ctx) -> None:
    await record_change(conn, resident_id, fields, actor_id=user.user_id, now=ctx.wall.now())


class CardChange(BaseModel):
    at: datetime
    actor: str
    fields: list[str]


@router.get(
    "/{resident_id}/changes", response_model=list[CardChange], responses={404: {"description": "not found or outside your scope"}}
)
async def card_changes(resident_id: Id, user: Writer, conn: Conn) -> list[dict[str, Any]]:
    """Who changed the resident's card, when, and which fields (staff of the centre and admins)."""
    await get_resident(resident_id, user, conn)
    return await fetch_all(
        conn,
        "SELECT c.at, coalesce(u.display_name, u.username) AS actor, c.fields FROM resident_changes c"
        " JOIN users u ON u.id = c.actor_id WHERE c.resident_id = %s ORDER BY c.at DESC, c.id DESC LIMIT 500",
        (resident_id,),
    )


@router.patch("/{resident_id}", response_model=Resident, responses={404: {"description": "not found or outside your scope"}})
async def update_resident(resident_id: Id, body: ResidentPatch, user: Writer, ctx: Ctx, conn: Conn) -> dict[str, Any]:
    current = await get_resident(resident_id, user, conn)
    await update_home_card(conn, current["home_id"], body.model_dump(include=_HOME_FIELDS, exclude_unset=True))
    await _audit(conn, resident_id, sorted(body.model_fields_set), user, ctx)
    changes = body.model_dump(mode="json", exclude_unset=True, exclude=_HOME_FIELDS)
    if "full_name" in changes and changes["full_name"] is None:
        raise InvalidInputError(("body", "full_name"), "full_name cannot be empty / 姓名不能为空")
    if "emergency_contacts" in changes and changes["emergency_contacts"] is None:
        changes["emergency_contacts"] = []
    if "rule_settings" in changes:
        changes["rule_settings"] = _set_rules(body.rule_settings)
    await update_resident_row(conn, resident_id, changes)
    return await get_resident(resident_id, user, conn)


@router.get(
    "/{resident_id}/absences", response_model=list[Absence], responses={404: {"description": "not found or outside your scope"}}
)
async def list_absences(resident_id: Id, user: User, conn: Conn) -> list[dict[str, Any]]:
    """The absence calendar: while a resident is away, inactivity rules stay quiet."""
    await get_resident(resident_id, user, conn)
    return await fetch_all(conn, _ABSENCES, (resident_id,))


@router.post(
    "/{resident_id}/absences",
    response_model=Absence,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "not found"}},
)
async def create_absence(resident_id: Id, body: AbsenceIn, user: Writer, conn: Conn) -> dict[str, Any]:
    await get_resident(resident_id, user, conn)
    return await fetch_visible(conn, _INSERT_ABSENCE, {"rid": resident_id, **body.model_dump()})


@router.delete(
    "/{resident_id}/absences/{absence_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"description": "not found"}}
)
async def delete_absence(resident_id: Id, absence_id: Id, user: Writer, conn: Conn) -> None:
    await get_resident(resident_id, user, conn)
    await fetch_visible(
        conn, "DELETE FROM absences WHERE id = %(a)s AND resident_id = %(r)s RETURNING id", {"a": absence_id, "r": resident_id}
    )
