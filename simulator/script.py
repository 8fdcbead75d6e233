"""What each incident does in the home, as timed actions the home driver plays.

While a *person* incident lasts (fall, long lie, not up, collapse, night wandering, bathroom
dwell) the resident's routine is suppressed and only the script plays; afterwards the routine
resumes. Ground truth records when the incident really began (for a fall: the impact).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from eldercare.contracts.payloads import Room
from simulator.incidents import PERSON_INCIDENTS, Incident, IncidentKind
from simulator.routine import Bed, Door, Emission, Motion, Wear
from simulator.signals import (
    SisFallLibrary,
    fall_from_bed,
    lie_down_to_rest,
    restless_turn,
    soft_fall,
    synthetic_fall,
)

PERSON = PERSON_INCIDENTS
COLD_C = 12.5
LOW_BATTERY_PCT = 12.0


@dataclass(frozen=True, slots=True)
class FallWear:
    samples: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Sos:
    # "single" is also the wearer's "I'm OK" in a fall's cancel window; "double" and "long" ask for help.
    press: Literal["single", "double", "long"] = "single"


@dataclass(frozen=True, slots=True)
class Temperature:
    celsius: float


@dataclass(frozen=True, slots=True)
class Battery:
    device: str
    pct: float | None  # None: a fresh battery (the override ends)


@dataclass(frozen=True, slots=True)
class Cut:
    pass


@dataclass(frozen=True, slots=True)
class Restore:
    pass


@dataclass(frozen=True, slots=True)
class Alarm:
    """A home-safety alarm of the kit starts or stops sounding."""

    device: str
    hazard: str
    detected: bool


Action = FallWear | Sos | Temperature | Battery | Cut | Restore | Alarm


@dataclass(frozen=True, slots=True)
class Scripted:
    """An incident's own emission or action: never suppressed by the incident's window."""

    item: Action | Emission


@dataclass
class Played:
    truth_start: datetime
    actions: list[tuple[datetime, Scripted]] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)

    def add(self, at: datetime, item: Action | Emission) -> None:
        self.actions.append((at, Scripted(item)))


@dataclass(frozen=True)
class Context:
    room: Room
    rate_hz: float
    rng: random.Random
    np_rng: np.random.Generator
    sisfall: SisFallLibrary | None
    battery_devices: tuple[str, ...]
    zone: ZoneInfo
    # The room of the home's presence radar (simulator.radar); None: the home has none.
    radar_room: Room | None = None


def build(incident: Incident, at: datetime, ctx: Context) -> Played:
    end = at + timedelta(seconds=incident.duration_s)
    builder = _BUILDERS[incident.kind]
    return builder(incident, at, end, ctx)


def _minutes(played: Played, start: datetime, end: datetime, activity: str) -> None:
    minute = start + timedelta(seconds=60)
    while minute < end:
        played.add(minute, Wear("lying" if activity == "lying" else "sitting", 60.0))
        minute += timedelta(seconds=60)


def _fall(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    if ctx.sisfall is not None:
        samples = ctx.sisfall.fall(ctx.rate_hz, ctx.rng)
        impact_s = float(np.argmax(np.linalg.norm(samples, axis=1))) / ctx.rate_hz
        source = "sisfall"
    else:
        samples, impact_s = synthetic_fall(ctx.rate_hz, ctx.np_rng)
        source = "synthetic"
    played = Played(at + timedelta(seconds=impact_s), details={"room": ctx.room.value, "signal": source})
    pushed = _stream(played, at, samples, ctx)
    _minutes(played, pushed, end, "lying")
    if incident.kind is IncidentKind.FALL:  # gets up by themselves
        played.add(end, Motion(ctx.room, True))
    return played


def _stream(played: Played, at: datetime, samples: npt.NDArray[np.float64], ctx: Context, after_s: float = 20.0) -> datetime:
    """The wearable streams one-second chunks, each sent when its last sample was taken (the agent
    dates the impact from the samples), and goes on streaming the still body for ``after_s``, as a
    real wearable does. Returns when the last chunk was sent."""
    still = np.tile(samples[-1], (round(after_s * ctx.rate_hz), 1))
    samples = np.vstack([samples, still + ctx.np_rng.normal(0.0, 0.01, still.shape)])
    step = max(1, round(ctx.rate_hz))
    for offset in range(0, len(samples), step):
        chunk = samples[offset : offset + step]
        played.add(at + timedelta(seconds=(offset + len(chunk)) / ctx.rate_hz), FallWear(chunk))
    return at + timedelta(seconds=len(samples) / ctx.rate_hz)


def _fall_cancelled(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """A false trigger (a hard landing in a chair, a dropped wearable): the resident presses
    "I'm OK" 10 s after it and walks on."""
    samples, impact_s = synthetic_fall(ctx.rate_hz, ctx.np_rng)
    impact = at + timedelta(seconds=impact_s)
    played = Played(impact, details={"room": ctx.room.value, "signal": "synthetic"})
    _stream(played, at, samples, ctx, after_s=8.0)
    played.add(impact + timedelta(seconds=10), Sos("single"))
    played.add(impact + timedelta(seconds=20), Motion(ctx.room, True))
    _minutes(played, impact + timedelta(seconds=20), end, "sitting")
    return played


def _soft_fall(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """A faint from a chair in the living room, then lying still until the incident ends."""
    samples, impact_s = soft_fall(ctx.rate_hz, ctx.np_rng)
    played = Played(at + timedelta(seconds=impact_s), details={"room": Room.LIVING_ROOM.value, "signal": "synthetic"})
    played.add(at, Motion(Room.LIVING_ROOM, True))
    _minutes(played, _stream(played, at, samples, ctx), end, "lying")
    played.add(end, Motion(Room.LIVING_ROOM, True))
    return played


def _turning_over(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """In bed (the mat says so): turning over, then sitting up and dropping back onto the mattress."""
    samples, drop_s = restless_turn(ctx.rate_hz, ctx.np_rng)
    played = Played(at + timedelta(seconds=10 + drop_s), details={"room": Room.BEDROOM.value, "signal": "synthetic"})
    played.add(at, Bed(True))
    _minutes(played, _stream(played, at + timedelta(seconds=10), samples, ctx), end, "lying")
    return played


def _fall_out_of_bed(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """In bed at night: sits up on the edge, falls to the floor (the mat empties as they go) and
    lies there, nothing moving anywhere else, until the incident ends."""
    samples, impact_s = fall_from_bed(ctx.rate_hz, ctx.np_rng)
    start = at + timedelta(seconds=10)
    impact = start + timedelta(seconds=impact_s)
    played = Played(impact, details={"room": Room.BEDROOM.value, "signal": "synthetic"})
    played.add(at, Bed(True))
    played.add(impact - timedelta(seconds=0.3), Bed(False))
    _minutes(played, _stream(played, start, samples, ctx), end, "lying")
    played.add(end, Motion(Room.BEDROOM, True))
    return played


def _sofa_rest(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """Lying down to rest on the sofa; shifting now and then (the living room's PIR sees it)."""
    samples, lying_s = lie_down_to_rest(ctx.rate_hz, ctx.np_rng)
    played = Played(at + timedelta(seconds=lying_s), details={"room": Room.LIVING_ROOM.value, "signal": "synthetic"})
    played.add(at, Motion(Room.LIVING_ROOM, True))
    pushed = _stream(played, at, samples, ctx)
    _minutes(played, pushed, end, "lying")
    shift = pushed + timedelta(seconds=240)
    while shift < end:
        played.add(shift, Motion(Room.LIVING_ROOM, True))
        shift += timedelta(seconds=240)
    played.add(end, Motion(Room.LIVING_ROOM, True))
    return played


def _sos(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    played = Played(at, details={"room": ctx.room.value})
    played.add(at, Sos("double"))  # the help pattern: a single press may be "I'm OK" after a fall
    return played


def _lying_still(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """Collapse: every sign of activity stops (the wearable sees a still, lying body). In the
    radar's room the radar still sees her there: that is ``still_present``, not an empty home."""
    played = Played(at, details={"room": ctx.room.value})
    if ctx.room == ctx.radar_room:
        played.details["detect"] = "still_present"
    _minutes(played, at, end, "lying")
    played.add(end, Motion(ctx.room, True))
    return played


def _still_present(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """She sits down in the radar's room and does not move for hours (a stroke, or too weak to get up):
    the PIRs see nothing, the radar sees her there; she gets up at the end."""
    room = ctx.radar_room or Room.LIVING_ROOM
    played = Played(at, details={"room": room.value})
    played.add(at, Motion(room, True))
    _minutes(played, at, end, "sitting")
    played.add(end, Motion(room, True))
    return played


def _not_up(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """Stays in bed (no motion, bed occupied) past the usual wake-up time."""
    played = Played(at)
    played.add(at, Bed(True))
    played.add(end, Bed(False))
    played.add(end + timedelta(seconds=10), Motion(Room.BEDROOM, True))
    return played


def _night_wandering(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    s = timedelta(seconds=1)
    played = Played(at + 60 * s)  # the door opening is what the rule sees
    played.add(at, Bed(False))
    played.add(at + 10 * s, Motion(Room.BEDROOM, True))
    played.add(at + 40 * s, Motion(Room.HALLWAY, True))
    played.add(at + 60 * s, Door(True))
    played.add(at + 80 * s, Door(False))
    back = end - 120 * s
    played.add(back, Door(True))
    played.add(back + 20 * s, Door(False))
    played.add(back + 30 * s, Motion(Room.HALLWAY, True))
    played.add(back + 60 * s, Motion(Room.BEDROOM, True))
    played.add(back + 90 * s, Bed(True))
    local = at.astimezone(ctx.zone).time()
    played.details["at_night"] = local >= time(22) or local < time(6)
    return played


def _bathroom_dwell(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    played = Played(at)
    pulse = at
    while pulse < end:
        played.add(pulse, Motion(Room.BATHROOM, True))
        pulse += timedelta(seconds=ctx.rng.uniform(120, 420))
    _minutes(played, at, end, "sitting")
    played.add(end, Motion(Room.HALLWAY, True))
    played.add(end + timedelta(seconds=30), Motion(Room.LIVING_ROOM, True))
    return played


def _door_left_open(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    played = Played(at)
    played.add(at, Door(True))
    played.add(end, Door(False))
    return played


def _cold_home(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """The heating fails: the living room cools to about 12 °C within the first half hour."""
    played = Played(at, details={"celsius": COLD_C})
    for step, celsius in enumerate((17.5, 15.5, 14.0, COLD_C)):
        played.add(at + timedelta(seconds=600 * step), Temperature(celsius))
    return played


def _battery(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    device = ctx.battery_devices[ctx.rng.randrange(len(ctx.battery_devices))]
    played = Played(at, details={"device": device})
    levels = np.linspace(28.0, LOW_BATTERY_PCT, 5)
    span = (end - at).total_seconds() / 2
    for i, pct in enumerate(levels):
        played.add(at + timedelta(seconds=span * i / (len(levels) - 1)), Battery(device, float(round(pct))))
    played.truth_start = at + timedelta(seconds=span * 3 / 4)  # the first level below 20 %
    played.add(end, Battery(device, None))
    return played


def _network(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    played = Played(at)
    played.add(at, Cut())
    played.add(end, Restore())
    return played


# incident -> (the kit's alarm that sounds, what it detects); simulator.home.HAZARD_KIT names the devices.
HAZARD_INCIDENTS = {
    IncidentKind.KITCHEN_FIRE: ("smoke-kitchen", "smoke"),
    IncidentKind.GAS_LEAK: ("gas-kitchen", "gas"),
    IncidentKind.BURST_PIPE: ("leak-bathroom", "water_leak"),
}


def _hazard(incident: Incident, at: datetime, end: datetime, ctx: Context) -> Played:
    """The alarm sounds at the start and stops at the end (the fire is out, the pipe mended); the
    resident's life goes on around it (not a person incident)."""
    device, hazard = HAZARD_INCIDENTS[incident.kind]
    played = Played(at, details={"device": device, "hazard": hazard})
    played.add(at, Alarm(device, hazard, True))
    played.add(end, Alarm(device, hazard, False))
    return played


_BUILDERS = {
    IncidentKind.FALL: _fall,
    IncidentKind.FALL_CANCELLED: _fall_cancelled,
    IncidentKind.SOFT_FALL: _soft_fall,
    IncidentKind.TURNING_OVER: _turning_over,
    IncidentKind.FALL_OUT_OF_BED: _fall_out_of_bed,
    IncidentKind.SOFA_REST: _sofa_rest,
    IncidentKind.LONG_LIE: _fall,
    IncidentKind.SOS: _sos,
    IncidentKind.NOT_UP: _not_up,
    IncidentKind.COLLAPSE: _lying_still,
    IncidentKind.NIGHT_WANDERING: _night_wandering,
    IncidentKind.BATHROOM_DWELL: _bathroom_dwell,
    IncidentKind.DOOR_LEFT_OPEN: _door_left_open,
    IncidentKind.COLD_HOME: _cold_home,
    IncidentKind.BATTERY: _battery,
    IncidentKind.GATEWAY_OFFLINE: _network,
    IncidentKind.NETWORK_OUTAGE: _network,
    IncidentKind.KITCHEN_FIRE: _hazard,
    IncidentKind.GAS_LEAK: _hazard,
    IncidentKind.BURST_PIPE: _hazard,
    IncidentKind.STILL_PRESENT: _still_present,
}
