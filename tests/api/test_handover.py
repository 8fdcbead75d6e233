"""The shift handover: the alarms closed in a shift (outcomes, who, every note) and the open ones with
their owners, as a page and as a spreadsheet; scoped like every alert."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
import psycopg

from tests.api.conftest import NOW, World, insert_alert, login


def _shift(db_url: str, w: World) -> dict[str, int]:
    """Before the shift: one closed. In it: a long lie closed with notes. Open at its end: the seeded fall
    (unclaimed) and an SOS claimed by staff_a. Centre B closes one in the shift too."""
    a, staff = w.centre_a, w.users["staff_a"]
    with psycopg.connect(db_url) as conn:
        before = insert_alert(conn, home="home-a1", resident=w.resident_y, centre=a, kind="inactivity", severity="high",
                              opened=NOW - timedelta(hours=12))  # fmt: skip
        conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'resident_ok' WHERE id = %s",
                     (NOW - timedelta(hours=9), before))  # fmt: skip
        fall = insert_alert(conn, home="home-a1", resident=w.resident_y, centre=a, kind="long_lie", severity="critical",
                            opened=NOW - timedelta(hours=3))  # fmt: skip
        conn.execute(
            "UPDATE alerts SET status = 'resolved', acknowledged_at = %s, acknowledged_by = %s, resolved_at = %s,"
            " resolved_by = %s, outcome = 'visited', resolution_note = '=1+1 slipped, no injury' WHERE id = %s",
            (NOW - timedelta(hours=3) + timedelta(seconds=75), staff, NOW - timedelta(hours=2), staff, fall),
        )
        conn.execute(
            "INSERT INTO alert_history (alert_id, at, actor_id, action, note) VALUES"
            " (%(id)s, %(t1)s, %(u)s, 'acknowledged', 'calling her'), (%(id)s, %(t2)s, %(u)s, 'commented', 'daughter informed'),"
            " (%(id)s, %(t3)s, NULL, 'escalated', NULL), (%(id)s, %(t4)s, %(u)s, 'resolved', 'slipped, no injury')",
            {"id": fall, "u": staff, "t1": NOW - timedelta(hours=3), "t2": NOW - timedelta(hours=2, minutes=30),
             "t3": NOW - timedelta(hours=2, minutes=40), "t4": NOW - timedelta(hours=2)},
        )  # fmt: skip
        sos = insert_alert(conn, home="home-a1", resident=w.resident_x, centre=a, kind="sos", severity="critical",
                           opened=NOW - timedelta(minutes=20))  # fmt: skip
        conn.execute("UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s, acknowledged_by = %s WHERE id = %s",
                     (NOW - timedelta(minutes=19), staff, sos))  # fmt: skip
        conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'other' WHERE id = %s",
                     (NOW - timedelta(hours=1), w.alert_z))  # fmt: skip
    return {"before": before, "fall": fall, "sos": sos}


async def test_the_shift_closed_log_and_who_owns_what_is_open(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    ids = _shift(db_url, world)
    headers = await login(client, "staff_a")
    body = (await client.get("/api/v1/handover", headers=headers)).json()  # default: the last 8 hours
    assert [a["id"] for a in body["closed"]] == [ids["fall"]]
    [fall] = body["closed"]
    assert (fall["outcome"], fall["resolved_by_name"], fall["resolution_note"]) == (
        "visited",
        "staff_a",
        "=1+1 slipped, no injury",
    )
    assert [(n["by"], n["note"]) for n in fall["notes"]] == [("staff_a", "calling her"), ("staff_a", "daughter informed")]
    assert body["outcomes"] == {"visited": 1}
    assert [a["id"] for a in body["open"]] == [ids["sos"], world.alert_x]
    assert body["owners"] == [
        {"user_id": None, "name": None, "alarms": 1},
        {"user_id": world.users["staff_a"], "name": "staff_a", "alarms": 1},
    ]
    # A longer shift reaches the earlier closure; a reversed one is refused.
    params = {"from": (NOW - timedelta(hours=10)).isoformat(), "to": NOW.isoformat()}
    longer = (await client.get("/api/v1/handover", params=params, headers=headers)).json()
    assert [a["id"] for a in longer["closed"]] == [ids["before"], ids["fall"]]
    reversed_ = await client.get("/api/v1/handover", params={"from": params["to"], "to": params["from"]}, headers=headers)
    assert reversed_.status_code == 422
    # Admins see both centres' closures; families are refused (403), so is staff of another centre's view of A's rows.
    admin = (await client.get("/api/v1/handover", headers=await login(client, "admin"))).json()
    assert {a["id"] for a in admin["closed"]} == {ids["fall"], world.alert_z}
    other = (await client.get("/api/v1/handover", headers=await login(client, "staff_b"))).json()
    assert [a["id"] for a in other["closed"]] == [world.alert_z]
    assert other["open"] == []
    assert (await client.get("/api/v1/handover", headers=await login(client, "family_x"))).status_code == 403


async def test_the_handover_as_a_spreadsheet(client: httpx.AsyncClient, world: World, db_url: str) -> None:
    ids = _shift(db_url, world)
    headers = await login(client, "staff_a")
    response = await client.get("/api/v1/handover/export.csv", params={"lang": "zh-CN"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="handover-20260501T1200.csv"'
    rows = list(csv.reader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert rows[0][:3] == ["类别", "警报编号", "发生时间"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == [("已结案", ids["fall"]), ("未结案", ids["sos"]), ("未结案", world.alert_x)]
    closed = dict(zip(rows[0], rows[1], strict=True))
    assert (closed["类型"], closed["结果"], closed["处理人"], closed["认领用时（秒）"]) == (
        "跌倒后长时间未起身",
        "已上门",
        "staff_a",
        "75.0",
    )
    assert closed["结案说明"] == "'=1+1 slipped, no injury"  # a formula stays text
    assert "daughter informed" in closed["处理备注"]
    english = await client.get("/api/v1/handover/export.csv", headers=headers)
    assert english.text.splitlines()[0].startswith('\ufeff"section","alarm id"')
