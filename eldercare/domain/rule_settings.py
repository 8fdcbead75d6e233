"""Per-resident rule parameters (``residents.rule_settings``): the one model of them.

The API validates what staff send against it (a 422 names the wrong field) and the alert engine
reads stored settings through it, so both see exactly the same groups, keys, bounds and defaults.
A new alert kind adds its group here.

Every key is optional; a missing key takes the default below. Unknown keys are refused. The engine
evaluates a resident whose stored JSON does not validate (written before this model, or by hand)
with the defaults (see ``lenient``), because a typo in a setting must never silence alerts.

Keys (durations in seconds, times of day "HH:MM" in the home's timezone)::

    {
      "fall":            {"enabled": true, "long_lie_s": 600, "cancel_window_s": 30,
                          "alarm_confidence": 0.5, "soft_confirm_s": 120},
      "sos":             {"enabled": true},
      "inactivity":      {"enabled": true, "min_history_days": 7, "default_threshold_s": 10800,
                          "default_night_threshold_s": 36000, "floor_s": 600, "ceiling_s": 43200,
                          "learn_days": 28},
      "night_wandering": {"enabled": true, "night_start": "22:00", "night_end": "06:00",
                          "return_within_s": 900},
      "bathroom":        {"enabled": true, "room": "bathroom", "max_dwell_s": 2700},
      "door_open":       {"enabled": true, "max_open_s": 900},
      "cold":            {"enabled": true, "below_c": 16.0, "hold_s": 1800, "clear_margin_c": 1.0},
      "battery":         {"enabled": true, "below_pct": 20.0, "clear_above_pct": 30.0},
      "devices":         {"enabled": true, "offline_after_s": 7200, "gateway_offline_after_s": 300},
      "meals":           {"enabled": true, "margin_s": 5400}
    }
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from eldercare.contracts.payloads import Room

_HH_MM = re.compile(r"\d{2}:\d{2}(:\d{2})?")


def _time_of_day(value: Any) -> Any:
    """ "HH:MM" (or "HH:MM:SS") only: pydantic alone reads a number as seconds after midnight."""
    if isinstance(value, time):
        return value
    if isinstance(value, str) and _HH_MM.fullmatch(value):
        return time.fromisoformat(value)
    raise ValueError('expected a time of day as "HH:MM"')


def _room(value: Any) -> Any:
    if isinstance(value, Room):
        return value
    if isinstance(value, str) and value in Room._value2member_map_:
        return Room(value)
    raise ValueError(f"expected one of {', '.join(room.value for room in Room)}")


# Strict like JSON (below): 1 is no boolean, false no number, "600" no integer.
TimeOfDay = Annotated[
    time,
    BeforeValidator(_time_of_day),
    WithJsonSchema({"type": "string", "pattern": f"^{_HH_MM.pattern}$", "examples": ["22:00"]}),
]
RoomName = Annotated[Room, BeforeValidator(_room)]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    enabled: bool = True


class FallRule(_Group):
    # Lying still this long after a fall (no motion anywhere) opens a critical long-lie alert.
    long_lie_s: int = Field(default=600, ge=30, le=86_400)
    # After a fall candidate, the resident may press "I'm OK" this long before anyone is called
    # (0: a hard candidate is raised at once). alerts/falls.py says what happens in the window.
    cancel_window_s: int = Field(default=30, ge=0, le=600)
    # A candidate below this confidence (a soft fall: upright to lying without a hard impact) is
    # never an alarm alone: it is raised only when nothing in the home moves for soft_confirm_s.
    alarm_confidence: float = Field(default=0.5, ge=0, le=1)
    soft_confirm_s: int = Field(default=120, ge=30, le=3600)


class SosRule(_Group):
    pass


class InactivityRule(_Group):
    min_history_days: int = Field(default=7, ge=1, le=365)
    default_threshold_s: int = Field(default=3 * 3600, ge=600, le=86_400)
    default_night_threshold_s: int = Field(default=10 * 3600, ge=600, le=86_400)
    # The learned floor (alerts.inactivity.calibration) never goes below this: no alarm sooner.
    floor_s: int = Field(default=600, ge=300, le=86_400)
    ceiling_s: int = Field(default=12 * 3600, ge=600, le=172_800)
    learn_days: int = Field(default=28, ge=1, le=365)

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> InactivityRule:
        if self.floor_s > self.ceiling_s:
            raise ValueError("floor_s must not exceed ceiling_s")
        return self


class NightWanderingRule(_Group):
    night_start: TimeOfDay = time(22, 0)
    night_end: TimeOfDay = time(6, 0)
    # The front door opened at night and nobody moved inside within this time: "went out at night".
    return_within_s: int = Field(default=900, ge=60, le=43_200)


class BathroomRule(_Group):
    # A room the contract knows (any other could never match a device's room).
    room: RoomName = Room.BATHROOM
    max_dwell_s: int = Field(default=45 * 60, ge=300, le=86_400)


class DoorOpenRule(_Group):
    max_open_s: int = Field(default=15 * 60, ge=60, le=86_400)


class ColdRule(_Group):
    below_c: float = Field(default=16.0, ge=-20, le=30)
    # Every reading over this window must be below the limit (one cold draught is not a cold home).
    hold_s: int = Field(default=1800, ge=60, le=86_400)
    # Cleared only when every reading over the window is this much above the limit (hysteresis).
    clear_margin_c: float = Field(default=1.0, ge=0, le=10)


class BatteryRule(_Group):
    below_pct: float = Field(default=20.0, ge=1, le=90)
    clear_above_pct: float = Field(default=30.0, ge=1, le=100)

    @model_validator(mode="after")
    def _band(self) -> BatteryRule:
        if self.clear_above_pct < self.below_pct:
            raise ValueError("clear_above_pct must be at least below_pct")
        return self


class DevicesRule(_Group):
    # The shortest silence (readings, events or the gateway's heartbeat) for which a device may be
    # called offline; beyond it, each device is judged by its own reporting rhythm or zigbee2mqtt's
    # availability (eldercare.domain.liveness). An offline motion sensor also pauses the welfare rules.
    offline_after_s: int = Field(default=2 * 3600, ge=60, le=7 * 86_400)
    gateway_offline_after_s: int = Field(default=300, ge=0, le=86_400)


class MealsRule(_Group):
    # A meal is missed this long after the resident's usual time for it (alerts.meals).
    margin_s: int = Field(default=90 * 60, ge=1800, le=6 * 3600)


class RuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    fall: FallRule = FallRule()
    sos: SosRule = SosRule()
    inactivity: InactivityRule = InactivityRule()
    night_wandering: NightWanderingRule = NightWanderingRule()
    bathroom: BathroomRule = BathroomRule()
    door_open: DoorOpenRule = DoorOpenRule()
    cold: ColdRule = ColdRule()
    battery: BatteryRule = BatteryRule()
    devices: DevicesRule = DevicesRule()
    meals: MealsRule = MealsRule()


DEFAULT_RULES = RuleSettings()


def lenient(raw: Any) -> tuple[RuleSettings, list[str]]:
    """The settings in ``raw`` and no problem, or the defaults and the dotted keys that are wrong."""
    if not raw:
        return DEFAULT_RULES, []
    try:
        return RuleSettings.model_validate(raw), []
    except ValidationError as exc:
        return DEFAULT_RULES, sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
