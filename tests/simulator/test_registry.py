"""The simulated homes come with what a care worker needs on the phone: a resident card."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from eldercare.config import Settings
from simulator.registry import CENTRE_PHONE, register, resident_card

NOW = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


async def test_every_simulated_resident_has_a_card_and_the_centre_a_phone(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(simulator={"homes": 30, "home_prefix": "reg"})
    homes = [f"reg-{i:05d}" for i in range(30)]
    await register(settings, homes, now=NOW)
    await register(settings, homes, now=NOW)  # again: nothing doubles, nothing changes
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT r.home_id, r.phone, r.date_of_birth, r.birth_year, r.emergency_contacts, h.address, h.access_notes"
            " FROM residents r JOIN homes h ON h.id = r.home_id ORDER BY r.home_id"
        ).fetchall()
        centre_phone = conn.execute("SELECT phone FROM care_centres").fetchall()
    assert centre_phone == [(CENTRE_PHONE,)]
    assert [r[0] for r in rows] == homes
    for home, phone, born, year, contacts, address, access in rows:
        card = resident_card(settings.simulator.seed, home)
        assert (phone, born, year, contacts) == (card.phone, card.born, card.born.year, card.contacts)
        assert 1 <= len(contacts) <= 2
        assert all(c["phone"].startswith("+86") and c["name"] for c in contacts)
        assert (address, access) == (card.address, card.access)
    without_phone = [r for r in rows if r[1] is None]
    assert 0 < len(without_phone) < len(rows)  # a few have none: the console shows "no phone number"
