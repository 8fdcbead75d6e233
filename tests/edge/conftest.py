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
