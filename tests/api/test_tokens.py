"""Access-token expiry, refresh rotation, reuse detection and revocation, on injected clocks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import psycopg

from api.app import create_app
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.api.conftest import NOW, PASSWORD, World


async def _login(client: httpx.AsyncClient, username: str = "staff_a", password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_access_token_expires_on_the_injected_clock(client: httpx.AsyncClient, world: World, clock: FixedClock) -> None:
    tokens = (await _login(client)).json()
    assert tokens["expires_in"] == 900
    assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 200
    clock.advance(timedelta(seconds=899))
    assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 200
    clock.advance(timedelta(seconds=2))
    expired = await client.get("/api/v1/auth/me", headers=_bearer(tokens))
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == "Bearer"


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    client: httpx.AsyncClient, world: World, clock: FixedClock
) -> None:
    first = (await _login(client)).json()
    clock.advance(timedelta(seconds=1000))  # the access token is dead now
    assert (await client.get("/api/v1/auth/me", headers=_bearer(first))).status_code == 401
    second = (await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/auth/me", headers=_bearer(second))).json()["username"] == "staff_a"
    # Replaying the spent token is refused, and it also kills the successor (someone holds a copy).
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})).status_code == 401


async def test_refresh_tokens_expire_and_logout_revokes(client: httpx.AsyncClient, world: World, clock: FixedClock) -> None:
    tokens = (await _login(client)).json()
    assert (await client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    other = (await _login(client)).json()
    clock.advance(timedelta(days=14, seconds=1))
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 401


async def test_refresh_tokens_are_stored_hashed(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    tokens = (await _login(client)).json()
    with psycopg.connect(db_url) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM refresh_tokens").fetchall()]
        (password_hash,) = conn.execute("SELECT password_hash FROM users WHERE username = 'staff_a'").fetchone()  # type: ignore[misc]
    assert tokens["refresh_token"] not in stored
    assert len(stored) == 1
    assert len(stored[0]) == 64
    assert password_hash.startswith("$argon2id$")


async def test_disabled_user_loses_access_at_once(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    tokens = (await _login(client)).json()
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE users SET disabled = true WHERE username = 'staff_a'")
    assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient, world: World) -> None:
    wrong = await _login(client, password="not the password")
    unknown = await _login(client, username="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_logout_ends_the_access_token_at_once(client: httpx.AsyncClient, world: World) -> None:
    tokens = (await _login(client)).json()
    other = (await _login(client)).json()  # the same person on another device
    assert (await client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 401
    # Every access token of the user is ended; the other device refreshes and goes on.
    renewed = (await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})).json()
    assert (await client.get("/api/v1/auth/me", headers=_bearer(renewed))).status_code == 200


async def test_a_reused_refresh_token_ends_the_access_tokens_too(client: httpx.AsyncClient, world: World) -> None:
    first = (await _login(client)).json()
    second = (await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=_bearer(second))).status_code == 401


async def test_a_refresh_failure_says_what_it_is(client: httpx.AsyncClient, world: World) -> None:
    unknown = await client.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-token-we-issued"})
    assert unknown.status_code == 401
    assert "refresh token" in unknown.json()["detail"]
    assert "password" not in unknown.json()["detail"]


async def test_token_lifetimes_run_on_the_wall_clock(api_settings: Callable[..., Settings], world: World) -> None:
    data_clock, wall = FixedClock(NOW), FixedClock(NOW)
    app = create_app(api_settings(), clock=data_clock, wall_clock=wall)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        tokens = (await _login(client)).json()
        data_clock.advance(timedelta(hours=15))  # 15 min of a 60x demo
        assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 200
        wall.advance(timedelta(seconds=901))
        assert (await client.get("/api/v1/auth/me", headers=_bearer(tokens))).status_code == 401
