"""The real homes the inactivity bench replays: CASAS (one home) and Ordonez (homes A and B).

The datasets are used in place (``/work/shared/datasets``; never committed, see their READMEs).
Parsing is cached under ``$XDG_CACHE_HOME/eldercare-bench`` (keyed by the file's size and mtime),
so a sweep does not re-read 60,000 lines each time.

Mapping of CASAS (``data.txt``): PIR "ON" is motion (device = the sensor, room = its area mapped to
the platform's rooms: WorkArea is the dining table, the LoungeChair PIR is in the living room,
OutsideDoor is the entry); light switches pressed ON or OFF are motion; FrontDoor OPEN/CLOSE are
door events; PIR "OFF" repeats the ON a second later and is ignored. Local time America/Los_Angeles.
An event is "away" when its label is Leave_Home or the next one's is Enter_Home.

Mapping of Ordonez (sensor intervals): the main door is ``door_open`` at the start and
``door_close`` at the end; the bed mat is ``bed_in`` / ``bed_out``; an electric sensor is an
``appliance`` switched on at the start (appliances switch themselves off); the flush is motion at
its start; PIRs and cupboard contacts are motion at both ends (a PIR's end is the last motion it
saw); the seat mat is motion of device "Seat" when sat on and of "Seat-vacated" when left (what
follows sitting down is not what follows getting up). Local time Europe/Madrid (no clock change in either
period). An event is "away" inside a labelled ``Leaving`` interval. Labels: the ADL interval that
holds the event.
"""

from __future__ import annotations

import os
import pickle
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.inactivity import ActivityEvent

DATASETS = Path(os.environ.get("ELDERCARE_DATASETS", "/work/shared/datasets"))
CASAS_TZ = ZoneInfo("America/Los_Angeles")
ORDONEZ_TZ = ZoneInfo("Europe/Madrid")
_CASAS_ROOMS = {
    "Kitchen": "kitchen",
    "Bathroom": "bathroom",
    "Bedroom": "bedroom",
    "LivingRoom": "living_room",
    "LoungeChair": "living_room",
    "WorkArea": "dining_room",
    "OutsideDoor": "entry",
}
_ORDONEZ_ROOMS = {
    "Living": "living_room",
    "Entrance": "entry",
    "Kitchen": "kitchen",
    "Bathroom": "bathroom",
    "Bedroom": "bedroom",
}
_CACHE_VERSION = 2


@dataclass(frozen=True)
class Home:
    """One resident's recording: events in time order, one label and one away flag per event."""

    name: str
    tz: ZoneInfo
    learn_days: int
    events: list[ActivityEvent]
    labels: list[str]
    away: list[bool]

    def validation(self) -> Home:
        """The learning days alone, split again (about 60 % learn, 40 % test): what choices are
        tuned on, so that the test days stay unseen."""
        first = self.events[0].at.astimezone(self.tz).date()
        end = datetime.combine(first + timedelta(days=self.learn_days), time(0), tzinfo=self.tz)
        keep = bisect_right([e.at for e in self.events], end)
        return replace(
            self,
            name=f"{self.name} (learning days only)",
            learn_days=max(3, round(self.learn_days * 0.6)),
            events=self.events[:keep],
            labels=self.labels[:keep],
            away=self.away[:keep],
        )

    def without(self, removed: Sequence[str]) -> Home:
        """The same home with some sensors taken out: a room ("living_room"), a device ("Seat"),
        or "door" / "bed" for every door or bed event."""
        if not removed:
            return self
        gone = set(removed)

        def kept(e: ActivityEvent) -> bool:
            kind = "door" if e.kind.startswith("door") else "bed" if e.kind.startswith("bed") else None
            return not ({e.room, e.device, kind} & gone)

        keep = [i for i, e in enumerate(self.events) if kept(e)]
        suffix = "-".join(sorted(gone))
        return replace(
            self,
            name=f"{self.name} without {suffix}",
            events=[self.events[i] for i in keep],
            labels=[self.labels[i] for i in keep],
            away=[self.away[i] for i in keep],
        )


def _cached(path: Path, parse: Callable[[], Home]) -> Home:
    stat = path.stat()
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eldercare-bench"
    cache = root / f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}-v{_CACHE_VERSION}.pickle"
    if cache.is_file():
        with cache.open("rb") as f:
            home = pickle.load(f)  # noqa: S301 - our own cache file
            if isinstance(home, Home):
                return home
    home = parse()
    root.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(home, f)
    tmp.replace(cache)
    return home


