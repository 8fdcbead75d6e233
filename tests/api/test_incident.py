"""The incident: an alert's whole story on one answer, acknowledge = claim, the protocol's attempts,
resolution rules, and the server's clock the dashboard counts ages from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from psycopg.types.json import Jsonb

from api.routes.clock import speed_of
from api.security import hash_password
from eldercare.clock import FixedClock, ScaledClock
from tests.api.conftest import NOW, PASSWORD, World, insert_alert, login


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _second_staff(db_url: str, world: World) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash, role, care_centre_id, display_name) VALUES ('staff_a2', %s, 'staff', %s, 'Wang Fang')",
            (hash_password(PASSWORD), world.centre_a),
        )


async def test_acknowledging_claims_the_alert_for_everyone_to_see(
    client: httpx.AsyncClient, world: World, db_url: str, clock: FixedClock
) -> None:
    _second_staff(db_url, world)
    first, second = await login(client, "staff_a"), await login(client, "staff_a2")
    alert = f"/api/v1/alerts/{world.alert_x}"
    claimed = (await client.post(f"{alert}/acknowledge", json={"note": "calling her"}, headers=second)).json()
    assert (claimed["assigned_to_name"], claimed["acknowledged_by_name"]) == ("Wang Fang", "Wang Fang")
    late = await client.post(f"{alert}/acknowledge", json={}, headers=first)
    assert late.status_code == 409
    assert "claimed" in late.json()["detail"]
    # The other operator's queue says whose it is.
    listed = (await client.get("/api/v1/alerts", params={"status": "acknowledged"}, headers=first)).json()["items"]
    assert [(a["id"], a["assigned_to_name"]) for a in listed] == [(world.alert_x, "Wang Fang")]
    history = (await client.get(alert, headers=first)).json()["history"]
    assert [(h["action"], h["actor_name"], h["note"]) for h in history] == [("acknowledged", "Wang Fang", "calling her")]


async def test_the_protocol_steps_are_logged_with_their_results(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    alert = f"/api/v1/alerts/{world.alert_x}"
    call = {"step": "call_resident", "result": "no_answer"}
    assert (await client.post(f"{alert}/attempts", json=call, headers=staff)).status_code == 409  # claim it first
    await client.post(f"{alert}/acknowledge", json={}, headers=staff)
    contacts = [{"name": "Daughter Li", "relation": "daughter", "phone": "+86 139 0000 0001"}, {"name": "Neighbour Zhao"}]
    await client.patch(f"/api/v1/residents/{world.resident_x}", json={"emergency_contacts": contacts}, headers=staff)
    assert (await client.post(f"{alert}/attempts", json=call, headers=staff)).status_code == 201
    for bad in (
        {"step": "call_contact", "result": "busy"},  # which contact?
        {"step": "call_contact", "result": "busy", "contact_index": 2},  # there are two
        {"step": "dispatch", "result": "dispatched", "contact_index": 0},
        {"step": "call_resident", "result": "maybe"},
    ):
        assert (await client.post(f"{alert}/attempts", json=bad, headers=staff)).status_code == 422, bad
    second_contact = {"step": "call_contact", "contact_index": 1, "result": "answered_ok", "note": "he has a key"}
    assert (await client.post(f"{alert}/attempts", json=second_contact, headers=staff)).status_code == 201
    done = await client.post(f"{alert}/attempts", json={"step": "dispatch", "result": "on_site"}, headers=staff)
    attempts = [h for h in done.json()["history"] if h["action"] == "attempted"]
    assert [(a["details"]["step"], a["details"]["result"], a["details"]["contact_name"], a["note"]) for a in attempts] == [
        ("call_resident", "no_answer", None, None),
        ("call_contact", "answered_ok", "Neighbour Zhao", "he has a key"),
        ("dispatch", "on_site", None, None),
    ]
    family = await login(client, "family_x")
    assert (await client.post(f"{alert}/attempts", json=call, headers=family)).status_code == 403


async def test_a_critical_alert_is_resolved_only_with_a_note(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    staff = await login(client, "staff_a")
    alert = f"/api/v1/alerts/{world.alert_x}"  # a fall: critical
    for body in ({"outcome": "resident_ok"}, {"outcome": "resident_ok", "note": "   "}):
        refused = await client.post(f"{alert}/resolve", json=body, headers=staff)
        assert refused.status_code == 422
        assert [issue["loc"] for issue in refused.json()["detail"]] == [["body", "note"]]
    resolved = await client.post(f"{alert}/resolve", json={"outcome": "visited", "note": "slipped, no injury"}, headers=staff)
    assert resolved.json()["resolved_by_name"] == "staff_a"
    with psycopg.connect(db_url) as conn:
        low = insert_alert(
            conn, home="home-a1", resident=None, centre=world.centre_a, kind="low_battery", severity="low", opened=NOW
        )
    assert (await client.post(f"/api/v1/alerts/{low}/resolve", json={"outcome": "other"}, headers=staff)).status_code == 200


async def test_the_incident_holds_notifications_activity_and_escalation(
    client: httpx.AsyncClient, world: World, db_url: str
) -> None:
    escalates_at = NOW + timedelta(minutes=2)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alerts SET next_escalation_at = %s WHERE id = %s", (escalates_at, world.alert_x))
        channel = conn.execute(
            "INSERT INTO notification_channels (care_centre_id, name, kind, target, secret)"
            " VALUES (%s, 'duty desk', 'webhook', 'https://hooks.example.org/secret-path', 'k') RETURNING id",
            (world.centre_a,),
        ).fetchone()[0]  # type: ignore[index]
        for purpose, status, channel_id, recipient, sent in (
            ("opened", "sent", channel, None, NOW - timedelta(minutes=4)),
            ("escalation", "failed", None, Jsonb({"name": "Daughter Li", "phone": "+86 139 0000 0001"}), None),
        ):
            conn.execute(
                "INSERT INTO notification_outbox (alert_id, channel_id, recipient, purpose, dedupe_key, payload, status, attempts,"
                " next_attempt_at, created_at, sent_at) VALUES (%s, %s, %s, %s, %s, '{}', %s, 3, %s, %s, %s)",
                (world.alert_x, channel_id, recipient, purpose, f"k-{purpose}", status, NOW, NOW - timedelta(minutes=4), sent),
            )
    staff = await login(client, "staff_a")
    response = await client.get(f"/api/v1/alerts/{world.alert_x}", headers=staff)
    incident = response.json()
    assert incident["server_now"] == _iso(NOW)
    assert incident["next_escalation_at"] == _iso(escalates_at)
    assert [(n["purpose"], n["status"], n["channel_name"], n["recipient_name"]) for n in incident["notifications"]] == [
        ("opened", "sent", "duty desk", None),
        ("escalation", "failed", None, "Daughter Li"),
    ]
    assert "secret-path" not in response.text
    assert "+86 139" not in response.text
    # The seeded home: a motion reading a minute for the last 40 minutes (the hourly history is older).
    activity = incident["activity"]
    assert len(activity) == 30
    assert {a["what"] for a in activity} == {"motion"}
    assert activity == sorted(activity, key=lambda a: a["at"], reverse=True)
    assert datetime.fromisoformat(activity[-1]["at"]) > NOW - timedelta(hours=1)
    family = await login(client, "family_x")
    theirs = (await client.get(f"/api/v1/alerts/{world.alert_x}", headers=family)).json()
    assert theirs["notifications"] == []  # where the centre's messages go is the centre's business
    assert len(theirs["activity"]) == 30


async def test_the_server_clock_is_served_with_its_speed(client: httpx.AsyncClient, world: World, clock: FixedClock) -> None:
    assert (await client.get("/api/v1/clock")).status_code == 401
    staff = await login(client, "staff_a")
    clock.advance(timedelta(seconds=30))
    assert (await client.get("/api/v1/clock", headers=staff)).json() == {"now": _iso(NOW + timedelta(seconds=30)), "speed": 1.0}
    assert speed_of(ScaledClock(start=datetime(2026, 5, 1, tzinfo=UTC), speed=60.0)) == 60.0


async def test_the_resident_card_is_edited_by_the_centre_and_audited(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    card = {
        "date_of_birth": "1941-03-08",
        "phone": "+86 21 5555 0101",
        "conditions": "Type 2 diabetes; hip replacement 2023",
        "allergies": "penicillin",
        "medication_notes": "metformin morning and evening",
        "address": "Lane 12, No. 3, Room 401",
        "access_notes": "key safe by the door, code 4711",
        "emergency_contacts": [{"name": "Daughter Li", "relation": "daughter", "phone": "+86 139 0000 0001"}],
    }
    updated = await client.patch(f"/api/v1/residents/{world.resident_x}", json=card, headers=staff)
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert {key: body[key] for key in card} == card
    assert body["updated_by_name"] == "staff_a"
    # The address and the way in belong to the home: Y, who lives there too, shows them.
    other = (await client.get(f"/api/v1/residents/{world.resident_y}", headers=staff)).json()
    assert (other["address"], other["access_notes"]) == (card["address"], card["access_notes"])
    changes = (await client.get(f"/api/v1/residents/{world.resident_x}/changes", headers=staff)).json()
    assert [(c["actor"], c["fields"]) for c in changes] == [("staff_a", sorted(card))]
    assert "4711" not in str(changes)
    family = await login(client, "family_x")
    theirs = (await client.get(f"/api/v1/residents/{world.resident_x}", headers=family)).json()
    assert (theirs["allergies"], theirs["care_centre_name"], theirs["care_centre_phone"]) == ("penicillin", "Centre A", None)
    assert (
        await client.patch(f"/api/v1/residents/{world.resident_x}", json={"allergies": "x"}, headers=family)
    ).status_code == 403
    assert (await client.get(f"/api/v1/residents/{world.resident_x}/changes", headers=family)).status_code == 403
    outsider = await login(client, "staff_b")
    assert (
        await client.patch(f"/api/v1/residents/{world.resident_x}", json={"allergies": "x"}, headers=outsider)
    ).status_code == 404
    too_long = await client.patch(f"/api/v1/residents/{world.resident_x}", json={"access_notes": "x" * 2001}, headers=staff)
    assert too_long.status_code == 422
