"""What the inactivity rule reads: sensor events, and the resident's local clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

# motion: anything that shows a person in a room (a PIR, a presence sensor, a cupboard contact);
# door_open / door_close: the home's outer door; bed_in / bed_out: a bed mat got occupied /
# vacated; appliance: a plug saw an appliance switched on (a kettle, a microwave).
EventKind = Literal["motion", "door_open", "door_close", "bed_in", "bed_out", "appliance"]
EVENT_KINDS: frozenset[str] = frozenset({"motion", "door_open", "door_close", "bed_in", "bed_out", "appliance"})
DOOR_KINDS: frozenset[str] = frozenset({"door_open", "door_close"})
BED_KINDS: frozenset[str] = frozenset({"bed_in", "bed_out"})
Absence = tuple[datetime, datetime]  # a calendar absence (hospital, holiday): [start, end)

DAY_S = 86_400
UNKNOWN_AREA = "unknown"


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """One sensor event. ``area`` is a room ("bedroom", "kitchen", "entry"); ``device`` tells two
    sensors of one room apart (the PIR over the armchair and the one by the window)."""

    at: datetime
    kind: EventKind
    area: str | None = None
    device: str | None = None

    @property
    def room(self) -> str:
        return self.area if self.area is not None else UNKNOWN_AREA

    @property
    def place(self) -> str:
        """Where the event happened, as precisely as the data says: "living_room/armchair"."""
        if self.kind == "appliance":
            return f"{self.room}/appliance:{self.device or '?'}"
        return f"{self.room}/{self.device}" if self.device else self.room

    def order(self) -> tuple[datetime, str, str, str]:
        """A total order, so equal timestamps fold the same way whatever the input order."""
        return self.at, self.kind, self.area or "", self.device or ""


def require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def seconds_of_day(moment: datetime, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    return local.hour * 3600 + local.minute * 60 + local.second


def is_weekend(moment: datetime, zone: ZoneInfo) -> bool:
    return moment.astimezone(zone).weekday() >= 5


def in_window(sod: int, start_s: int, end_s: int) -> bool:
    """Whether a time of day lies in [start, end), a window that may wrap past midnight."""
    return start_s <= sod < end_s if start_s <= end_s else sod >= start_s or sod < end_s


def in_calendar_absence(moment: datetime, absences: Sequence[Absence]) -> bool:
    return any(start <= moment < end for start, end in absences)


def silence_start(last: datetime, now: datetime, absences: Sequence[Absence]) -> datetime:
    """Silence is counted from the last event or from the end of a calendar absence after it."""
    ends = [end for _, end in absences if last < end <= now]
    return max([last, *ends])
