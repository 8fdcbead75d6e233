"""The knobs of learning and the learned model (stored as JSON in ``routine_models.model``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.inactivity.events import require_aware
from alerts.inactivity.tracker import Context, Night, TrackerSettings

MODEL_VERSION = 3


@dataclass(frozen=True)
class InactivitySettings:
    """Knobs of learning; every duration in seconds, every time of day in seconds after local
    midnight. The rule's thresholds are learned; these bound and calibrate the learning."""

    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    min_history_days: int = 7
    # Until min_history_days exist: fixed limits, longer at night.
    default_threshold_s: int = 3 * 3600
    default_night_threshold_s: int = 10 * 3600
    night_start_s: int = 22 * 3600
    night_end_s: int = 8 * 3600
    # Once the usual get-up time is learned, the night is this long before it.
    night_length_s: int = 11 * 3600
    # No learned limit goes below floor_s or above ceiling_s. The floor actually used is learned,
    # one by day and one at night: the smallest of floor_choices_s (at least floor_s) that the
    # resident's own history allows.
    floor_s: int = 600
    ceiling_s: int = 12 * 3600
    floor_choices_s: tuple[int, ...] = (600, 900, 1200, 1800, 2700, 3600)
    # A context's limit is its longest silence x (1 + uncertainty / days seen), used only when seen
    # on at least min_days distinct days; both are calibrated per resident (see calibration.py).
    uncertainty_choices: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    min_days_choices: tuple[int, ...] = (3, 5, 8)
    # Calibration target: false alarms per day that leave-one-day-out may show on the history.
    false_alarms_per_day: float = 0.05
    default_absence_threshold_s: int = 12 * 3600
    absence_floor_choices_s: tuple[int, ...] = (1800, 3600, 2 * 3600, 4 * 3600, 6 * 3600, 8 * 3600)
    absence_ceiling_s: int = 30 * 86_400
    # Up = motion in wake_min_areas rooms within the tracker's wake window (capped at the number of
    # rooms the home has, minus one, so small homes can still be "up").
    wake_min_areas: int = 4
    wake_quantile: float = 0.9
    not_up_margin_s: int = 3600
    # A day type (weekday / weekend) gets its own usual wake-up time once seen on this many days.
    min_daytype_days: int = 4

    def __post_init__(self) -> None:
        if not 0.0 <= self.wake_quantile <= 1.0:
            raise ValueError("wake_quantile must be within [0, 1]")
        if not self.floor_choices_s or not self.uncertainty_choices or not self.min_days_choices:
            raise ValueError("calibration needs at least one choice of each")
        if self.floor_s > self.ceiling_s:
            raise ValueError("floor_s must not exceed ceiling_s")


@dataclass(frozen=True)
class Limit:
    """One context's learned limit: the longest silence seen there, on how many days, and the alarm
    threshold derived from them (before the floor and ceiling)."""

    key: str
    usual_max_s: int
    days: int
    threshold_s: int


