"""Every alert kind is declared once, in the kernel's catalogue, and named in both languages
everywhere it is shown: notification titles, the API and the dashboard (which holds no names)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from alerts.notify.messages import build_payload
from eldercare.domain.alerts.catalogue import (
    KINDS,
    OUTCOME_NAMES,
    SEVERITIES,
    SEVERITY_NAMES,
    STAFF_OUTCOMES,
    STATUS_NAMES,
    STATUSES,
    Names,
    as_document,
    severity_rank,
    worst,
)
from simulator.incidents import EXPECT

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u3400-\u9fff]")


def _both(names: Names) -> bool:
    return bool(names.en.strip()) and not CJK.search(names.en) and bool(CJK.search(names.zh))


def test_every_kind_severity_status_and_outcome_is_named_in_both_languages() -> None:
    assert all(_both(k.names) for k in KINDS.values())
    assert set(SEVERITY_NAMES) == set(SEVERITIES)
    assert all(_both(n) for n in SEVERITY_NAMES.values())
    assert set(STATUS_NAMES) == set(STATUSES)
    assert all(_both(n) for n in STATUS_NAMES.values())
    assert set(STAFF_OUTCOMES) < set(OUTCOME_NAMES)
    assert all(_both(n) for n in OUTCOME_NAMES.values())
    document = as_document()
    assert [k["key"] for k in document["kinds"]] == list(KINDS)
    assert all(entry["en"] and CJK.search(entry["zh"]) for group in document.values() for entry in group)


@pytest.mark.parametrize(("en", "zh"), [("Fall", ""), ("", "跌倒"), ("Fall", "Fall"), ("跌倒", "跌倒")])
def test_a_name_missing_a_language_is_refused(en: str, zh: str) -> None:
    with pytest.raises(ValueError, match="name"):
        Names(en, zh)


def test_the_severity_order_is_the_declared_one() -> None:
    assert [severity_rank(s) for s in ("low", "medium", "high", "critical")] == [0, 1, 2, 3]
    assert worst("medium", "critical") == worst("critical", "medium") == "critical"
    with pytest.raises(ValueError):
        severity_rank("urgent")


def _raised_in_source() -> set[str]:
    """Kinds the rules name in their source: finding("kind", ...) and result["kind"] = ..."""
    kinds: set[str] = set()
    for path in (ROOT / "alerts").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        kinds |= set(re.findall(r'\bfinding\(\s*"([a-z_]+)"', text))
        kinds |= set(re.findall(r'\bresult\["([a-z_]+)"\]', text))
    return kinds


def test_every_kind_the_rules_or_the_simulator_name_is_declared() -> None:
    raised = _raised_in_source()
    assert {"fall", "sos", "gateway_offline", "no_motion_sensor"} <= raised  # the scan does see the rules
    assert raised <= set(KINDS)
    expected = {e.detect for e in EXPECT.values() if e.detect} | {k for e in EXPECT.values() for k in e.also}
    assert expected <= set(KINDS)


@pytest.mark.parametrize("kind", list(KINDS))
def test_notifications_name_every_kind_in_both_languages(kind: str) -> None:
    alert = {
        "id": 1, "home_id": "home-1", "resident_id": None, "care_centre_id": 1, "kind": kind, "severity": KINDS[kind].severity,
        "explanation_en": "x", "explanation_zh": "x", "opened_at": datetime(2026, 5, 1, tzinfo=UTC),
    }  # fmt: skip
    payload = build_payload(alert, "opened", 0)
    assert KINDS[kind].names.en in payload["title_en"]
    assert KINDS[kind].names.zh in payload["title_zh"]


def test_the_dashboard_declares_no_alert_names() -> None:
    """Its labels come from GET /api/v1/alert-catalogue: a copy here is how `k_gateway_offline` once showed."""
    folder = ROOT / "api" / "static"
    static = "".join(path.read_text(encoding="utf-8") for path in [*sorted(folder.glob("*.js")), folder / "index.html"])
    assert "incident.js" in (ROOT / "api" / "static" / "index.html").read_text(encoding="utf-8")
    keys = "|".join([*KINDS, *SEVERITIES, *OUTCOME_NAMES])
    assert re.findall(rf"\b[kso]_(?:{keys})\b", static) == []
    assert [k.names.zh for k in KINDS.values() if k.names.zh in static] == []
    assert [n.zh for n in OUTCOME_NAMES.values() if n.zh in static] == []
    assert "SEVERITY_RANK" not in static


def _check_values(conn: psycopg.Connection, table: str, column: str) -> set[str]:
    row = conn.execute(
        "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c"
        " WHERE c.conrelid = %s::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE %s",
        (table, f"%({column} = %"),
    ).fetchone()
    assert row is not None, f"no CHECK on {table}.{column}"
    return set(re.findall(r"'([a-z_]+)'::text", row[0]))


def test_the_schema_checks_the_catalogue_values(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        assert _check_values(conn, "alerts", "severity") == set(SEVERITIES)
        assert _check_values(conn, "alerts", "status") == set(STATUSES)
        assert _check_values(conn, "notification_channels", "min_severity") == set(SEVERITIES)
