"""What counts as a sign of a person in the home: ingest records it (``home_state.last_activity_at``)
and the welfare rules judge the silences between; the protocol reference tells device makers."""

from __future__ import annotations

from typing import Final

from eldercare.contracts.payloads import Metric

#: A plug drawing more than this is someone using an appliance.
PLUG_ACTIVITY_W: Final = 5.0
#: Readings of these metrics can be a sign of a person: motion 1, a door opening or closing, the bed
#: mat's changes, a plug above PLUG_ACTIVITY_W. Every event (fall, sos, door, bed, presence detected) is one too;
#: a hazard alarm and a radar's presence ``cleared`` (nobody seen any more) are not.
PERSON_METRICS: Final = frozenset({Metric.MOTION, Metric.DOOR_OPEN, Metric.BED_OCCUPIED, Metric.POWER_W})
