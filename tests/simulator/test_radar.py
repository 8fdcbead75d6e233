"""The presence radar of simulated homes, and the incident only it sees (pure)."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from eldercare.contracts.payloads import Room
from eldercare.domain.alerts.catalogue import KINDS
from simulator import script
from simulator.home import BATTERY_DEVICES
from simulator.incidents import EXPECT, PERSON_INCIDENTS, Incident, IncidentKind
from simulator.radar import RADAR_ROOM, Radar, has_radar
from simulator.routine import Motion, Wear

ZONE = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 3, 10, 0, tzinfo=ZONE)


def context(room: Room, radar_room: Room | None) -> script.Context:
    return script.Context(
        room, 50.0, random.Random(1), np.random.default_rng(1), None, BATTERY_DEVICES, ZONE, radar_room=radar_room
    )


def test_the_radar_sees_presence_begin_when_she_enters_its_room_and_end_when_she_is_seen_elsewhere() -> None:
    radar = Radar(Room.LIVING_ROOM)
    steps = [(Room.KITCHEN, True), (Room.LIVING_ROOM, True), (Room.LIVING_ROOM, False), (Room.LIVING_ROOM, True),
             (Room.HALLWAY, False), (Room.HALLWAY, True), (Room.BEDROOM, True)]  # fmt: skip
    assert [radar.seen(room, on) for room, on in steps] == [None, True, None, None, None, False, None]


def test_about_half_the_homes_have_a_radar_and_every_home_with_a_still_present_incident_does() -> None:
    drawn = [has_radar(7, index, []) for index in range(200)]
    assert 0.35 < sum(drawn) / len(drawn) < 0.65
    assert drawn == [has_radar(7, index, []) for index in range(200)], "the same home has the same kit"
    without = drawn.index(False)
    incident = Incident(AT, without, IncidentKind.STILL_PRESENT, 5 * 3600)
    assert has_radar(7, without, [incident])


def test_sitting_still_for_hours_that_only_the_radar_sees() -> None:
    incident = Incident(AT, 0, IncidentKind.STILL_PRESENT, EXPECT[IncidentKind.STILL_PRESENT].default_duration_s)
    played = script.build(incident, AT, context(Room.KITCHEN, RADAR_ROOM))
    assert played.truth_start == AT
    motions = [(at, s.item) for at, s in played.actions if isinstance(s.item, Motion)]
    # She walks into the radar's room and sits; the PIRs see nothing more until she gets up at the end.
    assert motions[0] == (AT, Motion(RADAR_ROOM, True))
    assert all(at == AT or at >= incident.end for at, _ in motions)
    assert any(isinstance(s.item, Wear) for _, s in played.actions)
    assert played.details["room"] == RADAR_ROOM.value
    assert EXPECT[IncidentKind.STILL_PRESENT].detect == "still_present" in KINDS
    assert IncidentKind.STILL_PRESENT in PERSON_INCIDENTS


def test_a_collapse_the_radar_sees_is_detected_as_still_present() -> None:
    collapse = Incident(AT, 0, IncidentKind.COLLAPSE, 6 * 3600)
    seen = script.build(collapse, AT, context(RADAR_ROOM, RADAR_ROOM))
    assert seen.details["detect"] == "still_present"
    unseen = script.build(collapse, AT, context(Room.KITCHEN, RADAR_ROOM))
    assert "detect" not in unseen.details
    assert "still_present" in EXPECT[IncidentKind.COLLAPSE].also
