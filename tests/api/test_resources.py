"""Alert actions with their audit trail, filters and paging, residents, timeline, summary, telecare, validation."""

from __future__ import annotations

from datetime import timedelta

import httpx
import psycopg
from psycopg.types.json import Jsonb

from alerts.inactivity import learn_routine
from eldercare.clock import FixedClock
from tests.alerts.inactivity_homes import TZ, Resident, at
from tests.api.conftest import NOW, World, insert_alert, login


async def test_acknowledge_resolve_comment_assign_are_audited(client: httpx.AsyncClient, world: World, clock: FixedClock) -> None:
    staff = await login(client, "staff_a")
    alert = f"/api/v1/alerts/{world.alert_x}"
    clock.advance(timedelta(seconds=40))
    acked = (await client.post(f"{alert}/acknowledge", json={"note": "calling"}, headers=staff)).json()
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == world.users["staff_a"]
    assert acked["acknowledged_at"] == (NOW + timedelta(seconds=40)).isoformat().replace("+00:00", "Z")
    assert (await client.post(f"{alert}/acknowledge", json={}, headers=staff)).status_code == 409
    assert (await client.post(f"{alert}/assign", json={"user_id": world.users["staff_b"]}, headers=staff)).status_code == 422
    assigned = (await client.post(f"{alert}/assign", json={"user_id": world.users["staff_a"]}, headers=staff)).json()
    assert assigned["assigned_to"] == world.users["staff_a"]
    assert (await client.post(f"{alert}/comments", json={"note": "daughter informed"}, headers=staff)).status_code == 201
    clock.advance(timedelta(minutes=20))
    staff = await login(client, "staff_a")  # the access token expired meanwhile
    resolved = (await client.post(f"{alert}/resolve", json={"outcome": "visited", "note": "no injury"}, headers=staff)).json()
    assert (resolved["status"], resolved["outcome"], resolved["resolution_note"]) == ("resolved", "visited", "no injury")
    assert [(h["action"], h["actor"], h["note"]) for h in resolved["history"]] == [
        ("acknowledged", "staff_a", "calling"),
        ("assigned", "staff_a", None),
        ("commented", "staff_a", "daughter informed"),
        ("resolved", "staff_a", "no injury"),
    ]
    assert (await client.post(f"{alert}/resolve", json={"outcome": "visited"}, headers=staff)).status_code == 409
    telecare = (await client.get(f"/api/v1/centres/{world.centre_a}/telecare", headers=staff)).json()
    # Opened 5 min before NOW, acknowledged 40 s after NOW, resolved 20 min later.
    assert telecare["overall"]["alerts"] == 1
    assert telecare["overall"]["ack_p50_s"] == 340.0
    assert telecare["overall"]["resolve_p50_s"] == 340.0 + 1200.0
    assert telecare["by_severity"]["critical"]["resolved"] == 1


