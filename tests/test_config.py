"""Settings: one prefix, fixed names for the two URLs, every problem reported at once."""

from __future__ import annotations

import json

import pytest

from eldercare.config import DEFAULT_DATABASE_URL, DEFAULT_MQTT_URL, load_settings, parse_mqtt_url
from eldercare.errors import ConfigError
from tests.support.processes import run_cli


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL == "postgresql://postgres@127.0.0.1:5432/eldercare"
    assert settings.mqtt_url == DEFAULT_MQTT_URL == "mqtt://127.0.0.1:1883"


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "user", "password"),
    [
        ("mqtt://127.0.0.1:1883", "127.0.0.1", 1883, False, None, None),
        ("mqtts://broker.example", "broker.example", 8883, True, None, None),
        ("mqtt://home-1:p%40ss@h:1884", "h", 1884, False, "home-1", "p@ss"),
    ],
)
def test_mqtt_url(url: str, host: str, port: int, tls: bool, user: str | None, password: str | None) -> None:
    endpoint = parse_mqtt_url(url)
    assert (endpoint.host, endpoint.port, endpoint.tls, endpoint.username, endpoint.password) == (host, port, tls, user, password)


@pytest.mark.parametrize("url", ["http://h:1883", "mqtt://", "mqtt://h:99999", "mqtt://h/path", "h:1883"])
def test_bad_mqtt_url(url: str) -> None:
    with pytest.raises(ValueError):
        parse_mqtt_url(url)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(mqtt_url="http://x", database_url="mysql://x/y", ingest={"batch_size": 0}, log_level="loud")
    text = "\n".join(info.value.problems)
    for name in ("ELDERCARE_MQTT_URL", "ELDERCARE_DATABASE_URL", "ELDERCARE_INGEST__BATCH_SIZE", "ELDERCARE_LOG_LEVEL"):
        assert name in text


def test_placeholder_jwt_secret_refused() -> None:
    with pytest.raises(ConfigError, match="ELDERCARE_API__JWT_SECRET"):
        load_settings(api={"jwt_secret": "change-me"})


def test_cli_check_exits_2_listing_all_problems() -> None:
    result = run_cli(["config", "check"], {"ELDERCARE_MQTT_URL": "ftp://x", "ELDERCARE_INGEST__FLUSH_INTERVAL_S": "-1"})
    assert result.returncode == 2
    assert "ELDERCARE_MQTT_URL" in result.stderr
    assert "ELDERCARE_INGEST__FLUSH_INTERVAL_S" in result.stderr


def test_cli_unknown_variable_is_a_problem() -> None:
    result = run_cli(["config", "check"], {"ELDERCARE_INGEST__BATCHSIZE": "5"})
    assert result.returncode == 2
    assert "ELDERCARE_INGEST__BATCHSIZE" in result.stderr


def test_cli_show_hides_secrets() -> None:
    result = run_cli(
        ["config", "show"],
        {"ELDERCARE_MQTT_URL": "mqtts://home-1:topsecret@h:8883", "ELDERCARE_DATABASE_URL": "postgresql://u:hunter2@h/db"},
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert "topsecret" not in result.stdout
    assert "hunter2" not in result.stdout
    assert shown["mqtt_url"] == "mqtts://home-1:***@h:8883"
    assert shown["ingest"]["batch_size"] > 0


def test_configuration_reference_matches_settings() -> None:
    from pathlib import Path

    from eldercare.config_docs import render

    doc = Path(__file__).parents[1] / "docs" / "configuration.md"
    assert doc.read_text(encoding="utf-8") == render(), "run: eldercare config docs --write docs/configuration.md"


def test_every_setting_says_what_it_does() -> None:
    from eldercare.config_docs import render

    rows = [line for line in render().splitlines() if line.startswith("| `ELDERCARE_")]
    undescribed = [row.split("`")[1] for row in rows if row.rstrip().endswith("|  |")]
    assert len(rows) > 100
    assert undescribed == [], "give these a Field(description=...) in eldercare/config.py"
