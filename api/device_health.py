"""Whether a device is silent, as the API shows it: the alert engine's rule (eldercare.domain.liveness),
on the ``devices`` row, with the home's resident's ``devices.offline_after_s`` as the floor, as the
engine reads it (alerts.context: a home's first resident's settings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eldercare.domain.liveness import Heard
from eldercare.domain.rule_settings import lenient

# The columns of a device row the rule reads (``d`` is devices); ``rule_settings`` is its home's first resident's.
COLUMNS = (
    "d.kind, d.last_seen_at, d.usual_gap_s, d.gaps_learned, d.first_seen_at, d.availability, d.availability_at,"
    " (SELECT r.rule_settings FROM residents r WHERE r.home_id = d.home_id ORDER BY r.id LIMIT 1) AS rule_settings"
)


def silence_limit_s(row: dict[str, Any]) -> float:
    """How long this device may be silent before it is called silent (the engine: offline)."""
    return _heard(row).silence_limit_s(_floor_s(row))


def silent(row: dict[str, Any], now: datetime) -> bool:
    return _heard(row).offline(now, _floor_s(row))


def _heard(row: dict[str, Any]) -> Heard:
    return Heard(
        row["kind"],
        row["last_seen_at"],
        row["usual_gap_s"],
        row["gaps_learned"],
        row["first_seen_at"],
        row["availability"],
        row["availability_at"],
    )


def _floor_s(row: dict[str, Any]) -> float:
    rules, _ = lenient(row["rule_settings"])
    return float(rules.devices.offline_after_s)
