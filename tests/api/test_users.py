"""User administration through the API: create, link, disable (revoking sessions), list colleagues."""

from __future__ import annotations

import httpx

from tests.api.conftest import World, login


async def test_admin_creates_a_family_member_who_sees_only_the_linked_resident(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, "admin")
    body = {"username": "son.z", "password": "a long passphrase", "role": "family", "resident_ids": [world.resident_z]}
    created = await client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["resident_ids"] == [world.resident_z]
    assert "password" not in created.text
    assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 409
    son = await login(client, "son.z", "a long passphrase")
    assert [r["id"] for r in (await client.get("/api/v1/residents", headers=son)).json()] == [world.resident_z]
    missing = {**body, "username": "ghost", "resident_ids": [999_999]}
    assert (await client.post("/api/v1/users", json=missing, headers=admin)).status_code == 404
    assert (
        await client.post("/api/v1/auth/token", data={"username": "ghost", "password": "a long passphrase"})
    ).status_code == 401


async def test_role_rules_are_validated(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, "admin")
    for body in (
        {"username": "nocentre", "password": "a long passphrase", "role": "staff"},
        {"username": "nolink", "password": "a long passphrase", "role": "family"},
        {"username": "short", "password": "short", "role": "admin"},
        {"username": "Upper Case", "password": "a long passphrase", "role": "admin"},
    ):
        assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 422, body


async def test_disabling_a_user_revokes_their_sessions(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, "admin")
    tokens = (await client.post("/api/v1/auth/token", data={"username": "staff_b", "password": "correct horse battery"})).json()
    disabled = await client.patch(f"/api/v1/users/{world.users['staff_b']}", json={"disabled": True}, headers=admin)
    assert disabled.json()["disabled"] is True
    assert (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).status_code == 401
    await client.patch(f"/api/v1/users/{world.users['staff_b']}", json={"disabled": False}, headers=admin)
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401


async def test_admin_can_revoke_every_session_of_a_user(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, "admin")
    sessions = [
        (await client.post("/api/v1/auth/token", data={"username": "family_x", "password": "correct horse battery"})).json()
        for _ in range(2)
    ]
    assert (await client.post(f"/api/v1/users/{world.users['family_x']}/revoke-sessions", headers=admin)).status_code == 204
    for tokens in sessions:
        assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401


async def test_staff_list_their_colleagues_only_and_cannot_administer(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    assert [u["username"] for u in (await client.get("/api/v1/users", headers=staff)).json()] == ["staff_a"]
    body = {"username": "mate", "password": "a long passphrase", "role": "staff", "care_centre_id": world.centre_a}
    assert (await client.post("/api/v1/users", json=body, headers=staff)).status_code == 403
    assert (
        await client.patch(f"/api/v1/users/{world.users['staff_b']}", json={"disabled": True}, headers=staff)
    ).status_code == 403
    family = await login(client, "family_x")
    assert (await client.get("/api/v1/users", headers=family)).status_code == 403
    assert (await client.get("/api/v1/users")).status_code == 401


async def test_the_only_active_admin_cannot_be_disabled(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, "admin")
    me = f"/api/v1/users/{world.users['admin']}"
    refused = await client.patch(me, json={"disabled": True}, headers=admin)
    assert refused.status_code == 409, refused.text
    assert "only active administrator" in refused.json()["detail"]
    assert (await client.get("/api/v1/auth/me", headers=admin)).status_code == 200  # still in, sessions intact
    second = {"username": "admin2", "password": "a long passphrase", "role": "admin"}
    admin2 = (await client.post("/api/v1/users", json=second, headers=admin)).json()["id"]
    assert (await client.patch(me, json={"disabled": True}, headers=admin)).status_code == 200
    other = await login(client, "admin2", "a long passphrase")
    assert (await client.patch(f"/api/v1/users/{admin2}", json={"disabled": True}, headers=other)).status_code == 409
