"""A gateway written from docs/protocol.md alone (tests/e2e/third_party_gateway.py) against the real
``eldercare ingest``: its config arrives, its readings are stored once however often it resends
them, its one bad message is dead-lettered with a reason that says what is wrong, and its status and
heartbeat reach the home's state."""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.third_party_gateway import Gateway
from tests.ingest.support import register_homes, rows, scalar
from tests.support.processes import ServiceProcess
from tests.support.services import BROKER_HOST, BROKER_PORT

GATEWAY_SOURCE = Path(__file__).with_name("third_party_gateway.py")


def _eventually(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.05)


def test_the_gateway_uses_nothing_of_the_project() -> None:
    tree = ast.parse(GATEWAY_SOURCE.read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {m.split(".")[0] for m in modules} <= {"__future__", "json", "threading", "datetime", "typing", "paho"}


def test_a_gateway_written_from_the_doc_alone_is_understood(
    env_for: Callable[..., dict[str, str]], topic_root: str, db_url: str, tmp_path: Path
) -> None:
    register_homes(db_url, ["home-acme"])
    env = env_for(ingest__metrics_port="0", ingest__config_poll_interval_s="0.1", gateways__batch_max_readings="150")
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log").start()
    gateway = Gateway(BROKER_HOST, BROKER_PORT, root=topic_root, home_id="home-acme")
    try:
        ingest.wait_for_log("ingest_ready", timeout_s=60)
        gateway.connect()
        config = gateway.wait_for_config()
        assert config["batch_max_readings"] == 150  # the platform's value, not the documented default

        start = datetime.now(UTC) - timedelta(minutes=10)
        readings = [
            gateway.reading("acme-temp-1", "temperature", "temperature_c", 20 + i / 100, start + timedelta(seconds=i), "kitchen")
            for i in range(400)
        ]
        batches = gateway.batches(readings)
        assert len(batches) == 3  # sealed at the config's 150
        for payload in batches:
            gateway.send("readings", payload)
        gateway.send("readings", batches[0])  # a resend after a lost PUBACK: the same bytes, skipped silently
        bad = gateway.reading("acme-temp-1", "temperature", "temperature_c", 21.5, datetime.now(UTC))
        gateway.send("readings", gateway.batches([{**bad, "value": "21.5"}])[0])  # a number sent as a string
        gateway.heartbeat(uptime_s=12.5)

        _eventually(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 400, "every reading stored")
        _eventually(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == 1, "the bad message dead-lettered")
        _eventually(
            lambda: scalar(db_url, "SELECT last_heartbeat_at IS NOT NULL FROM home_state WHERE home_id = 'home-acme'") is True,
            "the heartbeat",
        )
        assert rows(db_url, "SELECT reason, detail, home_id FROM dead_letters") == [
            ("wrong_type", "readings.0.value: Input should be a valid number", "home-acme")
        ]
        assert scalar(db_url, "SELECT count(DISTINCT seq) FROM readings WHERE device_id = 'acme-temp-1'") == 400
        assert rows(db_url, "SELECT kind, room FROM devices") == [("temperature", "kitchen")]
        assert scalar(db_url, "SELECT gateway_state FROM home_state WHERE home_id = 'home-acme'") == "online"
        # The device it registered by naming it comes back in a new revision of its config.
        _eventually(lambda: (gateway.config or {}).get("devices") != [], "the config's device list")
        assert gateway.wait_for_config()["devices"] == [{"device": "acme-temp-1", "kind": "temperature", "room": "kitchen"}]
        assert gateway.config is not None
        assert gateway.config["revision"] > config["revision"]
    finally:
        gateway.shutdown()
        _eventually(
            lambda: scalar(db_url, "SELECT gateway_state FROM home_state WHERE home_id = 'home-acme'") == "offline",
            "the clean shutdown's offline",
        )
        assert ingest.stop() == 0
