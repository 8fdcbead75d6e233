"""When a simulated device reports by itself, the way real zigbee devices do.

Besides reporting each change of state, a real device sends a periodic report whether or not
anything changed, on a rhythm that depends on its make, not on us:

- Xiaomi/Aqara battery devices send their own heartbeat (battery, voltage) every 50-60 min;
- other battery devices report what zigbee2mqtt configured, zigbee-herdsman-converters'
  ``reporting.batteryPercentageRemaining``: at least every ``repInterval.MAX`` = 62,000 s (17.2 h)
  while the level holds (its reportable change is 0, but a level that holds sends nothing sooner);
- mains devices (plugs, routers) report their power at least hourly.

Each battery device of a simulated home is drawn as one of the first two (about half each), so an
ordinary week holds PIRs and door contacts that stay silent for 17 h: exactly what a fixed offline
limit calls dead. :mod:`eldercare.domain.liveness` says what the platform makes of it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from eldercare.domain.liveness import MAINS_MAX_REPORT_S, ZIGBEE_MAX_REPORT_S
from simulator.routine import home_rng


@dataclass(frozen=True)
class Rhythm:
    """A device's periodic report: every ``every_s`` plus a uniform jitter of up to ``jitter_s``."""

    model: str
    every_s: float
    jitter_s: float

    def next_after(self, at: datetime, rng: random.Random) -> datetime:
        return at + timedelta(seconds=self.every_s + rng.uniform(0, self.jitter_s))

    def first_after(self, start: datetime, rng: random.Random) -> datetime:
        """The first report: anywhere in the first period (devices were not all powered on at once)."""
        return start + timedelta(seconds=rng.uniform(0, self.every_s + self.jitter_s))


XIAOMI: Final = Rhythm("xiaomi_heartbeat", 3_000.0, 600.0)
CONFIGURED: Final = Rhythm("zigbee2mqtt_configured", ZIGBEE_MAX_REPORT_S - 600.0, 600.0)
MAINS: Final = Rhythm("mains", MAINS_MAX_REPORT_S - 300.0, 300.0)


def draw_rhythm(mains: bool, rng: random.Random) -> Rhythm:
    """The rhythm of one device of a home's kit."""
    if mains:
        return MAINS
    return XIAOMI if rng.random() < 0.5 else CONFIGURED


def kit_rhythms(seed: int, home_index: int, battery: Iterable[str], mains: Iterable[str]) -> dict[str, Rhythm]:
    """The rhythm of every device of one home, the same for a given seed and home."""
    rng = home_rng(seed, home_index, None, "rhythms")
    rhythms = {name: draw_rhythm(False, rng) for name in battery}
    rhythms.update({name: MAINS for name in mains})
    return rhythms
