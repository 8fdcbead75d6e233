"""The one writer of residents and of a home's card (address, access notes): the API's resident
routes and the simulator's registry both write through here, so a column is added in one place.

Reads stay with their readers: each API route reads through its own scope clause (what a caller
may see), and the alert engine loads what its rules need in one transaction (alerts.context).
Column names come from the fixed maps below, never from a caller's keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# A resident's columns a caller may set; the JSON ones are wrapped for psycopg.
RESIDENT_COLUMNS = (
    "full_name",
    "birth_year",
    "date_of_birth",
    "phone",
    "notes",
    "conditions",
    "allergies",
    "medication_notes",
    "emergency_contacts",
    "rule_settings",
)
_JSON_COLUMNS = frozenset({"emergency_contacts", "rule_settings"})
# The part of the card that belongs to the home (one per home, whoever lives there).
HOME_CARD_COLUMNS = ("address", "access_notes")

_INSERT = (
    "INSERT INTO residents (home_id, "
    + ", ".join(RESIDENT_COLUMNS)
    + ") VALUES (%(home_id)s, "
    + ", ".join(f"%({column})s" for column in RESIDENT_COLUMNS)
    + ") RETURNING id"
)
_UPDATE = {column: f"{column} = %({column})s" for column in RESIDENT_COLUMNS}
_UPDATE_HOME = {column: f"{column} = %({column})s" for column in HOME_CARD_COLUMNS}
_CHANGED = "INSERT INTO resident_changes (resident_id, at, actor_id, fields) VALUES (%s, %s, %s, %s)"
_STAMPED = "UPDATE residents SET updated_at = %s, updated_by = %s WHERE id = %s"
_WITHOUT_RESIDENT = """
SELECT h.id FROM homes h WHERE h.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM residents r WHERE r.home_id = h.id)
"""
_ADD_MANY = """
INSERT INTO residents (home_id, full_name, birth_year, rule_settings, date_of_birth, phone, emergency_contacts)
SELECT home_id, full_name, extract(year FROM born)::int, %s::jsonb, born, phone, contacts
  FROM unnest(%s::text[], %s::text[], %s::date[], %s::text[], %s::jsonb[]) AS u(home_id, full_name, born, phone, contacts)
"""
_FILL_HOME_CARDS = """
UPDATE homes h SET address = u.address, access_notes = u.access
  FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(id, address, access) WHERE h.id = u.id AND h.address IS NULL
"""
_SET_RULES = "UPDATE residents SET rule_settings = %s::jsonb WHERE home_id = ANY(%s)"


@dataclass(frozen=True)
class NewResident:
    """A resident registered in bulk (simulated homes): the card's essentials."""

    home_id: str
    full_name: str
    born: date
    phone: str | None
    contacts: list[dict[str, str]]
    address: str
    access_notes: str


def _params(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: Jsonb(value) if key in _JSON_COLUMNS else value for key, value in values.items()}


async def add_resident(conn: psycopg.AsyncConnection[Any], home_id: str, values: Mapping[str, Any]) -> int:
    """A new resident of ``home_id``; a column left out of ``values`` is empty."""
    unknown = set(values) - set(RESIDENT_COLUMNS)
    if unknown:
        raise ValueError(f"not a resident column: {sorted(unknown)}")
    full = {column: values.get(column) for column in RESIDENT_COLUMNS} | {"home_id": home_id}
    full["emergency_contacts"] = full["emergency_contacts"] or []
    full["rule_settings"] = full["rule_settings"] or {}
    row = await (await conn.execute(_INSERT, _params(full))).fetchone()
    assert row is not None  # RETURNING
    return int(row[0])


async def update_resident(conn: psycopg.AsyncConnection[Any], resident_id: int, changes: Mapping[str, Any]) -> None:
    """Set the given columns of a resident (nothing to do without changes)."""
    if changes:
        assignments = ", ".join(_UPDATE[column] for column in changes)
        await conn.execute(
            "UPDATE residents SET " + assignments + " WHERE id = %(rid)s", {**_params(changes), "rid": resident_id}
        )


async def update_home_card(conn: psycopg.AsyncConnection[Any], home_id: str, changes: Mapping[str, Any]) -> None:
    """Set the home's address or access notes (nothing to do without changes)."""
    if changes:
        assignments = ", ".join(_UPDATE_HOME[column] for column in changes)
        await conn.execute("UPDATE homes SET " + assignments + " WHERE id = %(home)s", {**changes, "home": home_id})


async def record_change(
    conn: psycopg.AsyncConnection[Any], resident_id: int, fields: Sequence[str], *, actor_id: int, now: datetime
) -> None:
    """Who changed which fields of the card, and when (the values are health data: not copied)."""
    if fields:
        await conn.execute(_CHANGED, (resident_id, now, actor_id, list(fields)))
        await conn.execute(_STAMPED, (now, actor_id, resident_id))


async def add_residents_where_missing(
    conn: psycopg.AsyncConnection[Any],
    home_ids: Sequence[str],
    make: Callable[[str], NewResident],
    rules: Mapping[str, Any] | None,
) -> int:
    """One resident for each of ``home_ids`` that has none, from ``make(home_id) -> NewResident``, in
    one statement (10,000 simulated homes register in seconds); returns how many were added."""
    lonely = [row[0] for row in await (await conn.execute(_WITHOUT_RESIDENT, (list(home_ids),))).fetchall()]
    if not lonely:
        return 0
    new: list[NewResident] = [make(home_id) for home_id in lonely]
    contacts = [json.dumps(r.contacts, ensure_ascii=False) for r in new]
    await conn.execute(
        _ADD_MANY,
        (
            json.dumps(dict(rules or {})),
            lonely,
            [r.full_name for r in new],
            [r.born for r in new],
            [r.phone for r in new],
            contacts,
        ),
    )
    await conn.execute(_FILL_HOME_CARDS, (lonely, [r.address for r in new], [r.access_notes for r in new]))
    return len(lonely)


async def set_rule_settings(conn: psycopg.AsyncConnection[Any], home_ids: Sequence[str], rules: Mapping[str, Any]) -> None:
    """The same rule settings for every resident of ``home_ids`` (a simulated scenario's)."""
    await conn.execute(_SET_RULES, (json.dumps(dict(rules)), list(home_ids)))
