"""zigbee2mqtt mapping: sample payloads of common devices, malformed ones, and the driver in a running agent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.drivers.zigbee2mqtt import (
    Mapped,
    RejectedError,
    Zigbee2MqttDriver,
    load_device_map,
    map_state,
    parse_availability,
    parse_state,
)
from edge.model import DeviceRef
from eldercare.config import Settings, parse_mqtt_url
from eldercare.contracts.payloads import DeviceKind, Metric, Room
from eldercare.errors import ConfigError
from eldercare.mqtt import connect
from tests.edge.helpers import Collector, agent_config, make_agent, running, wait_until
from tests.support.broker import PrivateBroker
from tests.support.processes import run_cli

PIR = DeviceRef("pir-kitchen", DeviceKind.MOTION, Room.KITCHEN)
DOOR = DeviceRef("door-front", DeviceKind.DOOR, Room.ENTRY)
BED = DeviceRef("bed-1", DeviceKind.BED, Room.BEDROOM)
BUTTON = DeviceRef("sos-1", DeviceKind.SOS_BUTTON)
PLUG = DeviceRef("plug-kettle", DeviceKind.PLUG, Room.KITCHEN)
TEMP = DeviceRef("temp-living", DeviceKind.TEMPERATURE, Room.LIVING_ROOM)


def mapped(device: DeviceRef, payload: dict[str, Any], previous: dict[str, str] | None = None) -> Mapped:
    return map_state(device, parse_state(json.dumps(payload).encode()), {} if previous is None else previous)


def test_motion_sensor() -> None:
    result = mapped(PIR, {"occupancy": True, "battery": 87, "linkquality": 120, "illuminance": 31, "tamper": False})
    assert result.readings == ((Metric.MOTION, 1.0),)
    assert (result.battery_pct, result.signal_lqi) == (87.0, 120)
    assert mapped(PIR, {"occupancy": False}).readings == ((Metric.MOTION, 0.0),)


def test_door_contact_false_means_open_and_events_only_on_change() -> None:
    previous: dict[str, str] = {}
    opened = mapped(DOOR, {"contact": False, "battery": 100, "voltage": 3000}, previous)
    assert opened.readings == ((Metric.DOOR_OPEN, 1.0),)
    assert opened.events == ({"type": "door", "state": "open"},)
    assert mapped(DOOR, {"contact": False}, previous).events == (), "a periodic report of the same state is no event"
    closed = mapped(DOOR, {"contact": True}, previous)
    assert closed.readings == ((Metric.DOOR_OPEN, 0.0),)
    assert closed.events == ({"type": "door", "state": "closed"},)


def test_bed_pressure_mat_occupancy() -> None:
    result = mapped(BED, {"occupancy": True})
    assert result.readings == ((Metric.BED_OCCUPIED, 1.0),)
    assert result.events == ({"type": "bed", "state": "occupied"},)


@pytest.mark.parametrize(("action", "press"), [("single", "single"), ("double", "double"), ("hold", "long"), ("long", "long")])
def test_sos_button_presses(action: str, press: str) -> None:
    assert mapped(BUTTON, {"action": action, "battery": 90}).events == ({"type": "sos", "press": press},)


@pytest.mark.parametrize("action", ["", None, "release", "brightness_up"])
def test_button_actions_that_are_not_presses_are_ignored(action: str | None) -> None:
    assert mapped(BUTTON, {"action": action}).events == ()


# The SOS forms zigbee-herdsman-converters emits, written from its device definitions:
# - fz.command_emergency (IAS ACE emergency): Tuya TS0215A_sos and its white labels, TS0601_sos, Heiman
#   HS1RC-N, Smart9 S9ZGBRC01, Develco/Frient KEPZB-110 keypads: {"action": "emergency"};
# - fz.command_panic (IAS ACE panic): {"action": "panic"};
# - Loginovo ZG-101Z: {"action": "sos"};
# - the binary `sos` preset (fz.ias_sos_alarm_2, IAS zone status bit 1): Feibit SEB01ZB, Konke: {"sos": true}.
TS0215A_SOS = {"action": "emergency", "battery": 100, "voltage": 3000, "linkquality": 80}


@pytest.mark.parametrize(
    "state",
    [TS0215A_SOS, {"action": "sos", "battery": 80}, {"action": "panic"}, {"sos": True, "tamper": False, "battery_low": False}],
    ids=["emergency", "sos-action", "panic", "sos-binary"],
)
def test_every_sos_form_zigbee2mqtt_emits_is_an_sos_press(state: dict[str, Any]) -> None:
    assert mapped(BUTTON, state).events == ({"type": "sos", "press": "single"},)


def test_a_binary_sos_raises_once_per_press_not_on_every_report_of_the_cached_state() -> None:
    previous: dict[str, str] = {}
    assert mapped(BUTTON, {"sos": True, "battery": 95}, previous).events == ({"type": "sos", "press": "single"},)
    assert mapped(BUTTON, {"sos": True, "battery": 94}, previous).events == (), "zigbee2mqtt repeats cached state"
    assert mapped(BUTTON, {"sos": False}, previous).events == ()
    assert mapped(BUTTON, {"sos": True}, previous).events == ({"type": "sos", "press": "single"},)


def test_properties_the_driver_does_not_map_are_named() -> None:
    assert mapped(PIR, {"occupancy": True, "illuminance": 31, "tamper": False, "battery": 80}).unmapped == ("illuminance",)
    assert mapped(TEMP, {"temperature": 19.5, "pressure": 1012}).unmapped == ("pressure",)
    assert mapped(PIR, {"sos": True}).unmapped == ("sos",), "an SOS property on a device not mapped as a button"


SMOKE = DeviceRef("smoke-kitchen", DeviceKind.SMOKE, Room.KITCHEN)
GAS = DeviceRef("gas-kitchen", DeviceKind.GAS, Room.KITCHEN)
CO = DeviceRef("co-living", DeviceKind.CO, Room.LIVING_ROOM)
LEAK = DeviceRef("leak-bathroom", DeviceKind.WATER_LEAK, Room.BATHROOM)
# States as zigbee2mqtt publishes them, written from zigbee-herdsman-converters' exposes:
# Aqara JY-GZ-01AQ smoke detector (e.smoke, smoke_density, smoke_density_dbm, test, buzzer...), Aqara
# JT-BZ-01AQ/A gas detector (e.gas, gas_density, sensitivity, selftest...), Heiman HS1CA-E CO alarm
# (fz.ias_carbon_monoxide_alarm_1: carbon_monoxide, tamper, battery_low), Aqara SJCGQ11LM leak sensor
# (fz.ias_water_leak_alarm_1: water_leak, battery_low, tamper; voltage, device_temperature).
AQARA_SMOKE = {"smoke": False, "smoke_density": 0, "smoke_density_dbm": 0, "test": False, "battery": 100, "linkquality": 96}
AQARA_GAS = {"gas": False, "gas_density": 0, "sensitivity": "15%LEL", "linkquality": 160}
HEIMAN_CO = {"carbon_monoxide": False, "tamper": False, "battery_low": False, "battery": 95, "linkquality": 72}
AQARA_LEAK = {"water_leak": False, "battery_low": False, "tamper": False, "battery": 91, "voltage": 3005, "linkquality": 54}


@pytest.mark.parametrize(
    ("device", "quiet", "key", "hazard"),
    [(SMOKE, AQARA_SMOKE, "smoke", "smoke"), (GAS, AQARA_GAS, "gas", "gas"), (CO, HEIMAN_CO, "carbon_monoxide", "co"),
     (LEAK, AQARA_LEAK, "water_leak", "water_leak")],
    ids=["aqara-smoke", "aqara-gas", "heiman-co", "aqara-leak"],
)  # fmt: skip
def test_a_hazard_alarm_is_an_event_when_it_starts_and_when_it_stops(
    device: DeviceRef, quiet: dict[str, Any], key: str, hazard: str
) -> None:
    previous: dict[str, str] = {}
    assert mapped(device, quiet, previous).events == (), "an alarm's periodic all-clear report is no news"
    assert mapped(device, {**quiet, key: True}, previous).events == ({"type": "hazard", "hazard": hazard, "state": "detected"},)
    assert mapped(device, {**quiet, key: True}, previous).events == (), "zigbee2mqtt repeats the cached state"
    assert mapped(device, quiet, previous).events == ({"type": "hazard", "hazard": hazard, "state": "cleared"},)
    assert mapped(device, {key: True}, {}).events[0]["state"] == "detected", "an alarm already sounding at start-up"


def test_a_combined_gas_and_co_alarm_reports_each_hazard() -> None:
    # Oujiabao CR701-YZ (fz.ias_carbon_monoxide_alarm_1_gas_alarm_2): gas, carbon_monoxide, tamper, battery_low.
    state = {"gas": True, "carbon_monoxide": True, "tamper": False, "battery_low": False}
    assert {e["hazard"] for e in mapped(GAS, state).events} == {"gas", "co"}


def test_a_hazard_from_a_device_mapped_as_another_kind_is_still_raised() -> None:
    assert mapped(TEMP, {"temperature": 19.5, "smoke": True}).events == (
        {"type": "hazard", "hazard": "smoke", "state": "detected"},
    )


def test_tamper_and_battery_low_are_device_health() -> None:
    result = mapped(LEAK, {**AQARA_LEAK, "battery_low": True, "tamper": True})
    assert (result.battery_low, result.tamper, result.battery_pct) == (True, True, 91.0)
    assert result.unmapped == ("voltage",)
    assert (mapped(PIR, {"occupancy": True}).battery_low, mapped(PIR, {"occupancy": True}).tamper) == (None, None)


@pytest.mark.parametrize("state", [{"smoke": "true"}, {"water_leak": 1}, {"tamper": "open"}, {"battery_low": None, "gas": []}])
def test_a_hazard_or_flag_of_the_wrong_type_is_rejected(state: dict[str, Any]) -> None:
    with pytest.raises(RejectedError) as caught:
        mapped(SMOKE, state)
    assert caught.value.reason == "wrong_type"


@pytest.mark.parametrize(
    ("payload", "online"),
    [(b'{"state": "online"}', True), (b'{"state":"offline"}', False), (b"online", True), (b"offline\n", False)],
    ids=["json-online", "json-offline", "plain-online", "plain-offline"],
)
def test_availability_in_both_forms_zigbee2mqtt_publishes(payload: bytes, online: bool) -> None:
    assert parse_availability(payload) is online


@pytest.mark.parametrize("payload", [b"", b"ONLINE", b'{"state": true}', b'{"availability": "online"}', b"[", b"\xff\xfe"])
def test_an_availability_that_is_neither_online_nor_offline_is_rejected(payload: bytes) -> None:
    with pytest.raises(RejectedError) as caught:
        parse_availability(payload)
    assert caught.value.reason in {"bad_availability", "not_json"}


RADAR = DeviceRef("radar-bathroom", DeviceKind.PRESENCE, Room.BATHROOM)


def test_a_radar_reports_presence_on_change_and_motion_only_while_the_target_moves() -> None:
    previous: dict[str, str] = {}
    # Tuya ZY-M100: presence, target_distance, illuminance_lux.
    entered = mapped(RADAR, {"presence": True, "target_distance": 1.4, "illuminance_lux": 20}, previous)
    assert entered.events == ({"type": "presence", "state": "detected"},)
    assert entered.readings == (), "present is not moving: a still person must not look active"
    assert entered.unmapped == ("illuminance_lux",)
    assert mapped(RADAR, {"presence": True, "motion_state": "large"}, previous).readings == ((Metric.MOTION, 1.0),)
    assert mapped(RADAR, {"presence": True, "motion_state": "static"}, previous) == Mapped()
    left = mapped(RADAR, {"presence_state": "none", "motion_state": "none"}, previous)
    assert left.events == ({"type": "presence", "state": "cleared"},)


@pytest.mark.parametrize(
    ("state", "present", "moving"),
    [({"occupancy": True}, True, False), ({"presence_state": "peaceful"}, True, False),
     ({"presence_state": "small_move"}, True, True), ({"presence_state": "none"}, False, False),
     ({"presence": False, "motion_state": "none"}, False, False)],
)  # fmt: skip
def test_the_presence_variants_radar_models_use(state: dict[str, Any], present: bool, moving: bool) -> None:
    result = mapped(RADAR, state)
    assert result.events == ({"type": "presence", "state": "detected" if present else "cleared"},)
    assert result.readings == (((Metric.MOTION, 1.0),) if moving else ())


def test_a_radar_fall_report_is_a_fall_event_with_its_evidence_once() -> None:
    # Tuya MIR-HE200-TY fall model: presence, fall_down_status (none / maybe_fall / fall), target_distance.
    previous: dict[str, str] = {}
    state = {"presence": True, "fall_down_status": "fall", "target_distance": 0.8, "static_dwell_alarm": ""}
    fall = {"type": "fall", "confidence": 1.0, "evidence": {"source": "radar", "status": "fall", "target_distance_m": 0.8}}
    assert mapped(RADAR, state, previous).events == ({"type": "presence", "state": "detected"}, fall)
    assert mapped(RADAR, state, previous).events == (), "the cached state repeats"
    assert mapped(RADAR, {**state, "fall_down_status": "maybe_fall"}, previous).events == ()
    assert mapped(RADAR, state, previous).events == (fall,)


def test_an_unknown_radar_state_is_named_and_a_wrong_type_refused() -> None:
    assert mapped(RADAR, {"presence_state": "levitating"}).unmapped == ("presence_state:levitating",)
    with pytest.raises(RejectedError):
        mapped(RADAR, {"motion_state": 3})


def test_a_deeply_nested_state_is_rejected_not_raised() -> None:
    with pytest.raises(RejectedError) as caught:
        parse_state(b"[" * 5_000)
    assert caught.value.reason == "not_json"


def test_a_scene_button_that_is_not_an_sos_button_raises_nothing() -> None:
    assert mapped(PIR, {"action": "single"}).events == ()


def test_smart_plug_and_climate_sensor() -> None:
    plug = mapped(PLUG, {"power": 1850.2, "energy": 12.5, "state": "ON", "voltage": 229, "current": 8.1})
    assert plug.readings == ((Metric.POWER_W, 1850.2), (Metric.ENERGY_KWH, 12.5))
    climate = mapped(TEMP, {"temperature": 19.5, "humidity": 48, "pressure": 1012, "battery": 64, "linkquality": 255})
    assert climate.readings == ((Metric.TEMPERATURE_C, 19.5), (Metric.HUMIDITY_PCT, 48.0))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"occupancy": "yes"}', "wrong_type"),
        (b'{"contact": 1}', "wrong_type"),
        (b'{"temperature": "warm"}', "wrong_type"),
        (b'{"battery": true}', "wrong_type"),
        (b'{"action": 3}', "wrong_type"),
        (b'{"linkquality": 12.5}', "wrong_type"),
    ],
)
def test_malformed_payloads_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(RejectedError) as caught:
        map_state(PIR, parse_state(payload), {})
    assert caught.value.reason == reason


def test_device_map_file(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.write_text(json.dumps({"Kitchen PIR": {"device": "pir-kitchen", "kind": "motion", "room": "kitchen"}}))
    assert load_device_map(path) == {"Kitchen PIR": PIR}
    path.write_text(json.dumps({"x": {"device": "d", "kind": "toaster"}, "y": {"kind": "motion"}}))
    with pytest.raises(ConfigError) as caught:
        load_device_map(path)
    assert len(caught.value.problems) == 2


DEVICE_MAP = {
    "Kitchen PIR": {"device": "pir-kitchen", "kind": "motion", "room": "kitchen"},
    "Front door": {"device": "door-front", "kind": "door", "room": "entry"},
    "SOS button": {"device": "sos-1", "kind": "sos_button"},
    "Kettle plug": {"device": "plug-kettle", "kind": "plug", "room": "kitchen"},
    "Living/Climate": {"device": "temp-living", "kind": "temperature", "room": "living_room"},
}


async def test_the_driver_in_a_running_agent_maps_and_survives_garbage(
    edge_settings: Callable[..., Settings], home_id: str, topic_root: str, tmp_path: Path
) -> None:
    settings = edge_settings()
    map_file = tmp_path / "devices.json"
    map_file.write_text(json.dumps(DEVICE_MAP))
    base = f"{topic_root}-z2m"
    driver = Zigbee2MqttDriver(
        endpoint=parse_mqtt_url(settings.mqtt_url),
        mqtt=settings.mqtt,
        base_topic=base,
        devices=load_device_map(map_file),
        client_id=f"z2m-{home_id}",
    )
    agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3", heartbeat_interval_s=0.2), driver)
    sent: list[tuple[str, bytes]] = [
        ("Kitchen PIR", b'{"occupancy": true, "battery": 87, "linkquality": 120}'),
        ("Kitchen PIR", b"garbage{"),  # not JSON
        ("Front door", b'{"contact": false, "battery": 100}'),
        ("Unknown thing", b'{"occupancy": true}'),  # not in the device map
        ("Front door", b'{"contact": "open"}'),  # wrong type
        ("SOS button", b'{"action": "single"}'),
        ("SOS button", json.dumps(TS0215A_SOS).encode()),  # the most common cheap panic button
        ("Kettle plug", b'{"power": 1850.2, "state": "ON"}'),
        ("Living/Climate", b'{"temperature": 500, "humidity": 48}'),  # outside the contract's range
        ("bridge/state", b'{"state": "online"}'),  # not a device
        ("Kitchen PIR/set", b'{"occupancy": false}'),  # a command, not a state
        ("Living/Climate", b'{"temperature": 19.5, "humidity": 48}'),
    ]
    async with Collector(settings, home_id) as collector, running(agent):
        await wait_until(driver.subscribed.is_set)
        async with connect(settings, client_id=f"z2m-pub-{home_id}") as z2m:
            for name, payload in sent:
                await z2m.publish(f"{base}/{name}", payload, qos=1)
        await collector.wait_for(lambda: {r.device for r in collector.readings()} >= {"temp-living", "plug-kettle"})
        await collector.wait_for(lambda: len(collector.events()) == 3)
        await collector.wait_for(lambda: "temp-living" in _heartbeat_devices(collector))
    assert dict(driver.rejected) == {"not_json": 1, "unknown_device": 1, "wrong_type": 1, "invalid_value": 1}
    assert driver.accepted == 6
    # Nothing of a mapped device vanishes unseen: what is not mapped is counted per property name.
    assert dict(driver.unmapped) == {"voltage": 1, "state": 1}
    readings = {(r.device, r.metric): r.value for r in collector.readings()}
    assert readings == {
        ("pir-kitchen", Metric.MOTION): 1.0,
        ("pir-kitchen", Metric.BATTERY_PCT): 87.0,
        ("door-front", Metric.DOOR_OPEN): 1.0,
        ("door-front", Metric.BATTERY_PCT): 100.0,
        ("sos-1", Metric.BATTERY_PCT): 100.0,
        ("plug-kettle", Metric.POWER_W): 1850.2,
        ("temp-living", Metric.TEMPERATURE_C): 19.5,
        ("temp-living", Metric.HUMIDITY_PCT): 48.0,
    }
    assert [(e.type, e.device) for e in collector.events()] == [("door", "door-front"), ("sos", "sos-1"), ("sos", "sos-1")]
    assert all(r.room is Room.KITCHEN for r in collector.readings() if r.device == "pir-kitchen")
    pir = _heartbeat_devices(collector)["pir-kitchen"]
    assert (pir.battery_pct, pir.signal_lqi, pir.room) == (87.0, 120, Room.KITCHEN)


def _heartbeat_devices(collector: Collector) -> dict[str, Any]:
    beats = collector.heartbeats()
    return {d.device: d for d in beats[-1].devices} if beats else {}


async def test_retained_availability_is_the_current_one_and_a_retained_state_is_old_news(
    edge_settings: Callable[..., Settings], home_id: str, topic_root: str, tmp_path: Path
) -> None:
    settings = edge_settings()
    map_file = tmp_path / "devices.json"
    map_file.write_text(json.dumps(DEVICE_MAP))
    base = f"{topic_root}-z2m"
    async with connect(settings, client_id=f"z2m-pub-{home_id}") as z2m:
        # What zigbee2mqtt left on its broker before the gateway's agent started (both forms).
        await z2m.publish(f"{base}/Kitchen PIR/availability", b'{"state":"offline"}', qos=1, retain=True)
        await z2m.publish(f"{base}/Front door/availability", b"online", qos=1, retain=True)
        await z2m.publish(f"{base}/Front door", b'{"contact": false, "battery": 100}', qos=1, retain=True)
        driver = Zigbee2MqttDriver(
            endpoint=parse_mqtt_url(settings.mqtt_url), mqtt=settings.mqtt, base_topic=base,
            devices=load_device_map(map_file), client_id=f"z2m-{home_id}",
        )  # fmt: skip
        agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3", heartbeat_interval_s=0.2), driver)
        try:
            async with Collector(settings, home_id) as collector, running(agent):
                await collector.wait_for(lambda: {"pir-kitchen", "door-front"} <= set(_heartbeat_devices(collector)))
                beat = _heartbeat_devices(collector)
                assert (beat["pir-kitchen"].availability, beat["door-front"].availability) == ("offline", "online")
                assert beat["pir-kitchen"].last_seen is None, "zigbee2mqtt speaking of a device is not the device speaking"
                await z2m.publish(f"{base}/Kitchen PIR/availability", b"online", qos=1)
                await z2m.publish(f"{base}/Kitchen PIR/availability", b"maybe", qos=1)
                await collector.wait_for(lambda: _heartbeat_devices(collector)["pir-kitchen"].availability == "online")
                await wait_until(lambda: driver.rejected["bad_availability"] == 1)
            assert collector.events() == [], "the retained door state was old news"
            assert collector.readings() == []
        finally:
            for name in ("Kitchen PIR/availability", "Front door/availability", "Front door"):
                await z2m.publish(f"{base}/{name}", b"", qos=1, retain=True)  # clear the retained messages


async def test_the_driver_reconnects_when_the_zigbee2mqtt_broker_restarts(
    edge_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    home_id: str,
    topic_root: str,
    tmp_path: Path,
) -> None:
    local = private_broker(persistence=False)
    settings = edge_settings()  # the platform side stays on the shared broker
    z2m_settings = edge_settings(mqtt_url=local.url)
    driver = Zigbee2MqttDriver(
        endpoint=parse_mqtt_url(local.url),
        mqtt=settings.mqtt,
        base_topic="zigbee2mqtt",
        devices={"Kitchen PIR": PIR},
        client_id=f"z2m-{home_id}",
    )
    agent = make_agent(agent_config(settings, home_id, tmp_path / "q.sqlite3"), driver)

    async def press_motion() -> None:
        async with connect(z2m_settings, client_id=f"z2m-pub-{home_id}") as z2m:
            await z2m.publish("zigbee2mqtt/Kitchen PIR", b'{"occupancy": true}', qos=1)

    async with Collector(settings, home_id) as collector, running(agent):
        await wait_until(driver.subscribed.is_set)
        await press_motion()
        await collector.wait_for(lambda: len(collector.readings()) == 1)
        await asyncio.to_thread(local.restart)
        await wait_until(lambda: driver.sessions == 2 and driver.subscribed.is_set())
        await press_motion()
        await collector.wait_for(lambda: len(collector.readings()) == 2)
    assert [r.seq for r in collector.readings()] == [0, 1]


def test_refused_zigbee2mqtt_credentials_are_fatal(
    edge_env: Callable[..., dict[str, str]], private_broker: Callable[..., PrivateBroker], home_id: str, tmp_path: Path
) -> None:
    local = private_broker(users={"z2m": "right"})
    map_file = tmp_path / "devices.json"
    map_file.write_text(json.dumps(DEVICE_MAP))
    env = edge_env(
        edge__home_id=home_id,
        edge__driver="zigbee2mqtt",
        edge__zigbee2mqtt_url=local.url_as("z2m", "wrong"),
        edge__zigbee2mqtt_device_map=str(map_file),
        edge__data_dir=str(tmp_path / "gw"),
    )
    result = run_cli(["edge"], env, timeout_s=60)
    assert result.returncode == 1, result.stderr
    assert "refused" in result.stderr