@dataclass(frozen=True)
class Coverage:
    """What the rule can and cannot see in this home, said on the resident's page."""

    level: str  # "good", "slow" (welfare checks are slow here) or "untrained"
    rooms: tuple[str, ...]
    has_door: bool
    has_bed: bool
    # Learned limits over the history's own silences, one weight per 10-minute bin: what a
    # collapse right after an ordinary moment of the day or night would wait for.
    day_median_s: int | None
    day_p90_s: int | None
    night_median_s: int | None
    notes_en: tuple[str, ...]
    notes_zh: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("rooms", "notes_en", "notes_zh"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Coverage:
        fields = dict(data)
        for name in ("rooms", "notes_en", "notes_zh"):
            fields[name] = tuple(fields[name])
        return cls(**fields)


@dataclass(frozen=True)
class Calibration:
    """What the per-resident calibration chose, and what leave-one-day-out showed with it."""

    uncertainty: float
    min_days: int
    floors_s: tuple[int, ...]  # (day, night)
    depth: int  # how many of a context's keys are used (broadest first): the deepest is the day type
    loo_false_alarms: int
    days: int
    clock_uncertainty: float  # the uncertainty of the clock's levels (band, hour, day type)
    place_levels: int  # levels before the clock's


@dataclass(frozen=True)
class RoutineModel:
    """What was learned from one resident's history; store it with :meth:`to_dict`."""

    tz: str
    learned_at: datetime
    days_of_history: int
    trusted: bool
    tracker: TrackerSettings
    home: Calibration | None  # None until trusted
    out: Calibration | None
    limits: Mapping[str, Limit]
    ceiling_s: int
    default_threshold_s: int
    default_night_threshold_s: int
    night_start_s: int  # the resident's night (learned once trusted; the defaults' night before)
    night_end_s: int
    default_absence_threshold_s: int
    absence_ceiling_s: int
    usual_wake_s: Mapping[str, int]  # "weekday" / "weekend" -> seconds after midnight
    not_up_margin_s: int
    wake_min_areas: int
    has_bed: bool
    has_door: bool
    night_bed_return_s: int | None  # longest night out of bed before going back (None: never seen)
    night_bed_exits: int
    coverage: Coverage
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_aware(self.learned_at, "learned_at")
        object.__setattr__(self, "zone", ZoneInfo(self.tz))

    def limit(self, context: Context) -> Limit | None:
        """The tightest learned limit among the context's keys, broadest to narrowest."""
        calibration = self.out if context.group == "out" else self.home
        if calibration is None:
            return None
        best: Limit | None = None
        for key in context.keys(self.night)[: calibration.depth]:
            found = self.limits.get(key)
            if found is not None and (best is None or found.threshold_s < best.threshold_s):
                best = found
        return best

    @property
    def night(self) -> Night:
        # Until a get-up time is learned, mornings do not wait for the resident to be up.
        return Night(self.night_start_s, self.night_end_s, self.wake_min_areas if self.usual_wake_s else 0)

    def floor_s(self, context: Context) -> int:
        calibration = self.out if context.group == "out" else self.home
        return calibration.floors_s[context.period(self.night)] if calibration else 0

    def not_up_after_s(self, weekend: bool) -> int | None:
        usual = self.usual_wake_s.get("weekend" if weekend else "weekday")
        return None if usual is None else usual + self.not_up_margin_s

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "zone"}
        data["version"] = MODEL_VERSION
        data["learned_at"] = self.learned_at.isoformat()
        data["tracker"] = asdict(self.tracker)
        data["home"] = asdict(self.home) if self.home else None
        data["out"] = asdict(self.out) if self.out else None
        data["limits"] = {k: [v.usual_max_s, v.days, v.threshold_s] for k, v in self.limits.items()}
        data["usual_wake_s"] = dict(self.usual_wake_s)
        data["coverage"] = self.coverage.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutineModel:
        if data.get("version") != MODEL_VERSION:
            raise ValueError(f"unsupported routine model version: {data.get('version')!r}")
        fields = {k: v for k, v in data.items() if k != "version"}
        fields["learned_at"] = datetime.fromisoformat(data["learned_at"])
        fields["tracker"] = TrackerSettings(**{**data["tracker"], "entry_areas": tuple(data["tracker"]["entry_areas"])})
        fields["home"] = _calibration(data["home"])
        fields["out"] = _calibration(data["out"])
        fields["limits"] = {k: Limit(k, int(u), int(d), int(t)) for k, (u, d, t) in data["limits"].items()}
        fields["usual_wake_s"] = {k: int(v) for k, v in data["usual_wake_s"].items()}
        fields["coverage"] = Coverage.from_dict(data["coverage"])
        return cls(**fields)


def _calibration(data: Mapping[str, Any] | None) -> Calibration | None:
    if not data:
        return None
    return Calibration(**{**data, "floors_s": tuple(int(f) for f in data["floors_s"])})
