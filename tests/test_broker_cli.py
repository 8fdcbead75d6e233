"""``eldercare broker provision-service`` against a real Mosquitto 2 with the dynamic-security plugin.

The CLI runs as a subprocess. After it, the service account reads every home's readings through a
shared subscription and writes a home's config, but the broker refuses it a home's readings (MQTT 5
PUBACK 0x87); a second run changes nothing, a new password is applied, a drifted role is put back.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from eldercare.config import Settings, load_settings, parse_mqtt_url
from eldercare.mqtt.dynsec import SERVICE_ROLE, BrokerAdmin, service_acls
from eldercare.mqtt.edge_client import EdgeConnection, PublishRefusedError, connect_edge
from tests.support.broker import PrivateBroker, dynsec_config
from tests.support.processes import run_cli
from tests.support.services import free_port

ADMIN, ADMIN_PASSWORD = "dynsec-admin", "dynsec-admin-password"
SERVICE, SERVICE_PASSWORD = "platform-svc", "service-password-0001"
NOT_AUTHORIZED = 0x87
COMMAND = ["broker", "provision-service"]


@pytest.fixture
def dynsec_broker(private_broker: Callable[..., PrivateBroker], tmp_path: Path) -> PrivateBroker:
    return private_broker(extra=dynsec_config(tmp_path / "dynsec.json", ADMIN, ADMIN_PASSWORD))


@pytest.fixture
def env(dynsec_broker: PrivateBroker, topic_root: str) -> Callable[..., dict[str, str]]:
    """The variables docker-compose gives the one-shot service: the service's MQTT URL and the broker admin."""

    def build(password: str = SERVICE_PASSWORD, admin_password: str = ADMIN_PASSWORD) -> dict[str, str]:
        return {
            "ELDERCARE_MQTT_URL": dynsec_broker.url_as(SERVICE, password),
            "ELDERCARE_MQTT__TOPIC_ROOT": topic_root,
            "ELDERCARE_MQTT__CONNECT_TIMEOUT_S": "5",
            "ELDERCARE_API__BROKER_ADMIN_USERNAME": ADMIN,
            "ELDERCARE_API__BROKER_ADMIN_PASSWORD": admin_password,
        }

    return build


@pytest.fixture
def settings(dynsec_broker: PrivateBroker, topic_root: str) -> Settings:
    return load_settings(mqtt_url=dynsec_broker.url, mqtt={"topic_root": topic_root, "connect_timeout_s": 5.0})


@pytest.fixture
def admin(settings: Settings, dynsec_broker: PrivateBroker) -> BrokerAdmin:
    return BrokerAdmin(settings, parse_mqtt_url(dynsec_broker.url_as(ADMIN, ADMIN_PASSWORD)))


