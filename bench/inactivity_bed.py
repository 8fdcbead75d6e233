"""What a bed pressure sensor adds to the inactivity rule, on the two Ordonez homes.

    python -m bench.inactivity_bed --dataset ../shared/datasets/ordonez_adl

The Ordonez recordings (Ordonez, de Toledo, Sanchis, Sensors 13:5460-5477, 2013; local use only,
never committed) have what CASAS lacks: a bed pressure mat, next to PIRs, door contacts, a seat
mat, appliance and flush sensors. Each home is replayed through the same machinery as
``bench/inactivity.py`` (the real ``alerts.inactivity`` functions, relearnt at every midnight,
false alarms on the real days, collapses injected every ``--collapse-every-min`` by cutting off
every later event) twice in the same run:

- **bed as sign of life**: getting into and out of bed are activity in the bedroom, which is
  what the engine reads (``alerts/snapshot.py``: bed *events*, i.e. changes of state);
- **bed ignored**: the engine before it read bed events.

Tried and not shipped: an "in bed" context (from getting into bed until getting out, a door or
motion in another room), so that silence out of bed at night is judged against the short
silences of being up rather than the long ones of sleep. On these homes it added one false alarm
episode per home (A 6 against 5, B 5 against 4: a quiet half hour in the bedroom after getting
up in the morning) and changed no median latency (A 259 against 260 min, B 156 against 163);
neither test period has more than one night-time bed exit, which is where it could help. Worth
measuring again on data with night-time bed exits.

Mapping: every sensor interval is activity at its start and at its end (a PIR's end is the last
motion it saw; a seat mat's end is getting up), in the interval's room; the main door's interval
is ``door_open`` then ``door_close``; the flush counts at its start. Collapses during a labelled
``Leaving`` interval are left out (nobody is home). Times are the homes' local clock (the zone
used has no clock change in either period).

These homes are sparse (home A: about 29 sensor intervals a day), so absolute latencies are long
whatever the rule; the comparison is what this bench is for.
"""

from __future__ import annotations

import argparse
import sys
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from alerts.inactivity import ActivityEvent, InactivitySettings
from bench.inactivity import TZ, Replay, Split, collapse_points, measure, print_row, print_table_head, routine_learner

HOMES = {"A": 7, "B": 10}  # home -> learning days (the rest is the test)
_ROOMS = {"Living": "living_room", "Entrance": "entry"}


@dataclass(frozen=True)
class Home:
    with_bed: list[ActivityEvent]  # bed changes as bedroom activity
    without_bed: list[ActivityEvent]
    away: list[tuple[datetime, datetime]]


def _rows(path: Path) -> list[list[str]]:
    """Data rows of an Ordonez file: tab-separated, two header lines, blank fields dropped."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines()[2:]:
        fields = [f.strip() for f in line.split("\t") if f.strip()]
        if len(fields) >= 3:
            rows.append(fields)
    return rows


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def load(folder: Path, home: str) -> Home:
    with_bed: list[ActivityEvent] = []
    without_bed: list[ActivityEvent] = []
    for fields in _rows(folder / f"Ordonez{home}_Sensors.txt"):
        if len(fields) < 5:
            continue
        start, end, location, kind, place = _at(fields[0]), _at(fields[1]), fields[2], fields[3], fields[4]
        room = _ROOMS.get(place, place.lower())
        if location == "Maindoor":
            pair = [ActivityEvent(start, "door_open", "entry"), ActivityEvent(end, "door_close", "entry")]
            with_bed += pair
            without_bed += pair
            continue
        moves = [ActivityEvent(start, "motion", room)] + ([] if kind == "Flush" else [ActivityEvent(end, "motion", room)])
        with_bed += moves
        if location != "Bed":
            without_bed += moves
    away = [(_at(f[0]), _at(f[1])) for f in _rows(folder / f"Ordonez{home}_ADLs.txt") if f[2] == "Leaving"]

    def ordered(events: list[ActivityEvent]) -> list[ActivityEvent]:
        return sorted(events, key=lambda e: (e.at, e.kind, e.area or ""))

    return Home(ordered(with_bed), ordered(without_bed), away)


def _replay(events: list[ActivityEvent], home: Home, learn_days: int, args: argparse.Namespace) -> Replay:
    """The test period and collapse points, the same for both variants (taken from every event)."""
    everything = home.with_bed
    first = everything[0].at.replace(hour=0, minute=0, second=0, microsecond=0)
    test_start = first + timedelta(days=learn_days)
    test_end = everything[-1].at
    split = Split(test_start, test_end, relearn_daily=True)
    points = collapse_points(split, timedelta(minutes=args.collapse_every_min))
    starts = [a for a, _ in home.away]

    def away(moment: datetime) -> bool:
        i = bisect_right(starts, moment) - 1
        return i >= 0 and moment < home.away[i][1]

    return Replay(
        events=events,
        split=split,
        tick=timedelta(seconds=args.tick_s),
        horizon=timedelta(hours=args.horizon_h),
        home=[p for p in points if not away(p)],
        away=[p for p in points if away(p)],
        days=(test_end - test_start) / timedelta(days=1),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True, help="folder holding OrdonezA_Sensors.txt and the rest")
    parser.add_argument("--tick-s", type=int, default=60)
    parser.add_argument("--collapse-every-min", type=int, default=20)
    parser.add_argument("--horizon-h", type=float, default=16.0)
    args = parser.parse_args(argv)
    if not (args.dataset / "OrdonezA_Sensors.txt").is_file():
        print(f"dataset not found, skipping ({args.dataset})")
        return 0
    learner = routine_learner(InactivitySettings())
    for name, learn_days in HOMES.items():
        home = load(args.dataset, name)
        replays = {"bed as sign of life": _replay(home.with_bed, home, learn_days, args)}
        replays["bed ignored"] = _replay(home.without_bed, home, learn_days, args)
        sample = replays["bed as sign of life"]
        print(
            f"\nhome {name}: {len(home.with_bed)} events, learn {learn_days} d, test {sample.days:.1f} d; "
            f"{len(sample.home)} collapses at home every {args.collapse_every_min} min, horizon {args.horizon_h:g} h"
        )
        print_table_head()
        medians = {}
        for label, replay in replays.items():
            episodes, latencies = measure(replay, learner, replay.home)
            print_row(f"learned routine, {label}", replay, episodes, latencies, verdict=False)
            ordered = sorted(latencies)
            medians[label] = ordered[len(ordered) // 2]
        ratio = medians["bed as sign of life"] / medians["bed ignored"]
        print(f"  median latency, bed as sign of life / bed ignored: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
