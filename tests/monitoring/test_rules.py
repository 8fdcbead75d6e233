"""The platform's alert rules and starter dashboard: valid for promtool, unit-tested with promtool, and
every metric they name exported by the real services, as a real Prometheus scraping them sees it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.processes import ServiceProcess
from tests.support.prometheus import LocalPrometheus
from tests.support.services import free_port

ROOT = Path(__file__).parents[2]
RULES = ROOT / "docker" / "prometheus" / "rules" / "eldercare.yml"
RULES_TEST = Path(__file__).parent / "rules_test.yml"
DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "eldercare.json"
_METRIC = re.compile(r"\b(?:ingest|eldercare|db_policy)_[a-z0-9_]+\b")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, check=False)


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def _metric_names(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in _METRIC.findall(expr)}


def test_rules_and_config_are_valid_for_promtool() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = _promtool("check", "config", str(ROOT / "docker" / "prometheus" / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_rule_fires_in_its_promtool_unit_test() -> None:
    result = _promtool("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert fired == {rule["alert"] for rule in _rules()}


@pytest.fixture
def services(env_for: Callable[..., dict[str, str]], tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    """The real ingest and alert engine, each with its metrics endpoint on a free port."""
    ingest_port, alerts_port = free_port(), free_port()
    ingest_env = env_for(ingest__metrics_port=str(ingest_port), ingest__policy_check_interval_s="0.5")
    ingest = ServiceProcess(["ingest"], ingest_env, tmp_path / "ingest.log")
    alerts = ServiceProcess(
        ["alerts"],
        env_for(
            alerts__metrics_port=str(alerts_port), alerts__platform_check_interval_s="0.5", alerts__evaluation_interval_s="1"
        ),
        tmp_path / "alerts.log",
    )
    try:
        ingest.start()
        alerts.start()
        ingest.wait_for_log('"ingest_ready"', 60)
        alerts.wait_for_log('"periodic_pass"', 60)
        yield {"eldercare-ingest": [f"127.0.0.1:{ingest_port}"], "eldercare-alerts": [f"127.0.0.1:{alerts_port}"]}
    finally:
        for process in (ingest, alerts):
            assert process.stop() == 0


@pytest.mark.e2e
def test_a_real_prometheus_finds_every_metric_the_rules_and_dashboard_use(services: dict[str, list[str]], tmp_path: Path) -> None:
    prometheus = LocalPrometheus(tmp_path / "prometheus", services, [RULES]).start()
    try:
        _wait_until(lambda: _all_up(prometheus) and _all_evaluated(prometheus), "both targets up and every rule evaluated")
        for group in prometheus.api("rules")["groups"]:
            for rule in group["rules"]:
                assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
        exported = set(prometheus.api("metadata"))
        needed = _metric_names([rule["expr"] for rule in _rules()] + _dashboard_exprs())
        missing = {name for name in needed if not {name, _family(name)} & exported}
        assert not missing, f"named in rules or dashboard but exported by no service: {sorted(missing)}"
        for expr in _dashboard_exprs():
            prometheus.api("query", query=expr)  # asserts status success: the expression is valid PromQL
    finally:
        prometheus.stop()


def _family(name: str) -> str:
    """The metric family a sample name belongs to (OpenMetrics metadata names families without suffixes)."""
    return re.sub(r"_(total|bucket|count|sum)$", "", name)


def _all_up(prometheus: LocalPrometheus) -> bool:
    results = prometheus.api("query", query='up{job=~"eldercare-.*"}')["result"]
    return len(results) == 2 and all(result["value"][1] == "1" for result in results)


def _all_evaluated(prometheus: LocalPrometheus) -> bool:
    rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
    return len(rules) == len(_rules()) and all(rule["lastEvaluation"] > "2000" for rule in rules)


def _wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout_s} s")
        time.sleep(0.2)


def test_compose_monitoring_profile_wires_the_shipped_files() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == ["monitoring"]
    assert grafana["profiles"] == ["monitoring"]
    assert "./docker/prometheus/rules:/etc/prometheus/rules:ro" in prometheus["volumes"]
    assert "./docker/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    for service in (prometheus, grafana):
        assert all(port.startswith("127.0.0.1:") for port in service["ports"]), "monitoring is not published"
    scraped = yaml.safe_load((ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    ports = {job["job_name"]: job["dns_sd_configs"][0]["port"] for job in scraped}
    env = {name: services[name]["environment"] for name in ("ingest", "alerts")}
    assert ports == {"eldercare-ingest": 9101, "eldercare-alerts": 9102}
    assert env["ingest"]["ELDERCARE_INGEST__METRICS_HOST"] == env["alerts"]["ELDERCARE_ALERTS__METRICS_HOST"] == "0.0.0.0"
    assert env["alerts"]["ELDERCARE_ALERTS__HEARTBEAT_URL"].startswith("${HEARTBEAT_URL:?"), "the dead-man's switch is required"
