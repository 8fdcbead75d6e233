"""Home credentials take effect at a real Mosquitto 2 with the dynamic-security plugin, with no manual step.

Two homes registered through the API: each can use its own topics and cannot publish or subscribe
under the other's; rotating a home's credentials makes the old password fail at the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from api.app import create_app
from eldercare.clock import FixedClock
from eldercare.config import Settings
from eldercare.domain.homes import register_home, verify_password
from eldercare.errors import PermanentError
from eldercare.mqtt import connect
from eldercare.mqtt.dynsec import BrokerAdmin
from tests.api.conftest import NOW, World, login
from tests.support.broker import PrivateBroker, dynsec_config

ADMIN, ADMIN_PASSWORD = "dynsec-admin", "dynsec-admin-password"
ROOT = "eldercare"


@pytest.fixture
def dynsec_broker(private_broker: Callable[..., PrivateBroker], tmp_path: Path) -> PrivateBroker:
    return private_broker(extra=dynsec_config(tmp_path / "dynsec.json", ADMIN, ADMIN_PASSWORD))


@pytest.fixture
async def broker_client(
    api_settings: Callable[..., Settings], make_settings: Callable[..., Settings], dynsec_broker: PrivateBroker, clock: FixedClock
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    base = api_settings(broker_admin_username=ADMIN, broker_admin_password=ADMIN_PASSWORD)
    settings = make_settings(
        mqtt_url=dynsec_broker.url, mqtt={"topic_root": ROOT, "connect_timeout_s": 5.0}, api=base.api.model_dump(mode="python")
    )
    app = create_app(settings, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        yield http, settings


async def _register(client: httpx.AsyncClient, headers: dict[str, str], home_id: str, centre: int) -> str:
    response = await client.post("/api/v1/homes", json={"id": home_id, "care_centre_id": centre}, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["broker_synced"] is True
    assert body["mqtt_username"] == home_id
    return str(body["mqtt_password"])


async def _collect(client: object, until: str, timeout_s: float = 5.0) -> list[str]:
    received: list[str] = []

    async def run() -> None:
        async for message in client.messages:  # type: ignore[attr-defined]
            received.append(f"{message.topic}={bytes(message.payload).decode()}")
            if until in received[-1]:
                return

    await asyncio.wait_for(run(), timeout=timeout_s)
    return received


async def test_home_a_cannot_use_home_b_topics(broker_client: tuple[httpx.AsyncClient, Settings], world: World) -> None:
    client, settings = broker_client
    admin = await login(client, "admin")
    pw_a = await _register(client, admin, "home-xa", world.centre_a)
    pw_b = await _register(client, admin, "home-xb", world.centre_b)
    endpoint = settings.mqtt_endpoint
    await BrokerAdmin.from_settings(settings).apply_service_account(ROOT, "platform", "platform-password")  # type: ignore[union-attr]
    async with (
        connect(settings, client_id="spy-a", endpoint=endpoint.with_credentials("home-xa", pw_a)) as home_a,
        connect(settings, client_id="gw-b", endpoint=endpoint.with_credentials("home-xb", pw_b)) as home_b,
        connect(settings, client_id="svc", endpoint=endpoint.with_credentials("platform", "platform-password")) as platform,
    ):
        # A tries to listen to B's tree (the broker refuses the subscription); each reads its own config.
        result_other = await home_a.subscribe(f"{ROOT}/v1/home-xb/#", qos=1)
        await home_a.subscribe(f"{ROOT}/v1/home-xa/config", qos=1)
        await home_b.subscribe(f"{ROOT}/v1/home-xb/config", qos=1)
        await home_a.publish(f"{ROOT}/v1/home-xb/config", b"forged-by-a", qos=1)  # denied: dropped by the broker
        await home_b.publish(f"{ROOT}/v1/home-xb/config", b"self-written", qos=1)  # a gateway never writes its config
        await platform.publish(f"{ROOT}/v1/home-xb/config", b"b-own", qos=1)
        await platform.publish(f"{ROOT}/v1/home-xa/config", b"a-own", qos=1)
        seen_by_b = await _collect(home_b, "b-own")
        seen_by_a = await _collect(home_a, "a-own")
    assert seen_by_b[-1] == f"{ROOT}/v1/home-xb/config=b-own"
    assert not [seen for seen in seen_by_b if "forged" in seen or "self-written" in seen]
    assert all(seen.startswith(f"{ROOT}/v1/home-xa/") for seen in seen_by_a)  # nothing of B's reached A
    assert any(code.value >= 0x80 for code in result_other)  # type: ignore[union-attr]  # SUBACK: not authorised


async def test_rotation_invalidates_the_old_password(broker_client: tuple[httpx.AsyncClient, Settings], world: World) -> None:
    client, settings = broker_client
    staff = await login(client, "staff_a")
    old = await _register(client, staff, "home-xr", world.centre_a)
    endpoint = settings.mqtt_endpoint
    async with connect(settings, client_id="r1", endpoint=endpoint.with_credentials("home-xr", old)):
        pass
    rotated = await client.post("/api/v1/homes/home-xr/credentials", headers=staff)
    assert rotated.status_code == 200
    new = rotated.json()["mqtt_password"]
    assert new != old
    with pytest.raises(PermanentError):
        async with connect(settings, client_id="r2", endpoint=endpoint.with_credentials("home-xr", old)):
            pass
    async with connect(settings, client_id="r3", endpoint=endpoint.with_credentials("home-xr", new)) as gateway:
        await gateway.publish(f"{ROOT}/v1/home-xr/heartbeat", b"hb", qos=1)
    # Staff of another centre cannot rotate (or even see) this home.
    other = await login(client, "staff_b")
    assert (await client.post("/api/v1/homes/home-xr/credentials", headers=other)).status_code == 404
    assert (
        await client.post("/api/v1/homes", json={"id": "home-xs", "care_centre_id": world.centre_a}, headers=other)
    ).status_code == 404


async def test_a_home_the_broker_refuses_is_not_registered(
    broker_client: tuple[httpx.AsyncClient, Settings], world: World
) -> None:
    client, _ = broker_client
    admin = await login(client, "admin")
    await _register(client, admin, "home-xd", world.centre_a)
    duplicate = await client.post("/api/v1/homes", json={"id": "home-xd", "care_centre_id": world.centre_a}, headers=admin)
    assert duplicate.status_code == 409
    missing_centre = await client.post("/api/v1/homes", json={"id": "home-xe", "care_centre_id": 999}, headers=admin)
    assert missing_centre.status_code == 404
    assert [h["id"] for h in (await client.get("/api/v1/homes", headers=admin)).json() if h["id"].startswith("home-x")] == [
        "home-xd"
    ]


async def test_service_account_reads_every_home_and_writes_only_config(
    broker_client: tuple[httpx.AsyncClient, Settings], world: World
) -> None:
    client, settings = broker_client
    admin = await login(client, "admin")
    pw_a = await _register(client, admin, "home-xs", world.centre_a)
    broker = BrokerAdmin.from_settings(settings)
    assert broker is not None
    await broker.apply_service_account(ROOT, "ingest-1", "service-password-1")
    await broker.apply_service_account(ROOT, "ingest-1", "service-password-2")  # idempotent; re-keys
    endpoint = settings.mqtt_endpoint
    with pytest.raises(PermanentError):
        async with connect(settings, client_id="svc-old", endpoint=endpoint.with_credentials("ingest-1", "service-password-1")):
            pass
    async with (
        connect(settings, client_id="svc", endpoint=endpoint.with_credentials("ingest-1", "service-password-2")) as service,
        connect(settings, client_id="gw-s", endpoint=endpoint.with_credentials("home-xs", pw_a)) as home,
    ):
        await service.subscribe(f"$share/ingest/{ROOT}/v1/+/status", qos=1)  # workers use shared subscriptions
        await home.subscribe(f"{ROOT}/v1/home-xs/config", qos=1)
        await service.publish(f"{ROOT}/v1/home-xs/status", b"forged-by-service", qos=1)  # services never speak for a home
        await home.publish(f"{ROOT}/v1/home-xs/status", b"online", qos=1)
        assert await _collect(service, "online") == [f"{ROOT}/v1/home-xs/status=online"]
        await service.publish(f"{ROOT}/v1/home-xs/config", b"cfg", qos=1)
        assert await _collect(home, "cfg") == [f"{ROOT}/v1/home-xs/config=cfg"]


async def test_domain_registers_many_homes_over_one_admin_session(
    broker_client: tuple[httpx.AsyncClient, Settings], world: World, db_url: str
) -> None:
    """The path the simulator takes (it cannot import the API): eldercare.domain.homes with one dynsec session."""
    _, settings = broker_client
    broker = BrokerAdmin.from_settings(settings)
    assert broker is not None
    async with await psycopg.AsyncConnection.connect(db_url) as conn, broker.session() as session:
        created = [
            await register_home(conn, home_id=f"sim-{i}", care_centre_id=world.centre_a, broker=session, topic_root=ROOT, now=NOW)
            for i in range(3)
        ]
        await conn.commit()
        cur = await conn.execute("SELECT id, mqtt_password_hash FROM homes WHERE id LIKE 'sim-%%' ORDER BY id")
        stored = await cur.fetchall()
    assert [row[0] for row in stored] == ["sim-0", "sim-1", "sim-2"]
    assert all(verify_password(h, c.password) and c.password not in h for (_, h), c in zip(stored, created, strict=True))
    for creds in created:
        async with connect(
            settings, client_id=creds.home_id, endpoint=settings.mqtt_endpoint.with_credentials(creds.home_id, creds.password)
        ) as gw:
            await gw.publish(f"{ROOT}/v1/{creds.home_id}/heartbeat", b"hb", qos=1)


async def test_a_broker_that_refuses_the_admin_leaves_no_home_behind(
    api_settings: Callable[..., Settings],
    make_settings: Callable[..., Settings],
    dynsec_broker: PrivateBroker,
    clock: FixedClock,
    world: World,
) -> None:
    base = api_settings(broker_admin_username=ADMIN, broker_admin_password="not-the-admin-password")
    settings = make_settings(
        mqtt_url=dynsec_broker.url, mqtt={"topic_root": ROOT, "connect_timeout_s": 5.0}, api=base.api.model_dump(mode="python")
    )
    app = create_app(settings, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        admin = await login(client, "admin")
        refused = await client.post("/api/v1/homes", json={"id": "home-xz", "care_centre_id": world.centre_a}, headers=admin)
        assert refused.status_code == 502  # a server-side misconfiguration, not the caller's mistake
        assert (await client.get("/api/v1/homes/home-xz", headers=admin)).status_code == 404  # rolled back
        rotate = await client.post("/api/v1/homes/home-a1/credentials", headers=admin)
        assert rotate.status_code == 502
        home = (await client.get("/api/v1/homes/home-a1", headers=admin)).json()
    assert home["credentials_rotated_at"] is None  # the old credentials stay in force