async def test_telecare_percentiles(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM alerts")
        for minutes in range(1, 11):  # ack after 1..10 minutes; resolve after twice that
            opened = NOW - timedelta(days=1, hours=minutes)
            alert_id = insert_alert(
                conn,
                home="home-a1",
                resident=world.resident_x,
                centre=world.centre_a,
                kind=f"k{minutes}",
                severity="high",
                opened=opened,
            )
            conn.execute(
                "UPDATE alerts SET status = 'resolved', acknowledged_at = opened_at + %s, resolved_at = opened_at + %s WHERE id = %s",
                (timedelta(minutes=minutes), timedelta(minutes=2 * minutes), alert_id),
            )
    admin = await login(client, "admin")
    figures = (await client.get(f"/api/v1/centres/{world.centre_a}/telecare", headers=admin)).json()["overall"]
    assert figures["alerts"] == figures["acknowledged"] == figures["resolved"] == 10
    assert figures["ack_p50_s"] == 330.0  # median of 60..600 s
    assert figures["ack_p90_s"] == 546.0  # continuous percentile
    assert figures["resolve_p90_s"] == 1092.0


async def test_alert_filters_and_paging(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for i in range(25):
            alert_id = insert_alert(
                conn,
                home="home-a1",
                resident=world.resident_y,
                centre=world.centre_a,
                kind=f"kind{i}",
                severity="low",
                opened=NOW - timedelta(hours=i + 1),
            )
            conn.execute("UPDATE alerts SET status = 'resolved' WHERE id = %s", (alert_id,))
    staff = await login(client, "staff_a")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"resident_id": world.resident_y, "limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/alerts", params=params, headers=staff)).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 25
    opened = [
        a["opened_at"]
        for a in (
            await client.get("/api/v1/alerts", params={"resident_id": world.resident_y, "limit": 100}, headers=staff)
        ).json()["items"]
    ]
    assert opened == sorted(opened, reverse=True)
    open_only = (await client.get("/api/v1/alerts", params={"status": "open"}, headers=staff)).json()["items"]
    assert [a["id"] for a in open_only] == [world.alert_x]
    critical = (await client.get("/api/v1/alerts", params={"severity": "critical", "kind": "fall"}, headers=staff)).json()[
        "items"
    ]
    assert [a["id"] for a in critical] == [world.alert_x]
    window = {
        "from": (NOW - timedelta(hours=5, minutes=30)).isoformat(),
        "to": (NOW - timedelta(hours=2, minutes=30)).isoformat(),
    }
    assert len((await client.get("/api/v1/alerts", params=window, headers=staff)).json()["items"]) == 3


