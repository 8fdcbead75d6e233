"""GET /api/v1/alert-catalogue: the dashboard's labels and queue order, from the kernel's catalogue."""

from __future__ import annotations

import httpx

from eldercare.domain.alerts.catalogue import KINDS, SEVERITIES, STAFF_OUTCOMES
from tests.api.conftest import World, login


async def test_every_kind_is_served_with_both_names_to_any_user(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.get("/api/v1/alert-catalogue")).status_code == 401
    family = await login(client, "family_x")
    body = (await client.get("/api/v1/alert-catalogue", headers=family)).json()
    names = {k["key"]: (k["en"], k["zh"]) for k in body["kinds"]}
    assert names == {key: (k.names.en, k.names.zh) for key, k in KINDS.items()}
    assert names["gateway_offline"] == ("Gateway offline", "网关离线")
    assert [(s["key"], s["rank"]) for s in body["severities"]] == [(s, i) for i, s in enumerate(SEVERITIES)]
    assert [o["key"] for o in body["outcomes"] if o["staff"]] == list(STAFF_OUTCOMES)
    assert [s["key"] for s in body["statuses"]] == ["pending", "open", "acknowledged", "resolved"]
