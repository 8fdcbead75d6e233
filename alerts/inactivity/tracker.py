"""The state of a home after a stream of events: folded one event at a time.

Learning folds the whole history and the engine folds the last day or so; both go through
:class:`Tracker`, so the context an alarm is judged in is the context thresholds were learned in.

What the tracker knows after each event:

- **presence**: a door event means the resident may have gone out. The home counts as occupied
  again only on *evidence of a return*: an event outside the entry within ``return_after_door_s``
  of a door event (in, and walking through the home; the entry's own PIR fires as one leaves), or
  ``return_events`` events in at least ``return_areas`` distinct rooms within ``return_window_s``
  (a return through a back door without a contact, or with a door contact that missed it). A
  sensor that fires once while nobody is in, like a closet PIR at 19:37 with the resident out
  since 19:22, is neither. While out, silence is counted from the last door event and judged
  against the resident's own absences. Measured on the bench's homes: on CASAS no event labelled
  away ever counted as a return, and every real return did within 0.7 min of its door event; the
  Ordonez figures are in ``bench/inactivity.py``.
- **bed**: in or out of bed, from the bed mat (``bed_in`` / ``bed_out``); motion in another room
  while "in bed" means the mat missed getting up. No bed event ever: unknown.
- **up this morning**: for each morning's search window, the first moment the resident moved
  around ``k`` distinct rooms within ``wake_window_s``, for every ``k``, so the not-up check needs no
  second pass over the morning's events.
- the **context** of the silence that follows the last event: who (in bed / up / home), where (the
  place of the last event), when (the resident's night or day, a band of the clock, weekday or
  weekend).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from alerts.inactivity.events import BED_KINDS, DOOR_KINDS, ActivityEvent, in_window, is_weekend, seconds_of_day

Group = Literal["home", "in_bed", "up", "out"]
ROOT = "*"
PERIODS = ("day", "night")
MAX_WAKE_AREAS = 6


@dataclass(frozen=True)
class TrackerSettings:
    """How the state is read from events; every duration in seconds, times of day in seconds after
    local midnight. Stored with the learned model, so evaluation reads events as learning did."""

    return_events: int = 3
    return_areas: int = 2
    return_window_s: int = 600
    # ... or one event outside the entry this soon after the door (back in and walking through).
    return_after_door_s: int = 300
    # Silence after motion in these rooms may be an absence the door contact missed; motion there
    # right after the door is the same person leaving (the PIR by the door), not a return.
    entry_areas: tuple[str, ...] = ("entry",)
    band_s: int = 3 * 3600
    wake_search_start_s: int = 4 * 3600
    wake_search_end_s: int = 13 * 3600
    wake_window_s: int = 1800

    def __post_init__(self) -> None:
        if self.return_events < 1 or self.return_areas < 1 or self.return_window_s <= 0:
            raise ValueError("the return evidence needs at least one event in one room within a positive window")
        if self.band_s <= 0 or 86_400 % self.band_s:
            raise ValueError("band_s must divide a day")
        if not 0 <= self.wake_search_start_s < self.wake_search_end_s <= 86_400:
            raise ValueError("the wake search window must lie within one day")


@dataclass(frozen=True)
class Night:
    """The resident's night: a window of the local clock, and how many rooms moving around in the
    morning means up (then places count again, even within the window)."""

    start_s: int
    end_s: int
    up_rooms: int


@dataclass(frozen=True)
class Context:
    """The silence after the last event, as the thresholds are keyed."""

    group: Group
    since: datetime  # where the silence is counted from: the last event, or the last door event when out
    last: ActivityEvent
    place: str
    sod: int  # seconds after local midnight of `since`
    band: int
    weekend: bool
    bed_since: datetime | None  # when the resident got into / out of bed (None: no bed sensor)
    morning: bool = False  # within the morning's search window for getting up
    up_rooms: int = 0  # this morning so far: the most rooms moved around within the wake window

    def period(self, night: Night) -> int:
        """1 within the resident's night, else 0: a learned window of the clock, which a morning
        extends until the resident is up (moved around ``night.up_rooms`` rooms)."""
        return int(in_window(self.sod, night.start_s, night.end_s) or self.before_up(night))

    def before_up(self, night: Night) -> bool:
        return self.morning and self.up_rooms < night.up_rooms

    def up(self, night: Night) -> bool:
        return self.morning and self.up_rooms >= night.up_rooms

    def keys(self, night: Night) -> list[str]:
        """The context from broadest to narrowest ("*" is everything at home): who and day or
        night, the place, the band of the clock, the hour of the clock, and last the day type
        (weekday / weekend) within the band."""
        daytype = "weekend" if self.weekend else "weekday"
        band = str(self.band)
        if self.group == "out":
            chain = [("out",), ("out", band), ("out", band, daytype)]
        elif self.group == "home" and self.period(night) and not self.up(night):
            # No bed sensor: at night any silence may be sleep, wherever the last event was (a walk
            # back to bed that the bedroom sensor missed). Until the resident is up in the morning
            # (moved around enough rooms), the night is judged as one, and by the not-up check.
            chain = [(ROOT,), ("home", "night")]
        else:
            place = "bed" if self.group == "in_bed" else self.place
            who = (self.group, PERIODS[self.period(night)])
            hour = f"h{self.sod // 3600}"
            chain = [(ROOT,), who, (*who, place), (*who, place, band), (*who, place, hour), (*who, place, band, daytype)]
        return ["|".join(parts) for parts in chain]


class Tracker:
    """Fold events in time order with :meth:`push`; read :attr:`context` and the morning state."""

    __slots__ = (
        "_morning",
        "_recent",
        "bed",
        "bed_area",
        "bed_since",
        "cfg",
        "last",
        "out_since",
        "reached",
        "search_day",
        "zone",
    )

    def __init__(self, zone: ZoneInfo, cfg: TrackerSettings) -> None:
        self.zone = zone
        self.cfg = cfg
        self.last: ActivityEvent | None = None
        self.out_since: datetime | None = None  # None: at home
        self._recent: deque[ActivityEvent] = deque()  # events since going out, within the return window
        self.bed: Literal["in", "out"] | None = None
        self.bed_area: str | None = None
        self.bed_since: datetime | None = None
        # Morning: the local date of the current search window, its motion within the wake window,
        # and reached[k-1] = the start of the first window with motion in k distinct rooms.
        self.search_day: int | None = None
        self._morning: deque[ActivityEvent] = deque()
        self.reached: list[datetime | None] = [None] * MAX_WAKE_AREAS

    @property
    def out(self) -> bool:
        return self.out_since is not None

    def push(self, event: ActivityEvent) -> None:
        if self.last is not None and event.at < self.last.at:
            raise ValueError("events must be pushed in time order")
        self.last = event
        if event.kind in DOOR_KINDS:
            self.out_since = event.at
            self._recent.clear()
        else:
            if self.out_since is not None:
                self._note_possible_return(event)
            self._note_bed(event)
        self._note_morning(event)

    def seen_home(self) -> None:
        """Something besides the folded events says the resident is in (a presence radar sees her): not out."""
        self.out_since = None
        self._recent.clear()

    def _note_possible_return(self, event: ActivityEvent) -> None:
        assert self.out_since is not None
        soon = (event.at - self.out_since).total_seconds() <= self.cfg.return_after_door_s
        if soon and event.room not in self.cfg.entry_areas:
            self.out_since = None  # in and walking through the home right after the door
            self._recent.clear()
            return
        recent = self._recent
        recent.append(event)
        horizon = event.at - timedelta(seconds=self.cfg.return_window_s)
        while recent[0].at < horizon:
            recent.popleft()
        if len(recent) >= self.cfg.return_events and len({e.room for e in recent}) >= self.cfg.return_areas:
            self.out_since = None
            recent.clear()

    def _note_bed(self, event: ActivityEvent) -> None:
        if event.kind in BED_KINDS:
            self.bed = "in" if event.kind == "bed_in" else "out"
            self.bed_area, self.bed_since = event.room, event.at
        elif self.bed == "in" and event.room != self.bed_area:
            self.bed, self.bed_since = "out", event.at  # up, and the mat did not say so

    def _note_morning(self, event: ActivityEvent) -> None:
        cfg = self.cfg
        sod = seconds_of_day(event.at, self.zone)
        if not cfg.wake_search_start_s <= sod < cfg.wake_search_end_s:
            return
        day = event.at.astimezone(self.zone).toordinal()
        if day != self.search_day:
            self.search_day = day
            self._morning.clear()
            self.reached = [None] * MAX_WAKE_AREAS
        if event.kind in DOOR_KINDS:
            return  # moving around the home is what "up" means; the door alone is not
        morning = self._morning
        morning.append(event)
        horizon = event.at - timedelta(seconds=cfg.wake_window_s)
        while morning[0].at < horizon:
            morning.popleft()
        rooms = len({e.room for e in morning})
        for k in range(min(rooms, MAX_WAKE_AREAS)):
            if self.reached[k] is None:
                self.reached[k] = morning[0].at

    def up_at(self, min_areas: int, day: int) -> datetime | None:
        """When the resident was first up on local day ``day`` (an ordinal), if so far they were."""
        if self.search_day != day:
            return None
        return self.reached[min(min_areas, MAX_WAKE_AREAS) - 1]

    @property
    def context(self) -> Context:
        last = self.last
        if last is None:
            raise ValueError("no event folded yet")
        since = self.out_since if self.out_since is not None else last.at
        group: Group
        if self.out_since is not None:
            group = "out"
        elif self.bed is None:
            group = "home"
        else:
            group = "in_bed" if self.bed == "in" else "up"
        sod = seconds_of_day(since, self.zone)
        # Up this morning: counted within the morning's search window only (in the evening the
        # night begins again, whatever the morning was).
        morning = self.cfg.wake_search_start_s <= sod < self.cfg.wake_search_end_s
        today = since.astimezone(self.zone).toordinal()
        up_rooms = sum(r is not None for r in self.reached) if morning and self.search_day == today else 0
        weekend = is_weekend(since, self.zone)
        band = sod // self.cfg.band_s
        return Context(group, since, last, last.place, sod, band, weekend, self.bed_since, morning, up_rooms)


def fold(events: list[ActivityEvent], zone: ZoneInfo, cfg: TrackerSettings) -> Tracker:
    tracker = Tracker(zone, cfg)
    for event in events:
        tracker.push(event)
    return tracker
