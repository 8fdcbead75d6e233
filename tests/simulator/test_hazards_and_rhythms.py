"""The simulated kit's home-safety alarms and the rhythm each device reports on (pure)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from eldercare.contracts.payloads import Room
from eldercare.domain.alerts.catalogue import KINDS
from simulator import script
from simulator.home import BATTERY_DEVICES, HAZARD_KIT, MAINS_DEVICES
from simulator.incidents import EXPECT, Incident, IncidentKind
from simulator.reporting import CONFIGURED, MAINS, XIAOMI, kit_rhythms

ZONE = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 3, 2, 0, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("kind", "device", "hazard"),
    [(IncidentKind.KITCHEN_FIRE, "smoke-kitchen", "smoke"), (IncidentKind.GAS_LEAK, "gas-kitchen", "gas"),
     (IncidentKind.BURST_PIPE, "leak-bathroom", "water_leak")],
)  # fmt: skip
def test_a_hazard_incident_sounds_the_kits_alarm_and_stops_it_at_the_end(kind: IncidentKind, device: str, hazard: str) -> None:
    incident = Incident(AT, 0, kind, EXPECT[kind].default_duration_s)
    ctx = script.Context(Room.KITCHEN, 50.0, random.Random(1), np.random.default_rng(1), None, BATTERY_DEVICES, ZONE)
    played = script.build(incident, AT, ctx)
    assert played.truth_start == AT
    assert [(at, s.item) for at, s in played.actions] == [
        (AT, script.Alarm(device, hazard, True)),
        (incident.end, script.Alarm(device, hazard, False)),
    ]
    assert device in HAZARD_KIT
    assert EXPECT[kind].detect == hazard
    assert hazard in KINDS


def test_every_device_reports_on_its_makes_rhythm_and_the_kit_mixes_makes() -> None:
    rhythms = [kit_rhythms(1, index, BATTERY_DEVICES, MAINS_DEVICES) for index in range(20)]
    assert all(r[name] is MAINS for r in rhythms for name in MAINS_DEVICES)
    battery = [r[name] for r in rhythms for name in BATTERY_DEVICES]
    assert {XIAOMI, CONFIGURED} == set(battery)
    assert 0.3 < battery.count(XIAOMI) / len(battery) < 0.7
    assert rhythms[3] == kit_rhythms(1, 3, BATTERY_DEVICES, MAINS_DEVICES), "the same home has the same kit"
    jitter = random.Random(0)
    gap = CONFIGURED.next_after(AT, jitter) - AT
    assert timedelta(hours=17) < gap <= timedelta(seconds=62_000), "a zigbee2mqtt-configured report: every 17.2 h"
