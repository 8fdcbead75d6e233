"""Login throttling per (username, client address) with growing delays, on the wall clock.

Wrong passwords slow down whoever types them, where they type them: a known username can no
longer be locked out by anyone, from anywhere (issue 13: ten wrong passwords a minute did it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.api.conftest import NOW, PASSWORD, World, login

ATTACKER = "203.0.113.9"
USUAL = "198.51.100.7"


class Clients:
    """One app; a client per address (the address is what the ASGI scope says, as uvicorn gives it)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._open: dict[str, httpx.AsyncClient] = {}

    def at(self, address: str) -> httpx.AsyncClient:
        if address not in self._open:
            transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
            self._open[address] = httpx.AsyncClient(transport=transport, base_url="http://api")
        return self._open[address]

    async def login(self, address: str, username: str = "staff_a", password: str = PASSWORD) -> httpx.Response:
        return await self.at(address).post("/api/v1/auth/token", data={"username": username, "password": password})

    async def close(self) -> None:
        for client in self._open.values():
            await client.aclose()


@pytest.fixture
def wall() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def throttled(api_settings: Callable[..., Settings], clock: FixedClock, wall: FixedClock, world: World) -> Any:
    @asynccontextmanager
    async def start(**api: Any) -> AsyncIterator[Clients]:
        app = create_app(api_settings(**api), clock=clock, wall_clock=wall)
        clients = Clients(app)
        async with app.router.lifespan_context(app):
            try:
                yield clients
            finally:
                await clients.close()

    return start


async def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(throttled: Any) -> None:
    async with throttled() as clients:
        statuses = [(await clients.login(ATTACKER, password="guess")).status_code for _ in range(20)]
        assert statuses[:5] == [401] * 5
        assert set(statuses[6:]) == {429}
        assert (await clients.login(ATTACKER)).status_code == 429  # the right password teaches the guesser nothing
        assert (await clients.login(USUAL)).status_code == 200  # the owner, elsewhere, logs in


async def test_delays_grow_with_each_failure_and_a_success_resets_them(throttled: Any, wall: FixedClock) -> None:
    async with throttled(login_free_failures=2) as clients:
        assert [(await clients.login(ATTACKER, password="guess")).status_code for _ in range(3)] == [401, 401, 401]
        waits = []
        for _ in range(3):
            refused = await clients.login(ATTACKER, password="guess")
            assert refused.status_code == 429
            waits.append(int(refused.headers["retry-after"]))
            wall.advance(timedelta(seconds=waits[-1]))
            assert (await clients.login(ATTACKER, password="guess")).status_code == 401
        assert waits == [2, 4, 8]
        wall.advance(timedelta(seconds=16))
        assert (await clients.login(ATTACKER)).status_code == 200
        assert (await clients.login(ATTACKER, password="guess")).status_code == 401  # afresh: free failures again


async def test_lockouts_are_in_the_audit_log(throttled: Any, wall: FixedClock) -> None:
    async with throttled(login_free_failures=1) as clients:
        for _ in range(2):
            await clients.login(ATTACKER, password="guess")
        admin = await login(clients.at(USUAL), "admin")
        entries = (await clients.at(USUAL).get("/api/v1/audit", headers=admin)).json()
    locked = [e for e in entries if e["event"] == "login_locked"]
    assert [(e["username"], e["client_ip"], e["details"]) for e in locked] == [
        ("staff_a", ATTACKER, {"failures": 2, "delay_s": 2})
    ]
    assert locked[0]["at"] == NOW.isoformat().replace("+00:00", "Z")


async def test_a_guess_from_many_addresses_leaves_the_usual_address_working(throttled: Any) -> None:
    async with throttled(login_account_failures_per_hour=5) as clients:
        assert (await clients.login(USUAL)).status_code == 200  # where the owner logs in
        for i in range(5):
            assert (await clients.login(f"203.0.113.{i}", password="guess")).status_code == 401
        stranger = await clients.login("203.0.113.99")
        assert stranger.status_code == 429  # a new address, even with the right password
        assert (await clients.login(USUAL)).status_code == 200


async def test_an_address_spraying_usernames_is_limited_for_a_minute(throttled: Any, wall: FixedClock) -> None:
    async with throttled(login_address_failures_per_minute=4) as clients:
        for i in range(4):
            assert (await clients.login(ATTACKER, username=f"user{i}", password="guess")).status_code == 401
        assert (await clients.login(ATTACKER, username="user9", password="guess")).status_code == 429
        assert (await clients.login(USUAL)).status_code == 200  # other addresses are unaffected
        wall.advance(timedelta(seconds=61))
        assert (await clients.login(ATTACKER)).status_code == 200


async def test_throttling_runs_on_the_wall_clock_not_the_simulated_one(throttled: Any, clock: FixedClock) -> None:
    async with throttled(login_free_failures=1) as clients:
        for _ in range(2):
            await clients.login(ATTACKER, password="guess")
        clock.advance(timedelta(hours=1))  # an hour of simulated time is a minute of a 60x demo
        assert (await clients.login(ATTACKER)).status_code == 429
