"""Incidents: what can happen in a virtual home, which alert each should raise, and the schedule.

A schedule comes from a scenario file (JSON, or YAML when PyYAML is installed) and/or from a
random rate per home per simulated day. Scenario format::

    {
      "incidents": [
        {"kind": "fall", "home": 3, "at": "+5m"},
        {"kind": "collapse", "home": 5, "at": "2026-03-02T10:00:00+08:00", "duration": "6h"},
        {"kind": "sos", "home": "sim-00007", "at": 600}
      ],
      "random": {"per_home_day": 0.05, "kinds": ["fall", "sos"]},
      "rule_settings": {"fall": {"long_lie_s": 300}}
    }

``at`` is an offset from the run's start (seconds, or "90s", "5m", "2h", "1d") or an RFC 3339
instant; ``home`` is an index (0-based) or a home id; ``duration`` defaults per kind.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eldercare.domain.rule_settings import RuleSettings
from eldercare.errors import ConfigError


class IncidentKind(StrEnum):
    FALL = "fall"
    FALL_CANCELLED = "fall_cancelled"
    SOFT_FALL = "soft_fall"
    TURNING_OVER = "turning_over"
    FALL_OUT_OF_BED = "fall_out_of_bed"
    SOFA_REST = "sofa_rest"
    LONG_LIE = "long_lie"
    SOS = "sos"
    NOT_UP = "not_up"
    COLLAPSE = "collapse"
    NIGHT_WANDERING = "night_wandering"
    BATHROOM_DWELL = "bathroom_dwell"
    DOOR_LEFT_OPEN = "door_left_open"
    COLD_HOME = "cold_home"
    BATTERY = "battery"
    GATEWAY_OFFLINE = "gateway_offline"
    NETWORK_OUTAGE = "network_outage"
    KITCHEN_FIRE = "kitchen_fire"
    GAS_LEAK = "gas_leak"
    BURST_PIPE = "burst_pipe"
    # Sits down in the living room and does not move for hours: only the presence radar sees her.
    STILL_PRESENT = "still_present"


@dataclass(frozen=True)
class Expectation:
    """Which alert kind detects an incident, which others are also true, and its default length."""

    detect: str | None  # None: nothing to detect (an outage shorter than the offline limit, a false trigger)
    also: tuple[str, ...]
    default_duration_s: float
    # No alarm is right; a fall candidate the platform closes with this outcome is what it should
    # do (None: no candidate either, or one closed any way).
    closed_as: str | None = None


EXPECT: dict[IncidentKind, Expectation] = {
    IncidentKind.FALL: Expectation("fall", (), 120),
    IncidentKind.FALL_CANCELLED: Expectation(None, (), 120, closed_as="cancelled_by_resident"),
    IncidentKind.SOFT_FALL: Expectation("fall", ("inactivity", "still_present"), 300),
    IncidentKind.TURNING_OVER: Expectation(None, (), 120, closed_as="rolled_over_in_bed"),
    IncidentKind.FALL_OUT_OF_BED: Expectation("fall", ("inactivity", "bed_exit"), 300),
    IncidentKind.SOFA_REST: Expectation(None, (), 1200),
    IncidentKind.LONG_LIE: Expectation("long_lie", ("fall", "inactivity", "bed_exit", "still_present", "missed_meal"), 1800),
    IncidentKind.SOS: Expectation("sos", (), 0),
    IncidentKind.NOT_UP: Expectation("not_up", ("inactivity", "missed_meal"), 4 * 3600),
    # In the radar's room the radar sees her lying there: detected as still_present (simulator.script).
    IncidentKind.COLLAPSE: Expectation(
        "inactivity", ("bed_exit", "not_up", "long_absence", "still_present", "missed_meal"), 6 * 3600
    ),
    IncidentKind.NIGHT_WANDERING: Expectation("night_wandering", ("door_left_open",), 3600),
    IncidentKind.BATHROOM_DWELL: Expectation("bathroom_dwell", ("inactivity", "bed_exit"), 3600),
    IncidentKind.DOOR_LEFT_OPEN: Expectation("door_left_open", (), 1800),
    IncidentKind.COLD_HOME: Expectation("cold_home", (), 3 * 3600),
    IncidentKind.BATTERY: Expectation("low_battery", (), 3600),
    IncidentKind.GATEWAY_OFFLINE: Expectation("gateway_offline", ("device_offline",), 1200),
    IncidentKind.NETWORK_OUTAGE: Expectation(None, ("gateway_offline", "device_offline"), 240),
    # The kit's alarms: raised at once whoever is home; the alarm stops at the end, staff resolve.
    IncidentKind.KITCHEN_FIRE: Expectation("smoke", (), 600),
    IncidentKind.GAS_LEAK: Expectation("gas", (), 900),
    IncidentKind.BURST_PIPE: Expectation("water_leak", (), 3600),
    IncidentKind.STILL_PRESENT: Expectation("still_present", ("inactivity", "not_up", "missed_meal"), 5 * 3600),
}
#: Incidents that take the resident away from the routine (the routine resumes when they end).
PERSON_INCIDENTS = frozenset(
    {
        IncidentKind.FALL,
        IncidentKind.FALL_CANCELLED,
        IncidentKind.SOFT_FALL,
        IncidentKind.TURNING_OVER,
        IncidentKind.FALL_OUT_OF_BED,
        IncidentKind.SOFA_REST,
        IncidentKind.LONG_LIE,
        IncidentKind.NOT_UP,
        IncidentKind.COLLAPSE,
        IncidentKind.NIGHT_WANDERING,
        IncidentKind.BATHROOM_DWELL,
        IncidentKind.STILL_PRESENT,
    }
)
#: Incidents that need the home's connection to pass through the simulator's cuttable relay.
NETWORK_INCIDENTS = frozenset({IncidentKind.GATEWAY_OFFLINE, IncidentKind.NETWORK_OUTAGE})


@dataclass(frozen=True, order=True)
class Incident:
    start: datetime
    home_index: int
    kind: IncidentKind = field(compare=False)
    duration_s: float = field(compare=False)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: IncidentKind
    home: int | str
    at: float | str
    duration: float | str | None = None


class _Random(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_home_day: float = Field(ge=0, le=100)
    kinds: list[IncidentKind] = Field(default_factory=lambda: list(IncidentKind))


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incidents: list[_Entry] = Field(default_factory=list)
    random: _Random | None = None
    rule_settings: dict[str, Any] = Field(default_factory=dict, description="written to every simulated resident")

    @field_validator("rule_settings")
    @classmethod
    def _valid_rules(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The engine would fall back to the defaults on a typo; the scenario must fail instead.
        RuleSettings.model_validate(value)
        return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: float | str) -> float:
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text.lstrip("+"))
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use seconds, or 90s, 5m, 2h, 1d)")
    return float(match[1]) * _UNIT_S[match[2]]


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; ConfigError naming every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"scenario file {path}: {exc.strerror}"]) from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError([f"scenario file {path}: YAML needs PyYAML (pip install pyyaml), or use JSON"]) from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError([f"scenario file {path}: {exc.msg} at line {exc.lineno}"]) from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"scenario {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from None


def _home_index(home: int | str, home_ids: list[str]) -> int:
    if isinstance(home, int):
        if not 0 <= home < len(home_ids):
            raise ValueError(f"home index {home} is outside 0..{len(home_ids) - 1}")
        return home
    if home not in home_ids:
        raise ValueError(f"home {home!r} is not one of the simulated homes")
    return home_ids.index(home)


def _instant(at: float | str, start: datetime) -> datetime:
    if isinstance(at, str) and not at.lstrip().startswith("+") and "T" in at:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(f"instant {at!r} needs a UTC offset")
        return moment
    return start + timedelta(seconds=parse_duration(at))


def schedule(scenario: Scenario, *, home_ids: list[str], start: datetime, horizon_s: float, seed: int) -> list[Incident]:
    """Every incident of the run, in time order: the listed ones, then the random ones up to ``horizon_s``."""
    problems: list[str] = []
    found: list[Incident] = []
    for i, entry in enumerate(scenario.incidents):
        try:
            duration = parse_duration(entry.duration) if entry.duration is not None else EXPECT[entry.kind].default_duration_s
            found.append(Incident(_instant(entry.at, start), _home_index(entry.home, home_ids), entry.kind, duration))
        except ValueError as exc:
            problems.append(f"scenario incidents.{i}: {exc}")
    if problems:
        raise ConfigError(problems)
    if scenario.random is not None and scenario.random.per_home_day > 0:
        found.extend(_random_incidents(scenario.random, len(home_ids), start, horizon_s, seed))
    return sorted(found)


def _random_incidents(spec: _Random, homes: int, start: datetime, horizon_s: float, seed: int) -> list[Incident]:
    rng = random.Random(f"{seed}:incidents")
    expected = spec.per_home_day * homes * horizon_s / 86_400
    found: list[Incident] = []
    at = 0.0
    while expected > 0:
        at += rng.expovariate(expected / horizon_s)
        if at >= horizon_s:
            break
        kind = rng.choice(spec.kinds)
        found.append(Incident(start + timedelta(seconds=at), rng.randrange(homes), kind, EXPECT[kind].default_duration_s))
    return found
