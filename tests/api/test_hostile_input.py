"""What an attacker (or a careless client) sends: oversized fields and bodies, unpaired surrogates,
numbers where a date-time is documented. Every refusal is a 422 (413 for a body too large) in the
documented shape, naming the field; never a 500, never a stored 5 MB blob."""

from __future__ import annotations

from typing import Any

import httpx

from api.bounds import MAX_BODY_BYTES
from tests.api.conftest import World, login

Loc = list[str | int]


def _locs(response: httpx.Response) -> list[Loc]:
    """The documented 422 shape: ``detail`` is a list of {loc, msg, type}, nothing else (no echo)."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], list), body
    assert body["detail"], body
    for issue in body["detail"]:
        assert set(issue) == {"loc", "msg", "type"}, issue
        assert isinstance(issue["loc"], list), issue
        assert isinstance(issue["msg"], str), issue
        assert isinstance(issue["type"], str), issue
    return [issue["loc"] for issue in body["detail"]]


def _long(n: int) -> str:
    return "字" * n


def _contact_loc(key: str) -> Loc:
    return ["body", "emergency_contacts", 0, key]


def _oversized(world: World) -> list[tuple[str, str, str, dict[str, Any], Loc]]:
    """(user, method, path, body, loc of the field that is too long) for every free-form field."""
    x, a = world.resident_x, world.centre_a
    contact = {"name": "Son"}
    return [
        ("staff_a", "PATCH", f"/api/v1/residents/{x}", {"full_name": _long(201)}, ["body", "full_name"]),
        ("staff_a", "PATCH", f"/api/v1/residents/{x}", {"phone": "1" * 41}, ["body", "phone"]),
        ("staff_a", "PATCH", f"/api/v1/residents/{x}", {"notes": _long(2001)}, ["body", "notes"]),
        ("staff_a", "PATCH", f"/api/v1/residents/{x}", {"emergency_contacts": [contact] * 11}, ["body", "emergency_contacts"]),
        *[
            ("staff_a", "PATCH", f"/api/v1/residents/{x}", {"emergency_contacts": [{**contact, key: value}]},
             _contact_loc(key))
            for key, value in (("name", _long(201)), ("relation", _long(201)), ("phone", "1" * 41),
                               ("email", "a@" + "b" * 300), ("apprise_url", "tgram://" + "x" * 600))
        ],
        ("staff_a", "POST", "/api/v1/residents", {"home_id": "home-a1", "full_name": _long(201)}, ["body", "full_name"]),
        ("staff_a", "POST", "/api/v1/homes", {"id": "home-a9", "care_centre_id": a, "label": _long(201)}, ["body", "label"]),
        ("staff_a", "POST", "/api/v1/homes", {"id": "home-a9", "care_centre_id": a, "address": _long(501)}, ["body", "address"]),
        ("staff_a", "POST", f"/api/v1/residents/{x}/absences",
         {"starts_at": "2026-05-02T00:00:00Z", "ends_at": "2026-05-03T00:00:00Z", "note": _long(501)}, ["body", "note"]),
        ("staff_a", "POST", f"/api/v1/alerts/{world.alert_x}/acknowledge", {"note": _long(2001)}, ["body", "note"]),
        ("staff_a", "POST", f"/api/v1/alerts/{world.alert_x}/resolve", {"outcome": "visited", "note": _long(2001)}, ["body", "note"]),
        ("staff_a", "POST", f"/api/v1/alerts/{world.alert_x}/comments", {"note": _long(2001)}, ["body", "note"]),
        ("admin", "POST", "/api/v1/centres", {"name": _long(201)}, ["body", "name"]),
        ("admin", "POST", "/api/v1/centres", {"name": "C", "phone": "1" * 41}, ["body", "phone"]),
        ("admin", "POST", f"/api/v1/centres/{a}/channels",
         {"name": _long(101), "kind": "email", "target": "a@b.c"}, ["body", "name"]),
        ("admin", "POST", f"/api/v1/centres/{a}/channels",
         {"name": "n", "kind": "email", "target": "a@" + "b" * 600}, ["body", "target"]),
        ("admin", "POST", f"/api/v1/centres/{a}/channels",
         {"name": "n", "kind": "webhook", "target": "https://x.org", "secret": "s" * 201}, ["body", "secret"]),
        ("admin", "POST", "/api/v1/users",
         {"username": "someone", "password": "p" * 257, "role": "admin"}, ["body", "password"]),
        ("admin", "POST", "/api/v1/users",
         {"username": "someone", "password": "p" * 20, "role": "admin", "display_name": _long(201)}, ["body", "display_name"]),
        ("admin", "POST", "/api/v1/users",
         {"username": "someone", "password": "p" * 20, "role": "family", "resident_ids": list(range(1, 22))},
         ["body", "resident_ids"]),
        ("anonymous", "POST", "/api/v1/auth/refresh", {"refresh_token": "r" * 201}, ["body", "refresh_token"]),
    ]  # fmt: skip


async def test_every_free_form_field_is_bounded_and_named_in_the_422(client: httpx.AsyncClient, world: World) -> None:
    headers = {name: await login(client, name) for name in ("staff_a", "admin")} | {"anonymous": {}}
    for user, method, path, body, loc in _oversized(world):
        response = await client.request(method, path, json=body, headers=headers[user])
        assert loc in _locs(response), (method, path, loc, response.text)


async def test_a_body_larger_than_any_request_needs_is_refused_before_it_is_parsed(
    client: httpx.AsyncClient, world: World
) -> None:
    staff = await login(client, "staff_a")
    # 5 MB in one resident's settings, as the attacker tried: refused as a whole, with the limit.
    huge = b'{"notes": "' + b"x" * 5_000_000 + b'"}'
    response = await client.patch(
        f"/api/v1/residents/{world.resident_x}", content=huge, headers={**staff, "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert str(MAX_BODY_BYTES) in response.json()["detail"]
    # Without a Content-Length (chunked), counted as it arrives.

    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 10_000

    chunked = await client.patch(
        f"/api/v1/residents/{world.resident_x}", content=chunks(), headers={**staff, "Content-Type": "application/json"}
    )
    assert chunked.status_code == 413, chunked.text
    resident = (await client.get(f"/api/v1/residents/{world.resident_x}", headers=staff)).json()
    assert resident["notes"] is None


SURROGATES = [
    b'{"full_name": "\\ud800"}',  # an unpaired high surrogate as a value
    b'{"notes": "ok \\udfff"}',  # a low one
    b'{"\\ud800": 1}',  # as a key (an unknown field)
    b'{"emergency_contacts": [{"name": "a\\udc00"}]}',
    b'{"rule_settings": {"bathroom": {"room": "\\ud83d"}}}',
]


async def test_an_unpaired_surrogate_is_a_422_in_the_documented_shape(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    for raw in SURROGATES:
        response = await client.patch(
            f"/api/v1/residents/{world.resident_x}", content=raw, headers={**staff, "Content-Type": "application/json"}
        )
        _locs(response)
        response.content.decode("utf-8")  # the answer itself is valid UTF-8


async def test_an_unpaired_surrogate_in_a_new_resident_stores_nothing(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    raw = b'{"home_id": "home-a1", "full_name": "ok", "phone": "\\ud800"}'
    response = await client.post("/api/v1/residents", content=raw, headers={**staff, "Content-Type": "application/json"})
    assert ["body", "phone"] in _locs(response)
    names = [r["full_name"] for r in (await client.get("/api/v1/residents", headers=staff)).json()]
    assert "ok" not in names


async def test_errors_of_the_handlers_have_the_documented_shape(client: httpx.AsyncClient, world: World) -> None:
    """A 422 decided by a route (not by the model) is a list naming the field too."""
    staff = await login(client, "staff_a")
    x = world.resident_x
    reversed_range = {"from": "2026-04-02T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
    assert _locs(await client.get(f"/api/v1/residents/{x}/activity", params=reversed_range, headers=staff)) == [["query", "to"]]
    too_long = {"from": "2026-04-01T00:00:00Z", "to": "2026-04-09T00:00:00Z"}
    assert _locs(await client.get(f"/api/v1/residents/{x}/readings", params=too_long, headers=staff)) == [["query", "from"]]
    assert _locs(await client.get("/api/v1/alerts", params={"cursor": "999999999999999999.1"}, headers=staff)) == [
        ["query", "cursor"]
    ]
    patch_null_name = await client.patch(f"/api/v1/residents/{x}", json={"full_name": None}, headers=staff)
    assert _locs(patch_null_name) == [["body", "full_name"]]
    other_centre = (await client.get("/api/v1/users", headers=await login(client, "admin"))).json()
    staff_b = next(u["id"] for u in other_centre if u["username"] == "staff_b")
    refused = await client.post(f"/api/v1/alerts/{world.alert_x}/assign", json={"user_id": staff_b}, headers=staff)
    assert _locs(refused) == [["body", "user_id"]]
    # Other errors: {"detail": "<text>"}.
    for response in (
        await client.get("/api/v1/residents/999999", headers=staff),
        await client.get("/api/v1/residents"),
        await client.post("/api/v1/centres", json={"name": "C"}, headers=staff),
    ):
        assert response.status_code in (401, 403, 404)
        assert isinstance(response.json()["detail"], str)


async def test_method_not_allowed_lists_every_method_of_the_path(client: httpx.AsyncClient, world: World) -> None:
    response = await client.request("PUT", "/api/v1/users")
    assert response.status_code == 405
    assert sorted(response.headers["allow"].split(", ")) == ["GET", "POST"]
    assert isinstance(response.json()["detail"], str)


async def test_a_number_is_not_a_date_time_in_a_query(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    x = world.resident_x
    for value in ("0", "0.5", "1714550400", "-1", "1e10", "2026-05-01", "nonsense"):
        for path in (f"/api/v1/residents/{x}/readings", f"/api/v1/residents/{x}/activity", "/api/v1/alerts"):
            assert ["query", "to"] in _locs(await client.get(path, params={"to": value}, headers=staff)), (path, value)
        telecare = await client.get(f"/api/v1/centres/{world.centre_a}/telecare", params={"from": value}, headers=staff)
        assert ["query", "from"] in _locs(telecare), value
    assert (
        await client.get(f"/api/v1/residents/{x}/readings", params={"to": "2026-05-01T12:00:00+08:00"}, headers=staff)
    ).status_code == 200


async def test_a_number_is_not_a_date(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    url = f"/api/v1/residents/{world.resident_x}/summary"
    for value in ("0", "20260501", "1714550400", "2026-05-01T00:00:00Z"):
        assert ["query", "date"] in _locs(await client.get(url, params={"date": value}, headers=staff)), value
    assert (await client.get(url, params={"date": "2026-05-01"}, headers=staff)).status_code == 200


async def test_a_number_is_not_a_date_time_in_a_body(client: httpx.AsyncClient, world: World) -> None:
    staff, admin = await login(client, "staff_a"), await login(client, "admin")
    for value in (0, 1714550400, 0.5, "1714550400", True):
        body = {"starts_at": value, "ends_at": "2026-05-09T18:00:00+08:00"}
        response = await client.post(f"/api/v1/residents/{world.resident_x}/absences", json=body, headers=staff)
        assert ["body", "starts_at"] in _locs(response), value
        centre = await client.post("/api/v1/centres", json={"name": "C", "quiet_start": value}, headers=admin)
        assert ["body", "quiet_start"] in _locs(centre), value
    assert (await client.post("/api/v1/centres", json={"name": "C", "quiet_start": "22:00"}, headers=admin)).status_code == 201
