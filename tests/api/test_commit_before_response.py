"""A 2xx means committed: a write is visible to every other connection before its response starts.

FastAPI runs the exit of a ``yield`` dependency after the response has been sent, unless it is
scoped to the function; the request's connection commits in that exit, so a client that got its
201 could send the next request before the commit (issue 13: an immediate ``POST /residents``
after ``POST /homes`` got 404 for 2 of 61 homes). The test speaks ASGI to the real app and looks
at the database from another connection at the moment the response starts: no timing involved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI

from api.app import create_app
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.api.conftest import World, login


async def _call(app: FastAPI, method: str, path: str, body: dict[str, Any], headers: dict[str, str], on_start: Any) -> int:
    """One request through the ASGI interface; ``on_start()`` runs when the response starts."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("api", 80),
    }
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            await on_start()

    await app(scope, receive, send)
    return status[0]


async def _visible(db_url: str, query: str, params: tuple[Any, ...]) -> bool:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchone() is not None


async def test_created_home_and_resident_are_committed_before_the_201(
    api_settings: Callable[..., Settings], clock: FixedClock, world: World, db_url: str
) -> None:
    app = create_app(api_settings(), clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        staff = await login(http, "staff_a")
        seen: dict[str, bool] = {}

        async def home_visible() -> None:
            seen["home"] = await _visible(db_url, "SELECT 1 FROM homes WHERE id = %s", ("home-new",))

        home = {"id": "home-new", "care_centre_id": world.centre_a}
        assert await _call(app, "POST", "/api/v1/homes", home, staff, home_visible) == 201
        assert seen["home"], "201 sent before the home was committed"

        async def resident_visible() -> None:
            seen["resident"] = await _visible(db_url, "SELECT 1 FROM residents WHERE full_name = %s", ("Newcomer",))

        resident = {"home_id": "home-new", "full_name": "Newcomer"}
        assert await _call(app, "POST", "/api/v1/residents", resident, staff, resident_visible) == 201
        assert seen["resident"], "201 sent before the resident was committed"
