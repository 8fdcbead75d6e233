"""The API calls a device silent exactly when the alert engine would call it offline: by its own
reporting rhythm (eldercare.domain.liveness), not by one fixed 2 h."""

from __future__ import annotations

from datetime import timedelta

import httpx
import psycopg

from tests.api.conftest import NOW, World, login


def device(db_url: str, name: str, kind: str, silent: timedelta, **learned: object) -> None:
    cols = {"usual_gap_s": None, "gaps_learned": 0, "availability": None, "availability_at": None, **learned}
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at, usual_gap_s, gaps_learned,"
            " availability, availability_at) VALUES (%s, 'home-b1', %s, 'bedroom', %s, %s, %s, %s, %s, %s)",
            (name, kind, NOW - timedelta(days=10), NOW - silent, *cols.values()),
        )


async def test_silent_is_the_engines_offline_and_the_board_counts_the_same(
    client: httpx.AsyncClient, world: World, db_url: str
) -> None:
    # A battery PIR in an unused room, 9 h silent: alive (its kind reports every 17.2 h at least).
    device(db_url, "pir-spare", "motion", timedelta(hours=9))
    # A PIR whose own rhythm is learned (at most 1 h between reports): 3 h silent is dead.
    device(db_url, "pir-hourly", "motion", timedelta(hours=3), usual_gap_s=3600.0, gaps_learned=200)
    # A mains plug, 1.5 h silent: within 2 x 1 h + 15 min.
    device(db_url, "plug-tv", "plug", timedelta(hours=1, minutes=30))
    # Heard 10 min ago, but zigbee2mqtt has since said it is offline.
    device(db_url, "door-back", "door", timedelta(minutes=10), availability="offline", availability_at=NOW - timedelta(minutes=5))
    headers = await login(client, "admin")
    listed = (await client.get("/api/v1/devices", params={"home_id": "home-b1"}, headers=headers)).json()
    status = {d["id"]: d["status"] for d in listed}
    assert status == {"motion-b1": "ok", "pir-spare": "ok", "pir-hourly": "silent", "plug-tv": "ok", "door-back": "silent"}
    one = (await client.get("/api/v1/devices/pir-hourly", headers=headers)).json()
    assert one["status"] == "silent"
    assert one["silent_after_s"] == 2 * 3600 + 900  # 2 x its usual longest silence (1 h) + 15 min
    board = (await client.get("/api/v1/board", headers=headers)).json()
    assert {line["home_id"]: line["silent"] for line in board} == {"home-a1": 0, "home-b1": 2}