def _provision(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    result = run_cli([*COMMAND, *extra], env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _changes(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.removeprefix("changed: ") for line in result.stdout.splitlines() if line.startswith("changed: ")]


async def _next_message(conn: EdgeConnection, timeout_s: float = 5.0) -> tuple[str, bytes]:
    async with asyncio.timeout(timeout_s):
        async for message in conn.messages():
            return message.topic, message.payload
    raise AssertionError("the message stream ended")


async def test_the_service_reads_every_home_and_writes_only_config(
    env: Callable[..., dict[str, str]], settings: Settings, admin: BrokerAdmin, dynsec_broker: PrivateBroker, topic_root: str
) -> None:
    result = await asyncio.to_thread(_provision, env())
    assert _changes(result) == [f"created role {SERVICE_ROLE} with 5 ACLs", f"created client {SERVICE} with role {SERVICE_ROLE}"]
    assert f"  acl publishClientSend {topic_root}/v1/+/config allow" in result.stdout.splitlines()
    assert f"  acl subscribePattern $share/+/{topic_root}/# allow" in result.stdout.splitlines()

    await admin.provision_home(topic_root, "home-p1", "home-p1-password")
    mqtt, url = settings.mqtt, parse_mqtt_url(dynsec_broker.url)
    async with (
        connect_edge(mqtt, url.with_credentials(SERVICE, SERVICE_PASSWORD), client_id="svc-1", persistent=False) as service,
        connect_edge(mqtt, url.with_credentials("home-p1", "home-p1-password"), client_id="gw-p1", persistent=False) as home,
    ):
        await service.subscribe(f"$share/ingest/{topic_root}/v1/+/readings", timeout_s=5)
        await home.subscribe(f"{topic_root}/v1/home-p1/config", timeout_s=5)
        await home.publish(f"{topic_root}/v1/home-p1/readings", b"r1", timeout_s=5)
        assert await _next_message(service) == (f"{topic_root}/v1/home-p1/readings", b"r1")

        await service.publish(f"{topic_root}/v1/home-p1/config", b"cfg", retain=True, timeout_s=5)
        assert await _next_message(home) == (f"{topic_root}/v1/home-p1/config", b"cfg")
        with pytest.raises(PublishRefusedError) as own_config:  # a gateway never writes its own config
            await home.publish(f"{topic_root}/v1/home-p1/config", b"self-made", timeout_s=5)
        assert own_config.value.reason_code == NOT_AUTHORIZED

        with pytest.raises(PublishRefusedError) as refused:  # services never speak for a home
            await service.publish(f"{topic_root}/v1/home-p1/readings", b"forged", timeout_s=5)
        assert refused.value.reason_code == NOT_AUTHORIZED
        await home.publish(f"{topic_root}/v1/home-p1/readings", b"r2", timeout_s=5)
        assert await _next_message(service) == (f"{topic_root}/v1/home-p1/readings", b"r2")  # the forgery never arrived


async def test_a_second_run_changes_nothing_and_a_new_password_is_applied(
    env: Callable[..., dict[str, str]], admin: BrokerAdmin
) -> None:
    await asyncio.to_thread(_provision, env())
    again = await asyncio.to_thread(_provision, env())
    assert _changes(again) == []
    assert again.stdout.splitlines()[-1] == "up to date: nothing changed"

    rotated = await asyncio.to_thread(_provision, env(password="service-password-0002"))
    assert _changes(rotated) == [f"set client {SERVICE}'s password (the broker refused the configured one)"]
    assert not await admin.accepts(SERVICE, SERVICE_PASSWORD)
    assert await admin.accepts(SERVICE, "service-password-0002")
    assert _changes(await asyncio.to_thread(_provision, env(password="service-password-0002"))) == []


async def test_a_drifted_account_is_put_back_exactly(
    env: Callable[..., dict[str, str]], admin: BrokerAdmin, topic_root: str
) -> None:
    await asyncio.to_thread(_provision, env())
    forged = f"{topic_root}/v1/+/readings"
    role, client = {"rolename": SERVICE_ROLE}, {"username": SERVICE}
    async with admin.session() as session:
        await session.execute(
            [
                {"command": "addRoleACL", **role, "acltype": "publishClientSend", "topic": forged, "allow": True},
                {"command": "removeRoleACL", **role, "acltype": "subscribePattern", "topic": f"{topic_root}/#"},
                {"command": "removeClientRole", **client, **role},
                {"command": "disableClient", **client},
            ]
        )
    result = await asyncio.to_thread(_provision, env())
    assert _changes(result) == [
        f"added to role {SERVICE_ROLE}: subscribePattern {topic_root}/# allow",
        f"removed from role {SERVICE_ROLE}: publishClientSend {forged} allow",
        f"enabled client {SERVICE}",
        f"gave client {SERVICE} role {SERVICE_ROLE}",
    ]
    async with admin.session() as session:
        role_now = await session.get_role(SERVICE_ROLE)
        client_now = await session.get_client(SERVICE)
    assert role_now is not None
    assert client_now is not None
    key = lambda acl: (acl["acltype"], acl["topic"], bool(acl["allow"]), acl["priority"])  # noqa: E731
    assert sorted(map(key, role_now["acls"])) == sorted(map(key, service_acls(topic_root)))
    assert not client_now.get("disabled")
    assert [r["rolename"] for r in client_now["roles"]] == [SERVICE_ROLE]


def test_the_password_can_come_from_stdin_and_a_home_account_is_refused(
    env: Callable[..., dict[str, str]], admin: BrokerAdmin, topic_root: str
) -> None:
    def run(username: str, password: str) -> subprocess.CompletedProcess[str]:
        return run_cli([*COMMAND, "--username", username, "--password-stdin"], env(), stdin=password + "\n")

    result = run("alerts-svc", "alerts-password-0001")
    assert result.returncode == 0, result.stderr
    assert "alerts-password-0001" not in result.stdout
    assert asyncio.run(admin.accepts("alerts-svc", "alerts-password-0001"))

    asyncio.run(admin.provision_home(topic_root, "home-q1", "home-q1-password"))
    refused = run("home-q1", "another-password-0001")
    assert refused.returncode == 1
    assert "home-q1 is a home's account" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert asyncio.run(admin.accepts("home-q1", "home-q1-password"))  # the home was not re-keyed


def test_a_wrong_admin_password_exits_1_and_creates_nothing(env: Callable[..., dict[str, str]], admin: BrokerAdmin) -> None:
    result = run_cli(COMMAND, env(admin_password="not-the-admin-password"))
    assert result.returncode == 1
    assert "refused the dynamic-security admin" in result.stderr
    assert "ELDERCARE_API__BROKER_ADMIN_PASSWORD" in result.stderr
    assert "not-the-admin-password" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not asyncio.run(admin.accepts(SERVICE, SERVICE_PASSWORD))


def test_an_unreachable_broker_exits_1(env: Callable[..., dict[str, str]]) -> None:
    settings = {**env(), "ELDERCARE_MQTT_URL": f"mqtt://{SERVICE}:{SERVICE_PASSWORD}@127.0.0.1:{free_port()}"}
    result = run_cli(COMMAND, settings)
    assert result.returncode == 1
    assert "cannot provision the service account at 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"ELDERCARE_API__BROKER_ADMIN_USERNAME": None}, "ELDERCARE_API__BROKER_ADMIN_USERNAME: required"),
        ({"ELDERCARE_API__BROKER_ADMIN_PASSWORD": None}, "ELDERCARE_API__BROKER_ADMIN_PASSWORD: required"),
        ({"ELDERCARE_MQTT_URL": "mqtt://127.0.0.1:1"}, "ELDERCARE_MQTT_URL: names no username"),
        ({"ELDERCARE_MQTT_URL": f"mqtt://{SERVICE}@127.0.0.1:1"}, "ELDERCARE_MQTT_URL: names no password"),
        ({"ELDERCARE_MQTT_URL": f"mqtt://{SERVICE}:changeme@127.0.0.1:1"}, "not a placeholder"),
        ({"ELDERCARE_MQTT_URL": f"mqtt://{SERVICE}:short-secret@127.0.0.1:1"}, "at least 16 characters"),
        ({"ELDERCARE_MQTT_URL": f"mqtt://{ADMIN}:{SERVICE_PASSWORD}@127.0.0.1:1"}, "must not be the broker admin"),
        ({"ELDERCARE_MQTT__TOPIC_ROOT": "a/b"}, "ELDERCARE_MQTT__TOPIC_ROOT"),
    ],
)
def test_missing_or_unsafe_settings_exit_2(
    env: Callable[..., dict[str, str]], admin: BrokerAdmin, change: dict[str, str | None], problem: str
) -> None:
    settings = {key: value for key, value in {**env(), **change}.items() if value is not None}
    result = run_cli(COMMAND, settings)
    assert result.returncode == 2, result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr
    assert not asyncio.run(admin.accepts(SERVICE, SERVICE_PASSWORD))  # nothing reached the broker
