"""Edge fixtures: settings without a database (the gateway never uses PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from eldercare.config import Settings, load_settings


@pytest.fixture
def home_id() -> str:
    return f"h{uuid.uuid4().hex[:10]}"


@pytest.fixture
def edge_settings(broker_url: str, topic_root: str) -> Callable[..., Settings]:
    """Settings on the shared broker and this test's topic root; ``mqtt_url=`` for a private broker."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"mqtt_url": broker_url, "log_format": "console"}
        mqtt = {"topic_root": topic_root, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0, **overrides.pop("mqtt", {})}
        values["mqtt"] = mqtt
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
def edge_env(broker_url: str, topic_root: str) -> Callable[..., dict[str, str]]:
    """ELDERCARE_* variables for an ``eldercare edge`` subprocess; no database (the gateway has none)."""

    def build(**extra: str) -> dict[str, str]:
        env = {
            "ELDERCARE_MQTT_URL": broker_url,
            "ELDERCARE_MQTT__TOPIC_ROOT": topic_root,
            "ELDERCARE_LOG_FORMAT": "json",
            "ELDERCARE_EDGE__COMMIT_ACK": "false",  # no ingest here: a message leaves the queue at its PUBACK
        }
        env.update({f"ELDERCARE_{key.upper()}": value for key, value in extra.items()})
        return env

    return build