async def test_validation_answers_422_with_the_field(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    x = world.resident_x
    cases: list[tuple[str, dict[str, str | int], str]] = [
        ("/api/v1/alerts", {"limit": 1001}, "limit"),
        ("/api/v1/alerts", {"severity": "apocalyptic"}, "severity"),
        ("/api/v1/alerts", {"from": "2026-05-01T00:00:00"}, "from"),  # naive time: which zone?
        ("/api/v1/alerts", {"cursor": "garbage"}, "cursor"),
        (f"/api/v1/residents/{x}/readings", {"limit": 0}, "limit"),
    ]
    for path, params, field in cases:
        response = await client.get(path, params=params, headers=staff)
        assert response.status_code == 422, (path, params)
        assert field in [detail["loc"][-1] for detail in response.json()["detail"]]
    too_long = {"from": "2026-04-01T00:00:00Z", "to": "2026-04-09T00:00:00Z"}
    assert (await client.get(f"/api/v1/residents/{x}/readings", params=too_long, headers=staff)).status_code == 422
    reversed_range = {"from": "2026-04-02T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    assert (await client.get(f"/api/v1/residents/{x}/activity", params=reversed_range, headers=staff)).status_code == 422
    assert (
        await client.get(
            f"/api/v1/residents/{x}/activity",
            params={"from": "2025-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
            headers=staff,
        )
    ).status_code == 422
    bad_absence = {"starts_at": "2026-05-03T00:00:00Z", "ends_at": "2026-05-02T00:00:00Z"}
    assert (await client.post(f"/api/v1/residents/{x}/absences", json=bad_absence, headers=staff)).status_code == 422
    assert (await client.patch(f"/api/v1/residents/{x}", json={"unknown_field": 1}, headers=staff)).status_code == 422


async def test_resident_profile_contacts_rules_and_absences(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    url = f"/api/v1/residents/{world.resident_x}"
    patch = {
        "birth_year": 1940,
        "emergency_contacts": [{"name": "Son", "relation": "son", "phone": "139"}],
        "rule_settings": {"inactivity": {"default_threshold_s": 7200}},
    }
    updated = (await client.patch(url, json=patch, headers=staff)).json()
    assert (updated["birth_year"], updated["emergency_contacts"][0]["name"], updated["rule_settings"]) == (
        1940,
        "Son",
        {"inactivity": {"default_threshold_s": 7200}},
    )
    assert (await client.patch(url, json={"phone": "123"}, headers=staff)).json()["birth_year"] == 1940  # untouched fields stay
    absence = {"starts_at": "2026-05-02T08:00:00+08:00", "ends_at": "2026-05-09T18:00:00+08:00", "reason": "holiday"}
    created = (await client.post(f"{url}/absences", json=absence, headers=staff)).json()
    assert [a["id"] for a in (await client.get(f"{url}/absences", headers=staff)).json()] == [created["id"]]
    assert (await client.delete(f"{url}/absences/{created['id']}", headers=staff)).status_code == 204
    assert (await client.get(f"{url}/absences", headers=staff)).json() == []


async def test_timeline_readings_and_summary(client: httpx.AsyncClient, world: World) -> None:
    family = await login(client, "family_x")
    x = world.resident_x
    hourly = (await client.get(f"/api/v1/residents/{x}/activity", headers=family)).json()
    assert len(hourly["buckets"]) == 23  # seeded up to NOW - 1 h; the default window is the 24 h ending with this hour
    assert hourly["buckets"][0]["motion_by_room"] == {"kitchen": 5}
    assert hourly["timezone"] == "Asia/Shanghai"
    daily = (await client.get(f"/api/v1/residents/{x}/activity", params={"bucket": "day"}, headers=family)).json()
    assert daily["buckets"][0]["start"].endswith("T16:00:00Z")  # local midnight in Asia/Shanghai
    assert all(b["motion"] == 120 for b in daily["buckets"][1:-1])  # whole days: 24 x 5
    pages, cursor = [], None
    while True:
        params: dict[str, str | int] = {
            "from": (NOW - timedelta(hours=1)).isoformat(),
            "to": NOW.isoformat(),
            "limit": 7,
            **({"cursor": cursor} if cursor else {}),
        }
        page = (await client.get(f"/api/v1/residents/{x}/readings", params=params, headers=family)).json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    seqs = [r["seq"] for items in pages for r in items]
    assert seqs == list(range(1, 31))
    summary = (await client.get(f"/api/v1/residents/{x}/summary", params={"date": "2026-04-28"}, headers=family)).json()
    assert summary["activity"] == {"today": 120, "usual": 120, "ratio": 1.0}
    assert summary["kitchen"]["today"] == 120 + 48  # motion plus appliance use in the kitchen
    today = (await client.get(f"/api/v1/residents/{x}/summary", headers=family)).json()
    assert [a["kind"] for a in today["alerts"]] == ["fall"]


async def test_dashboard_is_served_locally_with_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace("http://www.w3.org", "")  # no absolute (CDN) URLs in the page
    for asset in ("/static/app.js", "/static/console.js", "/static/incident.js", "/static/people.js", "/static/app.css"):
        response = await client.get(asset)
        assert response.status_code == 200
        assert "https://" not in response.text


async def test_the_resident_page_says_what_the_welfare_checks_can_see(
    client: httpx.AsyncClient, world: World, db_url: str
) -> None:
    staff = await login(client, "staff_a")
    url = f"/api/v1/residents/{world.resident_x}"
    assert (await client.get(url, headers=staff)).json()["welfare_coverage"] is None  # nothing learned yet
    # A home whose sensors miss the living room, learned the way the alert engine learns it.
    model = learn_routine(Resident(rooms=("kitchen", "bathroom")).history(21), TZ, now=at(21, 0))
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO routine_models (resident_id, model, learned_at, days_of_history) VALUES (%s, %s, %s, %s)",
            (world.resident_x, Jsonb(model.to_dict()), at(21, 0), model.days_of_history),
        )
    coverage = (await client.get(url, headers=staff)).json()["welfare_coverage"]
    assert coverage["level"] == "slow"
    assert "Welfare checks are slow here: no sensor in the living room." in coverage["notes_en"]
    assert "此处安全检查较慢：客厅没有传感器。" in coverage["notes_zh"]
    assert coverage["has_bed"] is False
    assert (await client.get(url, headers=staff)).json()["usual_wake_s"] == dict(model.usual_wake_s)
    assert model.usual_wake_s  # the resident card says "usually up by 07:40"
    listed = (await client.get("/api/v1/residents", headers=staff)).json()
    assert next(r for r in listed if r["id"] == world.resident_x)["welfare_coverage"] == coverage
