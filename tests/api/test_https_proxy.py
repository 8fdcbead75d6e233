"""Browsers reach the console and API through Caddy (the shipped Caddyfile, Debian's caddy, Caddy's local
CA): HTTPS with HSTS, HTTP redirected, and the API believing X-Forwarded-For from that proxy only, so
login throttling sees each real client.

Distinct clients are distinct loopback source addresses (127.0.0.2, 127.0.0.3): Linux routes all of
127/8 to the loopback interface, so Caddy sees each as its own peer, as it would see two homes.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from playwright.sync_api import Browser, expect, sync_playwright

from eldercare.config import load_settings
from eldercare.errors import ConfigError
from tests.api.conftest import NOW, PASSWORD, SECRET, World, insert_alert, wait_until_serving
from tests.api.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, _log_in
from tests.support.caddy import SHIPPED, LocalCaddy
from tests.support.processes import ServiceProcess
from tests.support.services import free_port

PER_MINUTE = 2  # a client address may fail three times as often in a minute before it waits


@pytest.fixture
def browser_for() -> Iterator[Callable[[LocalCaddy], Browser]]:
    """Chromium that trusts one Caddy's local CA (by its intermediate's public key) and nothing more."""
    with sync_playwright() as playwright:
        launched: list[Browser] = []

        def launch(caddy: LocalCaddy) -> Browser:
            spki = f"--ignore-certificate-errors-spki-list={caddy.intermediate_spki_sha256()}"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, spki], headless=True)
            launched.append(browser)
            return browser

        try:
            yield launch
        finally:
            for browser in launched:
                browser.close()


@dataclass
class Proxied:
    caddy: LocalCaddy
    api_url: str  # the API itself, bypassing the proxy

    def client(self, source: str, **kwargs: Any) -> httpx.Client:
        """An HTTPS client of the proxy whose connections come from ``source`` (a loopback address)."""
        transport = httpx.HTTPTransport(local_address=source, verify=self.caddy.ssl_context())
        return httpx.Client(base_url=self.caddy.url, transport=transport, timeout=30, **kwargs)


@pytest.fixture
def proxied(env_for: Callable[..., dict[str, str]], world: World, tmp_path: Path) -> Iterator[Proxied]:
    port = free_port()
    env = env_for(
        api__jwt_secret=SECRET,
        api__port=str(port),
        api__stream_poll_interval_s="0.25",
        api__login_address_failures_per_minute=str(3 * PER_MINUTE),  # the spraying limit per address
        api__forwarded_allow_ips="127.0.0.1",  # where Caddy connects from, and nobody else
        db__pool_max_size="4",
        clock__start=NOW.isoformat(),
    )
    api = ServiceProcess(["api"], env, tmp_path / "api.log").start()
    caddy = LocalCaddy(tmp_path / "caddy", upstream=f"127.0.0.1:{port}")
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", api)
        caddy.start()
        yield Proxied(caddy, f"http://127.0.0.1:{port}")
    finally:
        caddy.stop()
        assert api.stop() == 0


def _log_in_as(client: httpx.Client, username: str, password: str, *, spoofed: str = "203.0.113.9") -> int:
    response = client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}, headers={"X-Forwarded-For": spoofed}
    )
    return response.status_code


def _attempt_addresses(db_url: str) -> set[str]:
    with psycopg.connect(db_url) as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT client_ip FROM login_attempts")}


def test_login_throttling_sees_each_real_client_behind_the_proxy(proxied: Proxied, db_url: str) -> None:
    with proxied.client("127.0.0.2") as sprayer, proxied.client("127.0.0.3") as colleague:
        codes = [_log_in_as(sprayer, f"guess{n}", "wrong password") for n in range(3 * PER_MINUTE + 1)]
        assert codes[:-1] == [401] * (3 * PER_MINUTE)
        assert codes[-1] == 429, "the spraying client is held back"
        # Another client behind the same proxy is not: it is its own address, not the proxy's.
        assert _log_in_as(colleague, "staff_a", PASSWORD) == 200
    # Each attempt was recorded under the address Caddy received it from; never under the proxy's
    # own address, and never under the address a client wrote into X-Forwarded-For itself.
    assert _attempt_addresses(db_url) == {"127.0.0.2", "127.0.0.3"}


def test_the_api_ignores_forwarded_addresses_from_anyone_but_the_proxy(proxied: Proxied, db_url: str) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.4")
    with httpx.Client(base_url=proxied.api_url, transport=transport, timeout=30) as direct:
        assert _log_in_as(direct, "staff_a", "wrong password", spoofed="127.0.0.9") == 401
    assert _attempt_addresses(db_url) == {"127.0.0.4"}


def test_https_with_hsts_and_http_redirected(proxied: Proxied) -> None:
    with proxied.client("127.0.0.2") as client:
        response = client.get("/")
        assert response.status_code == 200
        assert response.http_version in {"HTTP/1.1", "HTTP/2"}
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert "server" not in response.headers
    plain = httpx.get(f"http://localhost:{proxied.caddy.http_port}/", follow_redirects=False, timeout=30)
    assert plain.status_code == 308
    assert plain.headers["location"].startswith("https://")


@pytest.mark.browser
def test_console_over_https_with_live_alerts(
    browser_for: Callable[[LocalCaddy], Browser], proxied: Proxied, world: World, db_url: str
) -> None:
    browser = browser_for(proxied.caddy)
    page = browser.new_context(locale="en-GB").new_page()
    first = page.goto(proxied.caddy.url + "/")
    assert first is not None
    assert first.headers["strict-transport-security"].startswith("max-age=")
    _log_in(page, proxied.caddy.url, "staff_a")
    assert page.evaluate("window.isSecureContext && location.protocol") == "https:"
    open_queue = page.get_by_test_id("open-queue")
    expect(open_queue.locator(f'[data-alert-id="{world.alert_x}"]')).to_be_visible(timeout=WAIT_MS)
    # The live stream (server-sent events) comes through the proxy unbuffered.
    with psycopg.connect(db_url) as conn:
        new = insert_alert(
            conn,
            home="home-a1",
            resident=world.resident_y,
            centre=world.centre_a,
            kind="inactivity",
            severity="medium",
            opened=NOW,
        )
    expect(open_queue.locator(f'[data-alert-id="{new}"]')).to_be_visible(timeout=WAIT_MS)


def test_the_shipped_caddyfile_is_valid_as_compose_runs_it() -> None:
    env = {"ELDERCARE_DOMAIN": "care.example.org", "ACME_EMAIL": "ops@example.org", "PATH": "/usr/bin:/bin"}
    command = ["caddy", "adapt", "--config", str(SHIPPED), "--adapter", "caddyfile"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert '"care.example.org"' in result.stdout


def test_compose_puts_the_api_behind_the_proxy_only() -> None:
    compose = yaml.safe_load((SHIPPED.parents[2] / "docker-compose.yml").read_text())
    services = compose["services"]
    proxy, api = services["proxy"], services["api"]
    assert "ports" not in api, "the API is reached through the proxy only"
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    proxy_address = proxy["networks"]["web"]["ipv4_address"]
    assert api["environment"]["ELDERCARE_API__FORWARDED_ALLOW_IPS"] == proxy_address
    assert re.fullmatch(r"caddy:\d+\.\d+\.\d+(-alpine)?", proxy["image"]), "pin the proxy image"
    assert any(volume.endswith(":/etc/caddy/Caddyfile:ro") for volume in proxy["volumes"])


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("*", "'*' would let every client name its own address; list the proxy's addresses"),
        ("172.30.0.1O", "'172.30.0.1O' is not an IP address or network"),
    ],
)
def test_a_proxy_address_that_would_trust_anyone_or_nobody_is_refused(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(api={"forwarded_allow_ips": value})
    assert refused.value.problems == [f"ELDERCARE_API__FORWARDED_ALLOW_IPS: Value error, {problem}"]
    assert (
        load_settings(api={"forwarded_allow_ips": " 172.30.0.10, 10.0.0.0/8"}).api.forwarded_allow_ips == "172.30.0.10,10.0.0.0/8"
    )