def casas(folder: Path = DATASETS / "casas_smarthome") -> Home:
    path = folder / "data.txt"
    return _cached(path, lambda: _parse_casas(path))


def _parse_casas(path: Path) -> Home:
    rows: list[tuple[ActivityEvent, str]] = []
    with path.open(encoding="ascii", errors="replace") as lines:
        for line in lines:
            fields = line.split()
            if len(fields) < 5:
                continue
            try:
                at = datetime.fromisoformat(f"{fields[0]} {fields[1]}").replace(tzinfo=CASAS_TZ)
            except ValueError:
                continue
            event = _casas_event(at, fields[2], fields[3], fields[4])
            if event is not None:
                rows.append((event, fields[5] if len(fields) > 5 else ""))
    rows.sort(key=lambda r: r[0].order())
    labels = [label for _, label in rows]
    away = [labels[i] == "Leave_Home" or (i + 1 < len(labels) and labels[i + 1] == "Enter_Home") for i in range(len(labels))]
    return Home("CASAS", CASAS_TZ, 15, [e for e, _ in rows], labels, away)


def _casas_event(at: datetime, area: str, sensor: str, value: str) -> ActivityEvent | None:
    if sensor == "FrontDoor":
        kind = {"OPEN": "door_open", "CLOSE": "door_close"}.get(value)
        return ActivityEvent(at, "door_open" if kind == "door_open" else "door_close", "entry") if kind else None
    if value == "ON" or (sensor.endswith("Light") and value == "OFF"):
        device = area if (area, sensor) == ("LoungeChair", "LivingRoom") else sensor
        return ActivityEvent(at, "motion", _CASAS_ROOMS.get(area, area.lower()), device)
    return None


def ordonez(home: str, folder: Path = DATASETS / "ordonez_adl") -> Home:
    path = folder / f"Ordonez{home}_Sensors.txt"
    return _cached(path, lambda: _parse_ordonez(folder, home))


def _rows(path: Path) -> list[list[str]]:
    """Data rows of an Ordonez file: tab-separated, two header lines, blank fields dropped."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines()[2:]:
        fields = [f.strip() for f in line.split("\t") if f.strip()]
        if len(fields) >= 3:
            rows.append(fields)
    return rows


def _parse_ordonez(folder: Path, name: str) -> Home:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=ORDONEZ_TZ)

    events: list[ActivityEvent] = []
    for fields in _rows(folder / f"Ordonez{name}_Sensors.txt"):
        if len(fields) >= 5:
            events += _ordonez_events(at(fields[0]), at(fields[1]), fields[2], fields[3], fields[4])
    events.sort(key=ActivityEvent.order)
    adls = sorted((at(f[0]), at(f[1]), f[2] if len(f) > 2 else "") for f in _rows(folder / f"Ordonez{name}_ADLs.txt"))
    starts = [start for start, _, _ in adls]

    def interval(moment: datetime) -> str:
        i = bisect_right(starts, moment) - 1
        return adls[i][2] if i >= 0 and moment < adls[i][1] else ""

    labels = [interval(e.at) for e in events]
    return Home(f"Ordonez {name}", ORDONEZ_TZ, {"A": 7, "B": 10}[name], events, labels, [x == "Leaving" for x in labels])


def _ordonez_events(start: datetime, end: datetime, location: str, kind: str, place: str) -> list[ActivityEvent]:
    room = _ORDONEZ_ROOMS.get(place, place.lower())
    if location == "Maindoor":
        return [ActivityEvent(start, "door_open", "entry"), ActivityEvent(end, "door_close", "entry")]
    if location == "Bed":
        return [ActivityEvent(start, "bed_in", room, "Bed"), ActivityEvent(end, "bed_out", room, "Bed")]
    if kind == "Electric":
        return [ActivityEvent(start, "appliance", room, location)]
    if kind == "Flush":
        return [ActivityEvent(start, "motion", room, location)]
    if location == "Seat":  # sitting down and getting up are different moments: separate places
        return [ActivityEvent(start, "motion", room, "Seat"), ActivityEvent(end, "motion", room, "Seat-vacated")]
    return [ActivityEvent(start, "motion", room, location), ActivityEvent(end, "motion", room, location)]


HOMES: dict[str, Callable[[], Home]] = {
    "casas": casas,
    "ordonez-a": lambda: ordonez("A"),
    "ordonez-b": lambda: ordonez("B"),
}
