"""Rule settings through the API: the nested groups the alert engine reads, validated by the one
kernel model (eldercare.domain.rule_settings), with a 422 naming the wrong field."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from alerts.context import load_context
from tests.api.conftest import World, login


async def _engine_rules(db_url: str, home_id: str) -> Any:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        context = await load_context(conn, home_id)
    assert context is not None
    return context.rules


async def test_nested_rule_settings_set_through_the_api_reach_the_engine(
    client: httpx.AsyncClient, world: World, db_url: str
) -> None:
    staff = await login(client, "staff_a")
    rules = {"devices": {"gateway_offline_after_s": 600}, "bathroom": {"max_dwell_s": 3600}}
    response = await client.patch(f"/api/v1/residents/{world.resident_x}", json={"rule_settings": rules}, headers=staff)
    assert response.status_code == 200, response.text
    assert response.json()["rule_settings"] == rules  # what was set, not the defaults: those follow the code
    engine = await _engine_rules(db_url, "home-a1")
    assert (engine.devices.gateway_offline_after_s, engine.bathroom.max_dwell_s) == (600, 3600)
    assert engine.devices.offline_after_s == 7200  # an unset key keeps its default


async def test_a_wrong_rule_setting_is_a_422_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    staff = await login(client, "staff_a")
    url = f"/api/v1/residents/{world.resident_x}"
    cases: list[tuple[dict[str, Any], list[str | int]]] = [
        ({"inactivity_hours": 6}, ["body", "rule_settings", "inactivity_hours"]),
        ({"devices": {"gateway_offline_after_s": "soon"}}, ["body", "rule_settings", "devices", "gateway_offline_after_s"]),
        ({"devices": {"gateway_offline_after_s": 10**9}}, ["body", "rule_settings", "devices", "gateway_offline_after_s"]),
        ({"bathroom": {"room": "x" * 50_000}}, ["body", "rule_settings", "bathroom", "room"]),
        ({"fall": {"enabled": 1}}, ["body", "rule_settings", "fall", "enabled"]),  # strict: 1 is no boolean
        ({"night_wandering": {"night_start": 0}}, ["body", "rule_settings", "night_wandering", "night_start"]),
        ({"battery": {"below_pct": 40, "clear_above_pct": 30}}, ["body", "rule_settings", "battery"]),
    ]
    for rules, loc in cases:
        response = await client.patch(url, json={"rule_settings": rules}, headers=staff)
        assert response.status_code == 422, (rules if len(str(rules)) < 200 else loc, response.text[:300])
        assert [error["loc"] for error in response.json()["detail"]] == [loc]
    created = await client.post(
        "/api/v1/residents",
        json={"home_id": "home-a1", "full_name": "N", "rule_settings": {"fall": {"long_lie": 1}}},
        headers=staff,
    )
    assert created.status_code == 422
    assert created.json()["detail"][0]["loc"] == ["body", "rule_settings", "fall", "long_lie"]
