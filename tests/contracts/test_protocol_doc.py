"""docs/protocol.md is generated from the models; this fails when the two drift apart."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.rules import HomeSnapshot, evaluate_home
from edge.agent import AgentConfig
from edge.intake import Tuning
from eldercare.config import EdgeSettings, Settings
from eldercare.contracts.docs import render
from eldercare.contracts.docs_platform import EDGE_TUNING, TRIGGERS, default, duration
from eldercare.contracts.payloads import GatewayConfig, Metric, ReadingBatch
from eldercare.domain.alerts.catalogue import KINDS
from eldercare.domain.rule_settings import DEFAULT_RULES

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"


def test_protocol_doc_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: eldercare contracts docs --write docs/protocol.md"


def test_protocol_doc_is_complete() -> None:
    text = render()
    for needle in ("last will", "pattern read eldercare/v1/%u/config", "dead-letter", "### `readings`", "### `config`"):
        assert needle in text
    for metric in Metric:
        assert f"`{metric.value}`" in text
    assert '"title": "ReadingBatch"' in text
    assert ReadingBatch.__doc__ is not None


# --------------------------------------------------------------------------- documented values = behaviour


def test_every_alert_kind_is_documented_with_its_catalogue_severity() -> None:
    text = render()
    assert set(TRIGGERS) == set(KINDS), "every alert kind needs a trigger in eldercare/contracts/docs_platform.py"
    for key, kind in KINDS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"| {kind.severity} |" in row
        assert kind.names.en in row
        assert kind.names.zh in row


def test_a_clean_shutdown_raises_gateway_offline_after_the_documented_delay() -> None:
    after_s = DEFAULT_RULES.devices.gateway_offline_after_s
    assert f"`offline` (a clean shutdown or its last will) for {duration(after_s)}" in render()
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def offline_for(seconds: float) -> HomeSnapshot:
        return HomeSnapshot("h1", ZoneInfo("UTC"), gateway_state="offline", gateway_state_at=now - timedelta(seconds=seconds))

    assert evaluate_home(offline_for(after_s - 1), DEFAULT_RULES, now)["gateway_offline"] is None
    found = evaluate_home(offline_for(after_s), DEFAULT_RULES, now)["gateway_offline"]
    assert found is not None
    assert found.severity == KINDS["gateway_offline"].severity


def test_what_a_gateway_uses_before_its_first_config_is_the_config_default() -> None:
    """The doc says our agent's settings default to the config's defaults: so they must."""
    assert EDGE_TUNING == ("batch_max_readings", "batch_max_delay_s", "heartbeat_interval_s")
    agent = {f.name: f.default for f in fields(AgentConfig)}
    for name in EDGE_TUNING:
        assert default(EdgeSettings, name) == default(GatewayConfig, name) == agent[name], name
    assert Tuning(1, 1.0, 1.0).fall_detection_enabled is default(GatewayConfig, "fall_detection_enabled")


def test_the_documented_timings_are_the_settings_defaults() -> None:
    text = render()
    settings = Settings()
    assert f"our agent uses {settings.mqtt.keepalive_s} s" in text
    assert f"our agent asks for {duration(settings.mqtt.session_expiry_s)}" in text
    assert f"(every\n  {settings.alerts.evaluation_interval_s:g} s)" in text
    assert f"(default\n  {duration(settings.edge.heartbeat_interval_s)})" in text
    assert f"stored for\n  {duration(settings.alerts.platform_stale_after_s)}" in text
