"""District oversight: a district office reads figures across the centres it oversees, nothing else.

Scope as everywhere: outside its centres is 404; it names no resident, home or alert of any centre
(404, empty lists); every write is 403 (or 404). The figures (homes monitored, devices healthy, open
and overdue alarms, p50/p90 of the time to claim and to close per centre and ISO week) and their CSV.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from api.accounts import NewUser, create_user
from tests.api.conftest import NOW, PASSWORD, World, insert_alert, login


async def _district(db_url: str, *centres: int, username: str = "district_1") -> None:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        new = NewUser(username=username, password=PASSWORD, role="district", district_centre_ids=list(centres))
        await create_user(conn, new, now=NOW)


def _closed_alarm(conn: psycopg.Connection, w: World, *, opened: datetime, claim_s: float, close_s: float | None) -> int:
    # One alarm of a kind is open per home at a time: the one left open is of a kind of its own.
    kind = "sos" if close_s is not None else "inactivity"
    alert = insert_alert(
        conn, home="home-a1", resident=w.resident_x, centre=w.centre_a, kind=kind, severity="high", opened=opened
    )
    conn.execute(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s WHERE id = %s",
        (opened + timedelta(seconds=claim_s), w.users["staff_a"], alert),
    )
    if close_s is not None:
        conn.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s, outcome = 'visited' WHERE id = %s",
            (opened + timedelta(seconds=close_s), w.users["staff_a"], alert),
        )
    return alert


async def test_a_district_sees_its_centres_and_nothing_of_anyone(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    await _district(db_url, world.centre_a)
    headers = await login(client, "district_1")
    me = (await client.get("/api/v1/auth/me", headers=headers)).json()
    assert me["role"] == "district"
    assert [c["id"] for c in (await client.get("/api/v1/centres", headers=headers)).json()] == [world.centre_a]
    a, b = world.centre_a, world.centre_b
    statuses = {p: (await client.get(p, headers=headers)).status_code for p in (
        f"/api/v1/centres/{a}", f"/api/v1/centres/{a}/telecare",  # its own: figures only
        f"/api/v1/centres/{b}", f"/api/v1/centres/{b}/telecare",  # outside
        f"/api/v1/centres/{a}/channels",  # staff phones and addresses: not its business
        f"/api/v1/residents/{world.resident_x}", f"/api/v1/alerts/{world.alert_x}", "/api/v1/homes/home-a1",
        "/api/v1/devices/motion-a1", f"/api/v1/residents/{world.resident_x}/summary",
    )}  # fmt: skip
    assert statuses == {
        f"/api/v1/centres/{a}": 200, f"/api/v1/centres/{a}/telecare": 200,
        **{p: 404 for p in list(statuses)[2:]},
    }  # fmt: skip
    for path in ("/api/v1/homes", "/api/v1/residents", "/api/v1/board", "/api/v1/devices"):
        assert (await client.get(path, headers=headers)).json() == [], path
    assert (await client.get("/api/v1/alerts", headers=headers)).json()["items"] == []
    for path in ("/api/v1/handover", "/api/v1/dead-letters", "/api/v1/users", "/api/v1/audit"):
        assert (await client.get(path, headers=headers)).status_code == 403, path


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/alerts/{alert_x}/acknowledge", {}),
        ("post", "/api/v1/alerts/{alert_x}/resolve", {"outcome": "visited", "note": "no injury"}),
        ("post", "/api/v1/alerts/{alert_x}/comments", {"note": "hello"}),
        ("patch", "/api/v1/residents/{resident_x}", {"phone": "123"}),
        ("post", "/api/v1/residents", {"home_id": "home-a1", "full_name": "New"}),
        ("post", "/api/v1/homes/home-a1/credentials", None),
        ("post", "/api/v1/centres", {"name": "Centre C"}),
        ("post", "/api/v1/centres/{centre_a}/channels", {"name": "x", "kind": "email", "target": "a@b.c"}),
        ("post", "/api/v1/users", {"username": "mole", "password": PASSWORD, "role": "admin"}),
    ],
)
async def test_a_district_writes_nothing(
    client: httpx.AsyncClient, world: World, db_url: str, method: str, path: str, body: object
) -> None:
    await _district(db_url, world.centre_a, world.centre_b)
    headers = await login(client, "district_1")
    url = path.format(alert_x=world.alert_x, resident_x=world.resident_x, centre_a=world.centre_a)
    assert (await client.request(method, url, json=body, headers=headers)).status_code in (403, 404)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT status FROM alerts WHERE id = %s", (world.alert_x,)).fetchone() == ("open",)
        assert conn.execute("SELECT count(*) FROM users WHERE username = 'mole'").fetchone() == (0,)


async def test_the_figures_per_centre_and_iso_week(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO home_state (home_id, gateway_state) VALUES ('home-a1', 'online'), ('home-b1', 'offline')")
        conn.execute(
            "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at, battery_pct) VALUES"
            " ('silent-a1', 'home-a1', 'door', 'hall', %(t)s, %(t)s, 90), ('weak-a1', 'home-a1', 'door', 'hall', %(n)s, %(n)s, 5)",
            # Silent for two days: beyond any device's bound (eldercare.domain.liveness.CAP_S, 26.1 h).
            {"t": NOW - timedelta(days=2), "n": NOW},
        )
        # The seeded fall of A is past its escalation deadline: overdue.
        conn.execute("UPDATE alerts SET next_escalation_at = %s WHERE id = %s", (NOW - timedelta(minutes=1), world.alert_x))
        # Week 2026-W17 (Shanghai): claimed after 60, 120, 180 s; closed after 600, 1200 s (and one still claimed).
        monday = datetime.fromisoformat("2026-04-20T09:00:00+08:00")
        for claim, close in ((60, 600), (120, 1200), (180, None)):
            _closed_alarm(conn, world, opened=monday, claim_s=claim, close_s=close)
        # Week 2026-W18: one alarm, claimed after 30 s, closed after 300 s.
        _closed_alarm(conn, world, opened=datetime.fromisoformat("2026-04-27T00:30:00+08:00"), claim_s=30, close_s=300)
        # The system closed one itself (a device back online): no staff time to close.
        auto = insert_alert(conn, home="home-a1", resident=None, centre=world.centre_a, kind="device_offline",
                            severity="medium", opened=NOW - timedelta(days=1))  # fmt: skip
        conn.execute(
            "UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'auto_resolved' WHERE id = %s", (NOW, auto)
        )
    await _district(db_url, world.centre_a)
    headers = await login(client, "district_1")
    since = "2026-04-13T00:00:00Z"
    body = (await client.get("/api/v1/oversight", params={"from": since}, headers=headers)).json()
    assert body["to"] == NOW.isoformat().replace("+00:00", "Z")
    [a] = body["centres"]
    assert {k: a[k] for k in ("care_centre_id", "homes", "homes_monitored", "devices", "devices_healthy")} == {
        "care_centre_id": world.centre_a, "homes": 1, "homes_monitored": 1, "devices": 3, "devices_healthy": 1,
    }  # fmt: skip
    assert (a["open_alarms"], a["unclaimed_alarms"], a["overdue_alarms"]) == (2, 1, 1)  # the fall, and W17's third
    period = a["period"]
    assert (period["alerts"], period["acknowledged"], period["resolved_by_staff"]) == (6, 4, 3)
    assert (period["ack_p50_s"], period["resolve_p50_s"]) == (90.0, 600.0)
    weeks = {w["week"]: w for w in a["weeks"]}
    assert list(weeks) == ["2026-W17", "2026-W18"]
    assert weeks["2026-W17"]["week_start"] == "2026-04-20"
    w17 = weeks["2026-W17"]
    assert (w17["alerts"], w17["ack_p50_s"], w17["ack_p90_s"], w17["resolve_p50_s"], w17["resolve_p90_s"]) == (
        3, 120.0, pytest.approx(168.0), 900.0, pytest.approx(1140.0)
    )  # fmt: skip
    w18 = weeks["2026-W18"]  # the W18 alarm, the auto-closed one and the seeded fall (opened today)
    assert (w18["alerts"], w18["acknowledged"], w18["ack_p50_s"], w18["resolve_p50_s"]) == (3, 1, 30.0, 300.0)

    # Admins see every centre, staff their own, families nothing (403).
    admin = await login(client, "admin")
    every = (await client.get("/api/v1/oversight", headers=admin)).json()["centres"]
    assert [c["care_centre_id"] for c in every] == [world.centre_a, world.centre_b]
    staff_b = await login(client, "staff_b")
    assert [c["care_centre_id"] for c in (await client.get("/api/v1/oversight", headers=staff_b)).json()["centres"]] == [
        world.centre_b
    ]
    assert (await client.get("/api/v1/oversight", headers=await login(client, "family_x"))).status_code == 403
    bad = await client.get("/api/v1/oversight", params={"from": "2020-01-01T00:00:00Z"}, headers=headers)
    assert bad.status_code == 422


async def test_the_figures_as_a_spreadsheet(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE care_centres SET name = '=HYPERLINK(\"http://x\")' WHERE id = %s", (world.centre_b,))
        _closed_alarm(conn, world, opened=NOW - timedelta(days=8), claim_s=45, close_s=900)
    await _district(db_url, world.centre_a, world.centre_b)
    headers = await login(client, "district_1")
    response = await client.get("/api/v1/oversight/export.csv", params={"lang": "zh-CN"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="oversight-')
    assert response.text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert rows[0][:3] == ["中心编号", "护理中心", "时段"]
    by_period = {(r[0], r[2]): r for r in rows[1:]}
    a, b = str(world.centre_a), str(world.centre_b)
    assert set(by_period) == {(a, "整个时段"), (a, "2026-W17"), (a, "2026-W18"), (b, "整个时段"), (b, "2026-W18")}
    assert by_period[(a, "2026-W17")][rows[0].index("认领用时 p50（秒）")] == "45.0"
    assert by_period[(a, "整个时段")][rows[0].index("住所数")] == "1"
    assert by_period[(b, "整个时段")][1] == '\'=HYPERLINK("http://x")'  # a formula stays text
    english = await client.get("/api/v1/oversight/export.csv", headers=headers)
    assert "time to claim p50 (s)" in english.text


async def test_district_accounts_are_validated(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, "admin")
    base = {"username": "civil.affairs", "password": PASSWORD, "role": "district"}
    for body, field in (
        (base, "district_centre_ids"),
        ({**base, "district_centre_ids": [world.centre_a], "care_centre_id": world.centre_a}, "care_centre_id"),
        (
            {**base, "role": "staff", "care_centre_id": world.centre_a, "district_centre_ids": [world.centre_a]},
            "district_centre_ids",
        ),
        ({**base, "district_centre_ids": [world.centre_a, world.centre_a]}, "district_centre_ids"),
    ):
        response = await client.post("/api/v1/users", json=body, headers=admin)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == ["body", field]
    missing = await client.post("/api/v1/users", json={**base, "district_centre_ids": [world.centre_a, 10**9]}, headers=admin)
    assert missing.status_code == 404
    made = await client.post(
        "/api/v1/users", json={**base, "district_centre_ids": [world.centre_b, world.centre_a]}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.json()["district_centre_ids"] == sorted([world.centre_a, world.centre_b])
    headers = await login(client, "civil.affairs")
    assert len((await client.get("/api/v1/oversight", headers=headers)).json()["centres"]) == 2
