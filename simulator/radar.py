"""The mmWave presence radar some simulated homes have, behaving as a real one does.

A care programme installs a radar (a Tuya ZY-M100 style, mains powered) in the room where the
resident sits, the living room, in about half the homes, and in every home a scenario gives the
incident only a radar sees (``still_present``). The radar reports presence when a person enters
its room and while she stays, moving or not, and reports it ended once she is elsewhere: here,
when a PIR sees her in another room. Like any mains device it also reports by itself, at least
hourly (simulator.reporting's mains rhythm). It never says more than presence: its motion is the
room's PIR's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from eldercare.contracts.payloads import Room
from simulator.incidents import Incident, IncidentKind
from simulator.routine import home_rng

RADAR: Final = "radar-living"
RADAR_ROOM: Final = Room.LIVING_ROOM
RADAR_SHARE: Final = 0.5


def has_radar(seed: int, home_index: int, incidents: Iterable[Incident]) -> bool:
    """Whether this home's kit has the radar (the same for a given seed and home)."""
    if any(incident.kind is IncidentKind.STILL_PRESENT for incident in incidents):
        return True
    return home_rng(seed, home_index, None, "radar").random() < RADAR_SHARE


@dataclass
class Radar:
    room: Room
    present: bool = False

    def seen(self, room: Room, on: bool) -> bool | None:
        """The radar's change of presence when a PIR in ``room`` sees the resident (None: no change)."""
        if not on:
            return None  # a PIR clearing says nothing about where she is
        present = room == self.room
        if present == self.present:
            return None
        self.present = present
        return present
