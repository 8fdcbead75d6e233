"""Gateways reach the broker over TLS: the right CA is accepted, anything else is refused with a clear
error before a byte of the home's credentials is sent, and a password never goes over plain MQTT.

The broker is a private Mosquitto with a TLS listener; the certificates come from a CA made in the test.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.drivers.simulated import SimulatedDriver
from eldercare.config import Settings, parse_mqtt_url
from eldercare.contracts.payloads import Room
from eldercare.errors import ConfigError, PermanentError
from eldercare.mqtt import connect
from eldercare.mqtt.edge_client import connect_edge
from tests.edge.helpers import Collector, agent_config, make_agent, running
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess, run_cli
from tests.support.proxy import TcpProxy
from tests.support.services import free_port
from tests.support.tls import ServerCertificate, TestCA

HOME_PASSWORD = "s3cret-home-pw-7f3a"


def _tls_broker(private_broker: Callable[..., PrivateBroker], live: ServerCertificate, home_id: str) -> tuple[PrivateBroker, int]:
    """A broker with per-user passwords: plain listener for the test's collector, TLS listener for the gateway."""
    tls_port = free_port()
    broker = private_broker(
        users={home_id: HOME_PASSWORD, "collector": "collector-pw"},
        extra=f"listener {tls_port} 127.0.0.1\ncertfile {live.cert}\nkeyfile {live.key}\n",
    )
    return broker, tls_port


def _install(issued: ServerCertificate, live: ServerCertificate) -> None:
    """Put a certificate where the broker's config points, as a renewal job would."""
    shutil.copyfile(issued.cert, live.cert)
    shutil.copyfile(issued.key, live.key)


async def test_right_ca_accepted_and_nothing_readable_on_the_wire(
    edge_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    tcp_proxy: Callable[..., TcpProxy],
    home_id: str,
    tmp_path: Path,
) -> None:
    ca = TestCA(tmp_path / "pki")
    broker, tls_port = _tls_broker(private_broker, ca.issue("server"), home_id)
    wire = tcp_proxy("127.0.0.1", tls_port, record=True)  # what anyone on the path captures
    secure = edge_settings(
        mqtt_url=f"mqtts://{home_id}:{HOME_PASSWORD}@127.0.0.1:{wire.port}", mqtt={"ca_file": str(ca.cert_file)}
    )
    collecting = edge_settings(mqtt_url=broker.url_as("collector", "collector-pw"))
    driver = SimulatedDriver(home_id)
    agent = make_agent(agent_config(secure, home_id, tmp_path / "q.sqlite3"), driver)
    async with Collector(collecting, home_id) as collector, running(agent):
        await driver.attached()
        await driver.motion(Room.BEDROOM, True)
        await collector.wait_for(lambda: len(collector.readings()) == 1)
    assert agent.stats.sessions == 1
    captured = bytes(wire.sent)
    assert len(captured) > 500, "the capture saw the session"
    for secret in (HOME_PASSWORD.encode(), home_id.encode(), b"motion", b"bedroom"):
        assert secret not in captured

    # The same capture on the plain listener does see the password: the assertion above can fail.
    plain_wire = tcp_proxy("127.0.0.1", broker.port, record=True)
    endpoint = parse_mqtt_url(f"mqtt://{home_id}:{HOME_PASSWORD}@127.0.0.1:{plain_wire.port}")
    async with connect(secure, client_id=f"plain-{home_id}", endpoint=endpoint):
        pass
    assert HOME_PASSWORD.encode() in bytes(plain_wire.sent)


