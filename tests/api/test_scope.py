"""Scope: staff of centre A, family of resident X, staff of centre B and anonymous callers, on every resource.

Outside a user's scope is 404 (indistinguishable from absent); families are read-only (403 on writes).
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import World, login


def readable_paths(w: World) -> dict[str, list[str]]:
    """Per resident/centre, every GET that must be scoped."""
    x, z = w.resident_x, w.resident_z
    return {
        "x": [
            f"/api/v1/residents/{x}",
            f"/api/v1/residents/{x}/absences",
            f"/api/v1/residents/{x}/activity",
            f"/api/v1/residents/{x}/activity?bucket=day",
            f"/api/v1/residents/{x}/readings",
            f"/api/v1/residents/{x}/summary",
            f"/api/v1/alerts/{w.alert_x}",
            "/api/v1/homes/home-a1",
            "/api/v1/devices/motion-a1",
        ],
        "z": [
            f"/api/v1/residents/{z}",
            f"/api/v1/residents/{z}/absences",
            f"/api/v1/residents/{z}/activity",
            f"/api/v1/residents/{z}/readings",
            f"/api/v1/residents/{z}/summary",
            f"/api/v1/alerts/{w.alert_z}",
            "/api/v1/homes/home-b1",
            "/api/v1/devices/motion-b1",
        ],
        "centre_a": [
            f"/api/v1/centres/{w.centre_a}",
            f"/api/v1/centres/{w.centre_a}/channels",
            f"/api/v1/centres/{w.centre_a}/telecare",
        ],
        "centre_b": [
            f"/api/v1/centres/{w.centre_b}",
            f"/api/v1/centres/{w.centre_b}/channels",
            f"/api/v1/centres/{w.centre_b}/telecare",
        ],
    }


async def _statuses(client: httpx.AsyncClient, headers: dict[str, str], paths: list[str]) -> dict[str, int]:
    return {path: (await client.get(path, headers=headers)).status_code for path in paths}


async def test_staff_see_their_centre_only(client: httpx.AsyncClient, world: World) -> None:
    paths = readable_paths(world)
    headers = await login(client, "staff_a")
    assert set((await _statuses(client, headers, paths["x"] + paths["centre_a"])).values()) == {200}
    assert set((await _statuses(client, headers, paths["z"] + paths["centre_b"])).values()) == {404}
    other = await login(client, "staff_b")
    assert set((await _statuses(client, other, paths["z"] + paths["centre_b"])).values()) == {200}
    assert set((await _statuses(client, other, paths["x"] + paths["centre_a"])).values()) == {404}


async def test_family_see_their_linked_resident_only(client: httpx.AsyncClient, world: World) -> None:
    paths = readable_paths(world)
    headers = await login(client, "family_x")
    assert set((await _statuses(client, headers, paths["x"])).values()) == {200}
    # Resident Y lives in the same home as X but is not linked: invisible.
    y = world.resident_y
    assert set(
        (await _statuses(client, headers, [*paths["z"], f"/api/v1/residents/{y}", f"/api/v1/residents/{y}/summary"])).values()
    ) == {404}
    # Families see no care centre at all.
    assert set((await _statuses(client, headers, paths["centre_a"] + paths["centre_b"])).values()) == {404}


async def test_lists_are_scoped(client: httpx.AsyncClient, world: World) -> None:
    expectations = {
        "admin": (
            {"home-a1", "home-b1"},
            {world.resident_x, world.resident_y, world.resident_z},
            {world.alert_x, world.alert_z},
            2,
        ),
        "staff_a": ({"home-a1"}, {world.resident_x, world.resident_y}, {world.alert_x}, 1),
        "staff_b": ({"home-b1"}, {world.resident_z}, {world.alert_z}, 1),
        "family_x": ({"home-a1"}, {world.resident_x}, {world.alert_x}, 0),
    }
    for user, (homes, residents, alerts, centres) in expectations.items():
        headers = await login(client, user)
        assert {h["id"] for h in (await client.get("/api/v1/homes", headers=headers)).json()} == homes, user
        assert {r["id"] for r in (await client.get("/api/v1/residents", headers=headers)).json()} == residents, user
        assert {r["resident_id"] for r in (await client.get("/api/v1/board", headers=headers)).json()} == residents, user
        assert {a["id"] for a in (await client.get("/api/v1/alerts", headers=headers)).json()["items"]} == alerts, user
        assert {d["home_id"] for d in (await client.get("/api/v1/devices", headers=headers)).json()} == homes, user
        assert len((await client.get("/api/v1/centres", headers=headers)).json()) == centres, user


async def test_anonymous_and_forged_tokens_get_401(client: httpx.AsyncClient, world: World) -> None:
    paths = readable_paths(world)
    every = [p for group in paths.values() for p in group] + [
        "/api/v1/homes",
        "/api/v1/alerts",
        "/api/v1/board",
        "/api/v1/auth/me",
    ]
    assert set((await _statuses(client, {}, every)).values()) == {401}
    forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.bad"}
    assert set((await _statuses(client, forged, every)).values()) == {401}
    assert (await client.get("/api/v1/alerts/stream")).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/alerts/{alert_x}/acknowledge", {}),
        ("post", "/api/v1/alerts/{alert_x}/resolve", {"outcome": "visited", "note": "no injury"}),
        ("post", "/api/v1/alerts/{alert_x}/comments", {"note": "hello"}),
        ("post", "/api/v1/alerts/{alert_x}/assign", {"user_id": None}),
        ("patch", "/api/v1/residents/{resident_x}", {"phone": "123"}),
        (
            "post",
            "/api/v1/residents/{resident_x}/absences",
            {"starts_at": "2026-05-02T00:00:00Z", "ends_at": "2026-05-03T00:00:00Z"},
        ),
        ("post", "/api/v1/homes/home-a1/credentials", None),
        ("post", "/api/v1/residents", {"home_id": "home-a1", "full_name": "New"}),
    ],
)
async def test_writes_are_scoped(client: httpx.AsyncClient, world: World, method: str, path: str, body: object) -> None:
    url = path.format(alert_x=world.alert_x, resident_x=world.resident_x)
    family = await login(client, "family_x")
    assert (await client.request(method, url, json=body, headers=family)).status_code == 403
    outsider = await login(client, "staff_b")
    assert (await client.request(method, url, json=body, headers=outsider)).status_code == 404
    assert (await client.request(method, url, json=body)).status_code == 401
    insider = await login(client, "staff_a")
    assert (await client.request(method, url, json=body, headers=insider)).status_code in (200, 201)


async def test_staff_cannot_create_centres_or_channels(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    assert (await client.post("/api/v1/centres", json={"name": "C"}, headers=staff)).status_code == 403
    channel = {"name": "mail", "kind": "email", "target": "duty@example.org"}
    assert (await client.post(f"/api/v1/centres/{world.centre_a}/channels", json=channel, headers=staff)).status_code == 403
    admin = await login(client, "admin")
    created = await client.post(f"/api/v1/centres/{world.centre_a}/channels", json=channel, headers=admin)
    assert created.status_code == 201
    listed = (await client.get(f"/api/v1/centres/{world.centre_a}/channels", headers=staff)).json()
    assert [c["target"] for c in listed] == ["duty@example.org"]
    assert "secret" not in listed[0]
