"""The broker config compose ships, run for real: TLS for gateways on 8883, plain 1883 for the services.

Only the container paths, the ports and the plugin's Debian path are rewritten to run it here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from eldercare.config import load_settings, parse_mqtt_url
from eldercare.errors import PermanentError, TransientError
from eldercare.mqtt import connect
from tests.support.broker import DYNSEC_PLUGIN, PrivateBroker, dynsec_config
from tests.support.processes import run_cli
from tests.support.services import free_port
from tests.support.tls import TestCA

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "docker" / "mosquitto" / "mosquitto.conf"


def _runnable_here(directory: Path, certs: Path, internal_port: int, gateway_port: int) -> str:
    text = SHIPPED.read_text()
    replacements = {
        r"^listener 1883$": f"listener {internal_port} 127.0.0.1",
        r"^listener 8883$": f"listener {gateway_port} 127.0.0.1",
        r"/mosquitto/data/": f"{directory}/",
        r"/mosquitto/certs/": f"{certs}/",  # certfile and keyfile
        r"^plugin /usr/lib/mosquitto_dynamic_security\.so$": f"plugin {DYNSEC_PLUGIN}",
        r"^log_dest stdout$": f"log_dest file {directory}/mosquitto.log",
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, flags=re.M)
        assert count >= 1, f"the shipped config no longer has {pattern!r}"
    if os.geteuid() == 0:
        text += "\nuser root\n"  # as root Mosquitto would switch to a user who cannot read pytest's tmp dir
    return text


async def test_shipped_broker_config_serves_gateways_over_tls_only(tmp_path: Path, topic_root: str) -> None:
    ca = TestCA(tmp_path / "pki")
    issued = ca.issue("broker")
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "fullchain.pem").write_bytes(issued.cert.read_bytes())
    (certs / "privkey.pem").write_bytes(issued.key.read_bytes())
    data = tmp_path / "data"
    data.mkdir()
    dynsec_config(data / "dynamic-security.json", "admin", "admin-pw")  # the admin account, as compose's broker-init
    internal, gateway = free_port(), free_port()
    broker = PrivateBroker(directory=data, config=_runnable_here(data, certs, internal, gateway), port=internal)
    broker.start()
    settings = load_settings(mqtt={"topic_root": topic_root, "ca_file": str(ca.cert_file)})
    try:
        async with connect(
            settings, client_id="over-tls", endpoint=parse_mqtt_url(f"mqtts://admin:admin-pw@127.0.0.1:{gateway}")
        ):
            pass
        async with connect(
            settings, client_id="internal", endpoint=parse_mqtt_url(f"mqtt://admin:admin-pw@127.0.0.1:{internal}")
        ):
            pass
        with pytest.raises(PermanentError, match="refused"):
            async with connect(settings, client_id="anonymous", endpoint=parse_mqtt_url(f"mqtts://127.0.0.1:{gateway}")):
                pass
        impatient = load_settings(mqtt={"topic_root": topic_root, "connect_timeout_s": 1})
        with pytest.raises(TransientError):  # plain MQTT on the gateways' port gets nowhere
            async with connect(impatient, client_id="plain", endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{gateway}")):
                pass
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_only_tls_is_published_for_gateways(compose: dict[str, Any]) -> None:
    broker = compose["services"]["broker"]
    assert broker["ports"] == ["8883:8883"]
    assert any(volume.endswith(":/mosquitto/certs:ro") for volume in broker["volumes"])


def _substituted(value: str) -> str:
    """What compose makes of ``${VAR:?message}`` and ``${VAR:-default}`` with test values."""
    secrets = {"API_JWT_SECRET": "x" * 40, "HEARTBEAT_URL": "https://hc-ping.example.org/0f1e2d"}
    value = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: secrets.get(m.group(1), f"test-{m.group(1).lower()}"), value)
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)


@pytest.mark.slow  # runs the CLI once per service
def test_every_service_configuration_passes_the_check(compose: dict[str, Any]) -> None:
    """Compose's own environment, including plain MQTT with a password on the internal network."""
    for name, service in compose["services"].items():
        if not (service.get("image", "").startswith("eldercare") or service.get("build")):
            continue
        env = {key: _substituted(str(value)) for key, value in service.get("environment", {}).items()}
        result = run_cli(["config", "check"], env)
        assert result.returncode == 0, f"{name}: {result.stderr}"
    without = {key: value for key, value in env.items() if key != "ELDERCARE_MQTT__ALLOW_CLEARTEXT_PASSWORD"}
    assert run_cli(["config", "check"], without).returncode == 2, "the check would pass without the explicit allowance"