@pytest.mark.parametrize(
    ("presented", "reason"),
    [("another_ca", "unable to get local issuer certificate"), ("expired", "certificate has expired")],
)
def test_a_certificate_the_gateway_cannot_trust_is_refused_clearly_then_renewal_lets_it_in(
    edge_env: Callable[..., dict[str, str]],
    private_broker: Callable[..., PrivateBroker],
    home_id: str,
    tmp_path: Path,
    presented: str,
    reason: str,
) -> None:
    ca = TestCA(tmp_path / "pki")
    wrong = TestCA(tmp_path / "pki", "another").issue("server") if presented == "another_ca" else ca.issue("old", expired=True)
    live = ServerCertificate(tmp_path / "live.crt", tmp_path / "live.key")
    _install(wrong, live)
    broker, tls_port = _tls_broker(private_broker, live, home_id)
    env = edge_env(
        mqtt_url=f"mqtts://{home_id}:{HOME_PASSWORD}@127.0.0.1:{tls_port}",
        mqtt__ca_file=str(ca.cert_file),
        mqtt__reconnect_max_s="0.5",
        edge__data_dir=str(tmp_path / "edge"),
        log_format="console",
    )
    agent = ServiceProcess(["edge"], env, tmp_path / "edge.log").start()
    try:
        agent.wait_for_log("edge_tls_refused")
        agent.wait_for_log(reason)
        assert "edge_online" not in agent.log_text()
        broker_log = (broker.directory / "mosquitto.log").read_text()
        assert home_id not in broker_log, "no CONNECT (with the home's credentials) reached the broker"

        # The operator renews the broker's certificate and signals Mosquitto (SIGHUP, as compose's
        # renewal hook does): the gateway, still retrying, gets in without a restart.
        _install(ca.issue("renewed"), live)
        broker.reload()
        agent.wait_for_log("edge_online")
        assert home_id in (broker.directory / "mosquitto.log").read_text(), "the broker logs the client it lets in"
    finally:
        assert agent.stop() == 0
    assert HOME_PASSWORD not in agent.log_text()


@pytest.mark.parametrize(
    "url",
    ["mqtt://home-1:pw@broker.example.org:1883", "mqtt://home-1:pw@192.0.2.10", "mqtt://home-1:pw@[2001:db8::1]:1883"],
)
def test_a_password_for_a_remote_broker_over_plain_mqtt_is_refused(edge_settings: Callable[..., Settings], url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        edge_settings(mqtt_url=url)
    assert refused.value.problems[0].startswith("ELDERCARE_MQTT_URL: refusing to send a password in clear")
    assert edge_settings(mqtt_url=url, mqtt={"allow_cleartext_password": True}).mqtt_url == url  # an explicit choice


@pytest.mark.parametrize(
    "url",
    [
        "mqtts://home-1:pw@broker.example.org",
        "mqtt://broker.example.org:1883",
        "mqtt://home-1:pw@127.0.0.1",
        "mqtt://h:pw@localhost",
    ],
)
def test_tls_anonymous_and_loopback_urls_are_accepted(edge_settings: Callable[..., Settings], url: str) -> None:
    assert edge_settings(mqtt_url=url).mqtt_url == url


def test_the_edge_cli_refuses_a_cleartext_password_with_exit_2(edge_env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    env = edge_env(mqtt_url="mqtt://home-1:pw@gateway-broker.example.org:1883", edge__data_dir=str(tmp_path))
    result = run_cli(["edge"], env)
    assert result.returncode == 2
    assert "ELDERCARE_MQTT_URL: refusing to send a password in clear" in result.stderr
    assert "pw@" not in result.stderr


async def test_the_connection_boundary_refuses_cleartext_credentials_built_in_code(
    edge_settings: Callable[..., Settings],
) -> None:
    """The simulator adds each home's credentials to the settings' endpoint in code: checked at connect."""
    settings = edge_settings(mqtt_url="mqtt://192.0.2.10:1883", mqtt={"connect_timeout_s": 30})
    endpoint = settings.mqtt_endpoint.with_credentials("home-1", "pw")
    with pytest.raises(PermanentError, match=r"refusing to send a password in clear to 192\.0\.2\.10:1883"):
        async with asyncio.timeout(20), connect_edge(settings.mqtt, endpoint, client_id="c"):
            pass
    with pytest.raises(PermanentError, match="refusing to send a password in clear"):
        async with asyncio.timeout(20), connect(settings, client_id="c", endpoint=endpoint):
            pass
