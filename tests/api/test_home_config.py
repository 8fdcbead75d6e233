"""Each home's retained config, end to end with the real CLI: ``eldercare api`` registers and changes,
``eldercare ingest`` publishes (and survives being killed with a change waiting), the broker
retains, and ``eldercare edge`` applies what it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eldercare.contracts.payloads import GatewayConfig
from tests.api.conftest import PASSWORD, RunningApi, World
from tests.ingest.support import scalar
from tests.support.processes import ServiceProcess
from tests.support.services import BROKER_HOST, BROKER_PORT


class RetainedConfigs:
    """A plain MQTT 5 subscriber to one home's config topic, keeping every config it receives."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.received: list[tuple[GatewayConfig, bool, list[tuple[str, str]]]] = []
        self._changed = threading.Condition()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self._client.on_message = self._on_message
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)

    def _on_message(self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        if not message.payload:
            return
        config = GatewayConfig.model_validate_json(message.payload)
        properties = getattr(message.properties, "UserProperty", None) or []
        with self._changed:
            self.received.append((config, bool(message.retain), list(properties)))
            self._changed.notify_all()

    def __enter__(self) -> RetainedConfigs:
        self._client.connect(BROKER_HOST, BROKER_PORT)
        self._client.loop_start()
        return self

    def __exit__(self, *_: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait_for(self, check: Callable[[GatewayConfig], bool], timeout_s: float = 30) -> GatewayConfig:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for config, _, _ in self.received:
                    if check(config):
                        return config
                left = deadline - time.monotonic()
                assert left > 0, f"no matching config on {self.topic} in {timeout_s} s; got {self.received}"
                self._changed.wait(left)


def retained(topic: str, timeout_s: float = 30) -> GatewayConfig:
    """The config the broker retains now (a fresh subscription receives it first)."""
    with RetainedConfigs(topic) as configs:
        return configs.wait_for(lambda _: True, timeout_s)


def clear_retained(topic: str) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(BROKER_HOST, BROKER_PORT)
    client.loop_start()
    client.publish(topic, b"", qos=1, retain=True, properties=Properties(PacketTypes.PUBLISH)).wait_for_publish(10)  # type: ignore[no-untyped-call]
    client.disconnect()
    client.loop_stop()


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[ServiceProcess]:
    process = ServiceProcess(args, env, log).start()
    try:
        process.wait_for_log(ready, timeout_s=60)
        yield process
    finally:
        process.stop()


@pytest.fixture
def admin(api_server: RunningApi) -> Iterator[httpx.Client]:
    """An HTTP client of the real API, logged in as the seeded admin."""
    with httpx.Client(base_url=api_server.url, timeout=30) as http:
        token = http.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


def _eventually(check: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _ingest_env(env_for: Callable[..., dict[str, str]], **extra: str) -> dict[str, str]:
    return env_for(ingest__metrics_port="0", ingest__config_poll_interval_s="0.1", **extra)


def test_a_registered_home_gets_its_config_and_every_change_even_one_made_while_ingest_was_dead(
    admin: httpx.Client, world: World, env_for: Callable[..., dict[str, str]], topic_root: str, db_url: str, tmp_path: Path
) -> None:
    topic = f"{topic_root}/v1/home-n1/config"
    http = admin
    ingest = ServiceProcess(["ingest"], _ingest_env(env_for), tmp_path / "ingest.log").start()
    try:
        ingest.wait_for_log("ingest_ready", timeout_s=60)
        with RetainedConfigs(topic) as configs:
            home = {"id": "home-n1", "care_centre_id": world.centre_a, "timezone": "Europe/Berlin"}
            assert http.post("/api/v1/homes", json=home).status_code == 201
            first = configs.wait_for(lambda c: c.home_id == "home-n1")
            assert (first.timezone, first.fall_detection_enabled, first.devices) == ("Europe/Berlin", True, [])
            assert configs.received[0][2] == [("eldercare-origin", "platform")]  # ingest's own: never dead-lettered

            resident = {"home_id": "home-n1", "full_name": "N", "rule_settings": {"fall": {"enabled": False}}}
            created = http.post("/api/v1/residents", json=resident)
            assert created.status_code == 201, created.text
            second = configs.wait_for(lambda c: not c.fall_detection_enabled)
            assert second.revision > first.revision

        ingest.kill()  # SIGKILL: the publisher is gone; the next change waits in the outbox
        changed = http.patch(f"/api/v1/residents/{created.json()['id']}", json={"rule_settings": {"fall": {"enabled": True}}})
        assert changed.status_code == 200, changed.text
        # This change at least (and the resident's creation too, when the kill came between its publish and commit).
        assert scalar(db_url, "SELECT count(*) FROM home_config_outbox WHERE home_id = 'home-n1'") in (1, 2)
        assert not retained(topic).fall_detection_enabled  # the broker still holds the old one

        ingest = ServiceProcess(["ingest"], _ingest_env(env_for), tmp_path / "ingest-2.log").start()
        with RetainedConfigs(topic) as configs:
            third = configs.wait_for(lambda c: c.fall_detection_enabled)
        assert third.revision > second.revision
        assert retained(topic) == third  # what a gateway connecting now receives
        _eventually(lambda: scalar(db_url, "SELECT count(*) FROM home_config_outbox WHERE home_id = 'home-n1'") == 0)
        assert scalar(db_url, "SELECT count(*) FROM dead_letters") == 0
    finally:
        ingest.stop()


def test_a_broker_that_lost_the_retained_config_gets_it_back(
    api_server: RunningApi, env_for: Callable[..., dict[str, str]], topic_root: str, tmp_path: Path
) -> None:
    topic = f"{topic_root}/v1/home-a1/config"
    env = _ingest_env(env_for, ingest__config_republish_interval_s="0.5")
    with running(["ingest"], env, tmp_path / "ingest.log", "ingest_ready"):
        published = retained(topic)
        assert [d.device for d in published.devices] == ["motion-a1"]  # the seeded world's device, room and all
        assert published.devices[0].room is not None
        clear_retained(topic)  # what a broker that lost its store (or was replaced) holds
        with RetainedConfigs(topic) as configs:
            back = configs.wait_for(lambda _: True)
    assert back == published  # the same revision again: a gateway that has it ignores it


def test_the_edge_agent_applies_the_config_it_receives_and_keeps_it(
    admin: httpx.Client, world: World, env_for: Callable[..., dict[str, str]], topic_root: str, db_url: str, tmp_path: Path
) -> None:
    http = admin
    assert http.post("/api/v1/homes", json={"id": "home-e1", "care_centre_id": world.centre_a}).status_code == 201
    # The platform tells every gateway to heartbeat every half second (the agent's own default is 300 s).
    ingest_env = _ingest_env(env_for, gateways__heartbeat_interval_s="0.5")
    edge_env = env_for(edge__home_id="home-e1", edge__data_dir=str(tmp_path / "edge"))
    with running(["ingest"], ingest_env, tmp_path / "ingest.log", "ingest_ready"):
        config = retained(f"{topic_root}/v1/home-e1/config")
        with running(["edge"], edge_env, tmp_path / "edge.log", "edge_config_applied") as edge:
            assert f'"revision": {config.revision}' in edge.log_text()
            beats: set[object] = set()
            deadline = time.monotonic() + 60
            while len(beats) < 4:  # several heartbeats within seconds: the config's interval is in force
                assert time.monotonic() < deadline, edge.log_text()[-3000:]
                beats.add(scalar(db_url, "SELECT last_heartbeat_at FROM home_state WHERE home_id = 'home-e1'"))
                beats.discard(None)
                time.sleep(0.1)
    # Restarted without the broker, the agent starts from the config it kept, not its defaults.
    offline = {**edge_env, "ELDERCARE_MQTT_URL": "mqtt://127.0.0.1:1"}
    with running(["edge"], offline, tmp_path / "edge-2.log", "edge_config_restored") as edge:
        assert '"heartbeat_interval_s": 0.5' in edge.log_text()
