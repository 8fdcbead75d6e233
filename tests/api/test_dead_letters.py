"""Dead letters through the API: care staff see their homes' refused messages with reasons and counts;
administrators see every one; families none; a home outside the caller's scope is 404."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import psycopg

from tests.api.conftest import NOW, World, login

# (minutes before NOW, topic, home, reason, payload)
LETTERS = [
    (50, "eldercare/v1/home-a1/readings", "home-a1", "wrong_type", b'{"v": 1, "readings": [{"seq": "12"}]}'),
    (40, "eldercare/v1/home-a1/readings", "home-a1", "wrong_type", b'{"v": 1, "readings": [{"value": true}]}'),
    (30, "eldercare/v1/home-a1/events", "home-a1", "ts_in_future", b"\xff\xfe not utf-8"),
    (20, "eldercare/v1/home-b1/readings", "home-b1", "not_json", b"[[[["),
    (10, "eldercare/v2/home-a1/readings", None, "topic_invalid", b"{}"),
    (5, "eldercare/v1/home-zz/readings", "home-zz", "unknown_home", b"{}"),
]


def _seed(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for minutes, topic, home, reason, payload in LETTERS:
            conn.execute(
                "INSERT INTO dead_letters (received_at, source, topic, home_id, payload, reason, detail)"
                " VALUES (%s, 'ingest', %s, %s, %s, %s, %s)",
                (NOW - timedelta(minutes=minutes), topic, home, payload, reason, f"{reason} detail"),
            )


async def test_staff_see_their_homes_dead_letters_with_reasons(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    _seed(db_url)
    staff = await login(client, "staff_a")
    letters = (await client.get("/api/v1/dead-letters", headers=staff)).json()
    assert [(d["home_id"], d["reason"]) for d in letters] == [
        ("home-a1", "ts_in_future"),
        ("home-a1", "wrong_type"),
        ("home-a1", "wrong_type"),
    ]
    assert letters[0]["payload_head"] == "\\xff\\xfe not utf-8"
    assert letters[0]["payload_bytes"] == len(b"\xff\xfe not utf-8")
    assert letters[1]["detail"] == "wrong_type detail"
    assert letters[1]["topic"] == "eldercare/v1/home-a1/readings"
    only = await client.get("/api/v1/dead-letters", params={"reason": "wrong_type"}, headers=staff)
    assert [d["reason"] for d in only.json()] == ["wrong_type", "wrong_type"]
    window = {"from": (NOW - timedelta(minutes=45)).isoformat(), "to": (NOW - timedelta(minutes=25)).isoformat()}
    assert [d["reason"] for d in (await client.get("/api/v1/dead-letters", params=window, headers=staff)).json()] == [
        "ts_in_future",
        "wrong_type",
    ]
    page = (await client.get("/api/v1/dead-letters", params={"limit": 2}, headers=staff)).json()
    rest = (await client.get("/api/v1/dead-letters", params={"before": page[-1]["id"]}, headers=staff)).json()
    assert [d["id"] for d in page + rest] == [d["id"] for d in letters]

    summary = (await client.get("/api/v1/dead-letters/summary", headers=staff)).json()
    assert summary["total"] == 3
    assert [(r["reason"], r["count"], r["homes"]) for r in summary["reasons"]] == [("wrong_type", 2, 1), ("ts_in_future", 1, 1)]
    wrong_type = summary["reasons"][0]
    assert datetime.fromisoformat(wrong_type["first_at"]) == NOW - timedelta(minutes=50)
    assert datetime.fromisoformat(wrong_type["last_at"]) == NOW - timedelta(minutes=40)


async def test_admins_see_every_dead_letter_and_families_none(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    _seed(db_url)
    admin = await login(client, "admin")
    letters = (await client.get("/api/v1/dead-letters", headers=admin)).json()
    assert sorted(d["reason"] for d in letters) == sorted(letter[3] for letter in LETTERS)
    summary = (await client.get("/api/v1/dead-letters/summary", params={"home_id": "home-b1"}, headers=admin)).json()
    assert (summary["home_id"], summary["total"], summary["reasons"][0]["reason"]) == ("home-b1", 1, "not_json")
    family = await login(client, "family_x")
    for path in ("/api/v1/dead-letters", "/api/v1/dead-letters/summary"):
        refused = await client.get(path, headers=family)
        assert refused.status_code == 403
        assert "not_json" not in refused.text


async def test_a_home_outside_the_scope_is_404(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    _seed(db_url)
    staff = await login(client, "staff_a")
    for path in ("/api/v1/dead-letters", "/api/v1/dead-letters/summary"):
        for home in ("home-b1", "home-zz"):
            response = await client.get(path, params={"home_id": home}, headers=staff)
            assert response.status_code == 404, (path, home)
    assert (await client.get("/api/v1/dead-letters")).status_code == 401
    too_long = {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert (await client.get("/api/v1/dead-letters/summary", params=too_long, headers=staff)).status_code == 422
