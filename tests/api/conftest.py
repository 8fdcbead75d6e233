"""API fixtures: the app in-process on a fresh database, a fixed clock, and a small seeded world.

The world: centres A and B; homes a1 (A) and b1 (B); residents X and Y in a1, Z in b1; users admin,
staff_a (centre A), staff_b (centre B), family_x (linked to X only). Every user's password is PASSWORD.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from api.app import create_app
from api.security import hash_password
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.support.databases import refresh_activity
from tests.support.processes import ServiceProcess
from tests.support.services import free_port

PASSWORD = "correct horse battery"
SECRET = "s" * 16 + "-test-secret-not-a-placeholder-0123"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class World:
    centre_a: int
    centre_b: int
    resident_x: int
    resident_y: int
    resident_z: int
    users: dict[str, int]
    alert_x: int
    alert_z: int


def seed(db_url: str) -> World:
    pw = hash_password(PASSWORD)
    with psycopg.connect(db_url) as conn:

        def one(query: str, params: tuple[Any, ...] = ()) -> Any:
            row = conn.execute(query, params).fetchone()
            assert row is not None
            return row[0]

        a = one("INSERT INTO care_centres (name, timezone) VALUES ('Centre A', 'Asia/Shanghai') RETURNING id")
        b = one("INSERT INTO care_centres (name) VALUES ('Centre B') RETURNING id")
        conn.execute(
            "INSERT INTO homes (id, care_centre_id, label, timezone) VALUES ('home-a1', %s, 'A1', 'Asia/Shanghai'), ('home-b1', %s, 'B1', 'UTC')",
            (a, b),
        )
        x = one("INSERT INTO residents (home_id, full_name) VALUES ('home-a1', 'Resident X') RETURNING id")
        y = one("INSERT INTO residents (home_id, full_name) VALUES ('home-a1', 'Resident Y') RETURNING id")
        z = one("INSERT INTO residents (home_id, full_name) VALUES ('home-b1', 'Resident Z') RETURNING id")
        users = {}
        for name, role, centre in (
            ("admin", "admin", None),
            ("staff_a", "staff", a),
            ("staff_b", "staff", b),
            ("family_x", "family", None),
        ):
            users[name] = one(
                "INSERT INTO users (username, password_hash, role, care_centre_id, locale) VALUES (%s, %s, %s, %s, 'en') RETURNING id",
                (name, pw, role, centre),
            )
        conn.execute(
            "INSERT INTO family_links (user_id, resident_id, relation) VALUES (%s, %s, 'daughter')", (users["family_x"], x)
        )
        alert_x = insert_alert(
            conn, home="home-a1", resident=x, centre=a, kind="fall", severity="critical", opened=NOW - timedelta(minutes=5)
        )
        alert_z = insert_alert(
            conn, home="home-b1", resident=z, centre=b, kind="sos", severity="high", opened=NOW - timedelta(minutes=3)
        )
        for dev, home, room in (("motion-a1", "home-a1", "kitchen"), ("motion-b1", "home-b1", "bedroom")):
            conn.execute(
                "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at, battery_pct) VALUES (%s, %s, 'motion', %s, %s, %s, 80)",
                (dev, home, room, NOW - timedelta(days=3), NOW - timedelta(minutes=1)),
            )
        for home in ("home-a1", "home-b1"):
            conn.execute(_HISTORY, {"home": home, "first": NOW - timedelta(days=20), "last": NOW - timedelta(hours=2)})
            conn.execute(
                "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
                " SELECT %s, %s, s, %s::timestamptz + s * interval '1 minute', 'motion', 1, 'kitchen' FROM generate_series(1, 30) s",
                (home, f"motion-{home[-2:]}", NOW - timedelta(minutes=40)),
            )
    refresh_activity(db_url, NOW - timedelta(days=20), NOW)
    return World(a, b, x, y, z, users, alert_x, alert_z)


# Every hour of the history, in the kitchen: 5 motion readings, a door opening and 2 appliance
# readings (activity_hourly: motion 5, door 1, power 2, readings 8), from devices of their own so
# the last hour's 30 motion readings stay the only readings of that hour.
_HISTORY = """
INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)
SELECT %(home)s, kind.device || '-' || %(home)s, row_number() OVER (), hour + kind.minute * interval '1 minute',
       kind.metric, kind.value, 'kitchen'
  FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 hour') hour,
       (VALUES ('pir', 0, 'motion', 1.0), ('pir', 1, 'motion', 1.0), ('pir', 2, 'motion', 1.0),
               ('pir', 3, 'motion', 1.0), ('pir', 4, 'motion', 1.0), ('door', 5, 'door_open', 1.0),
               ('plug', 6, 'power_w', 40.0), ('plug', 7, 'power_w', 35.0)) kind(device, minute, metric, value)
"""


def insert_alert(
    conn: psycopg.Connection, *, home: str, resident: int | None, centre: int, kind: str, severity: str, opened: datetime
) -> int:
    row = conn.execute(
        "INSERT INTO alerts (home_id, resident_id, care_centre_id, kind, severity, explanation_en, explanation_zh, evidence, opened_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (home, resident, centre, kind, severity, f"{kind} detected", f"检测到{kind}", Jsonb({"rule": kind}), opened, opened),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def world(db_url: str) -> World:
    return seed(db_url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def api_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(**api: Any) -> Settings:
        values = {"jwt_secret": SECRET, "stream_poll_interval_s": 0.2, **api}
        return make_settings(api=values, db={"pool_min_size": 0, "pool_max_size": 4})

    return build


@pytest.fixture
async def client(api_settings: Callable[..., Settings], clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    # One fixed clock for data and security alike: tests move both with ``clock.advance``.
    app = create_app(api_settings(), clock=clock, wall_clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        yield http


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class RunningApi:
    url: str
    process: ServiceProcess


def wait_until_serving(url: str, process: ServiceProcess, timeout_s: float = 120, *, ready: bool = True) -> None:
    """Until the API answers: ready (``/healthz`` 200: its database answers too), or merely serving."""
    deadline = time.monotonic() + timeout_s
    path = "/healthz" if ready else "/openapi.json"
    while time.monotonic() < deadline:
        if process.process is not None and process.process.poll() is not None:
            raise AssertionError(f"eldercare api exited with {process.process.returncode}:\n{process.log_text()[-3000:]}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the API did not serve within {timeout_s} s:\n{process.log_text()[-3000:]}")


@pytest.fixture
def api_server(env_for: Callable[..., dict[str, str]], world: World, tmp_path: Path) -> Iterator[RunningApi]:
    """The real ``eldercare api`` as a subprocess on a free port, on this test's seeded database."""
    port = free_port()
    # The server's clock starts at the seeded world's NOW (simulated time at speed 1).
    env = env_for(
        api__jwt_secret=SECRET,
        api__port=str(port),
        api__stream_poll_interval_s="0.25",
        db__pool_max_size="4",
        clock__start=NOW.isoformat(),
    )
    process = ServiceProcess(["api"], env, tmp_path / "api.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        yield RunningApi(url, process)
    finally:
        process.stop()
