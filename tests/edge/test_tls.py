"""mqtts:// gives a TLS connection verified against the configured CA."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from edge.drivers.simulated import SimulatedDriver
from eldercare.config import Settings
from eldercare.contracts.payloads import Room
from tests.edge.helpers import Collector, agent_config, make_agent, running
from tests.support.broker import PrivateBroker
from tests.support.services import free_port


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    commands = [
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca_cert,
            "-days",
            "2",
            "-subj",
            "/CN=eldercare test CA",
        ],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca_cert,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            ext,
        ],
    ]
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True)
    return ca_cert, cert, key


async def test_mqtts_url_connects_over_tls(
    edge_settings: Callable[..., Settings], private_broker: Callable[..., PrivateBroker], home_id: str, tmp_path: Path
) -> None:
    ca, cert, key = _certificates(tmp_path)
    tls_port = free_port()
    broker = private_broker(extra=f"listener {tls_port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n")
    plain = edge_settings(mqtt_url=broker.url)
    secure = edge_settings(mqtt_url=f"mqtts://127.0.0.1:{tls_port}", mqtt={"ca_file": str(ca)})
    driver = SimulatedDriver(home_id)
    agent = make_agent(agent_config(secure, home_id, tmp_path / "q.sqlite3"), driver)
    async with Collector(plain, home_id) as collector, running(agent):
        await driver.attached()
        await driver.motion(Room.BEDROOM, True)
        await collector.wait_for(lambda: len(collector.readings()) == 1)
    assert agent.stats.sessions == 1
