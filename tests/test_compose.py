"""docker-compose.yml cannot run here (no Docker engine); check its structure and what it calls."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from eldercare.cli import COMPONENT_COMMANDS, main
from tests.support.processes import run_cli

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_and_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"db", "broker", "migrate", "ingest", "alerts", "api"} <= set(services)
    # Pinned: the TimescaleDB release the suite runs, on PostgreSQL 17 (never a moving tag such as latest-pg17).
    assert services["db"]["image"] == "timescale/timescaledb:2.28.3-pg17"
    assert services["maintain"]["command"] == ["db", "maintain", "--every", "900"]
    for name in ("db", "broker", "ingest", "alerts", "api"):
        assert "healthcheck" in services[name], name
    for name in ("ingest", "alerts", "api"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_secrets_come_from_the_environment_and_are_required(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in ("POSTGRES_PASSWORD", "MQTT_ADMIN_PASSWORD", "MQTT_SERVICE_PASSWORD", "API_JWT_SECRET"):
        assert re.search(r"\$\{" + secret + r":\?", text), f"{secret} must be required (${{VAR:?...}})"
    assert "password123" not in text
    assert "changeme" not in text.lower()


def test_broker_config_authenticates_and_raises_queue_limit() -> None:
    config = (ROOT / "docker" / "mosquitto" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in config
    assert "mosquitto_dynamic_security.so" in config
    limit = int(re.search(r"^max_queued_messages (\d+)", config, re.M).group(1))  # type: ignore[union-attr]
    assert limit >= 100_000


@pytest.mark.slow  # runs the CLI once per command
def test_every_eldercare_command_named_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("eldercare") or service.get("build"):
            command = service["command"]
            top = command[0]
            assert top in main.commands or top in COMPONENT_COMMANDS, f"{name}: eldercare {top} does not exist"
            result = run_cli([*command, "--help"], {})
            assert result.returncode == 0, f"{name}: eldercare {' '.join(command)} --help failed: {result.stderr}"
