"""Device states as zigbee2mqtt publishes them for models that home-care programmes install, written
from zigbee-herdsman-converters' device definitions (their ``exposes`` and ``fromZigbee``
converters), with what each must become in our contract. Test data, not code.

Each entry: (model, device map entry, state, expected). ``expected`` holds the readings, events and
health the state maps to, and the properties counted as unmapped; or the reason it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eldercare.contracts.payloads import Metric


@dataclass(frozen=True)
class Expected:
    readings: tuple[tuple[Metric, float], ...] = ()
    events: tuple[dict[str, object], ...] = ()
    battery_pct: float | None = None
    signal_lqi: int | None = None
    battery_low: bool | None = None
    tamper: bool | None = None
    unmapped: tuple[str, ...] = ()
    rejected: str | None = None  # the reason the driver refuses the message with


@dataclass(frozen=True)
class Model:
    model: str  # vendor and model as zigbee-herdsman-converters names them
    name: str  # the zigbee2mqtt friendly name the installer gave it
    entry: dict[str, str]  # the device map entry
    state: dict[str, Any] | bytes
    expected: Expected = field(default_factory=Expected)


MOTION, DOOR, TEMP, SOS, PLUG = "motion", "door", "temperature", "sos_button", "plug"

MODELS: list[Model] = [
    # Aqara RTCGQ11LM (lumi.sensor_motion.aq2): occupancy, illuminance, battery, voltage, device_temperature.
    Model(
        "Aqara RTCGQ11LM", "Bedroom PIR", {"device": "pir-bedroom", "kind": MOTION, "room": "bedroom"},
        {"occupancy": True, "illuminance": 54, "illuminance_lux": 54, "battery": 100, "voltage": 3005,
         "device_temperature": 27, "power_outage_count": 2, "linkquality": 90},
        Expected(((Metric.MOTION, 1.0),), battery_pct=100, signal_lqi=90,
                 unmapped=("illuminance", "illuminance_lux", "voltage", "device_temperature", "power_outage_count")),
    ),
    # Aqara RTCGQ14LM (P1): occupancy plus its settings (motion_sensitivity, detection_interval, trigger_indicator).
    Model(
        "Aqara RTCGQ14LM", "Hall PIR", {"device": "pir-hallway", "kind": MOTION, "room": "hallway"},
        {"occupancy": False, "illuminance": 3, "battery": 97, "voltage": 3045, "device_temperature": 24,
         "motion_sensitivity": "medium", "detection_interval": 30, "trigger_indicator": False, "linkquality": 141},
        Expected(((Metric.MOTION, 0.0),), battery_pct=97, signal_lqi=141,
                 unmapped=("illuminance", "voltage", "device_temperature", "motion_sensitivity", "detection_interval",
                           "trigger_indicator")),
    ),
    # SONOFF SNZB-03 (fz.ias_occupancy_alarm_1): occupancy, tamper, battery_low, battery, voltage.
    Model(
        "SONOFF SNZB-03", "Kitchen PIR", {"device": "pir-kitchen", "kind": MOTION, "room": "kitchen"},
        {"occupancy": True, "tamper": False, "battery_low": False, "battery": 100, "voltage": 3100, "linkquality": 96},
        Expected(((Metric.MOTION, 1.0),), battery_pct=100, signal_lqi=96, battery_low=False, tamper=False,
                 unmapped=("voltage",)),
    ),
    # Aqara MCCGQ11LM (lumi.sensor_magnet.aq2): contact (true = closed), battery, voltage.
    Model(
        "Aqara MCCGQ11LM", "Front door", {"device": "door-entry", "kind": DOOR, "room": "entry"},
        {"contact": False, "battery": 100, "voltage": 3015, "device_temperature": 26, "power_outage_count": 1,
         "linkquality": 102},
        Expected(((Metric.DOOR_OPEN, 1.0),), ({"type": "door", "state": "open"},), battery_pct=100, signal_lqi=102,
                 unmapped=("voltage", "device_temperature", "power_outage_count")),
    ),
    # SONOFF SNZB-04 (fz.ias_contact_alarm_1): contact, tamper, battery_low, battery, voltage.
    Model(
        "SONOFF SNZB-04", "Fridge door", {"device": "door-fridge", "kind": DOOR, "room": "kitchen"},
        {"contact": True, "tamper": False, "battery_low": True, "battery": 12, "voltage": 2400, "linkquality": 60},
        Expected(((Metric.DOOR_OPEN, 0.0),), ({"type": "door", "state": "closed"},), battery_pct=12, signal_lqi=60,
                 battery_low=True, tamper=False, unmapped=("voltage",)),
    ),
    # Aqara WSDCGQ11LM: temperature, humidity, pressure, battery, voltage.
    Model(
        "Aqara WSDCGQ11LM", "Living climate", {"device": "temp-living", "kind": TEMP, "room": "living_room"},
        {"temperature": 21.3, "humidity": 45.2, "pressure": 1012.4, "battery": 91, "voltage": 2985, "linkquality": 78},
        Expected(((Metric.TEMPERATURE_C, 21.3), (Metric.HUMIDITY_PCT, 45.2)), battery_pct=91, signal_lqi=78,
                 unmapped=("pressure", "voltage")),
    ),
    # SONOFF SNZB-02: temperature, humidity, battery, voltage.
    Model(
        "SONOFF SNZB-02", "Bedroom climate", {"device": "temp-bedroom", "kind": TEMP, "room": "bedroom"},
        {"temperature": 17.9, "humidity": 63, "battery": 87, "voltage": 2900, "linkquality": 84},
        Expected(((Metric.TEMPERATURE_C, 17.9), (Metric.HUMIDITY_PCT, 63.0)), battery_pct=87, signal_lqi=84,
                 unmapped=("voltage",)),
    ),
    # SONOFF SNZB-01 as the SOS button: action single / double / long, battery, voltage.
    Model(
        "SONOFF SNZB-01", "SOS button", {"device": "sos-1", "kind": SOS},
        {"action": "long", "battery": 100, "voltage": 3100, "linkquality": 120},
        Expected(events=({"type": "sos", "press": "long"},), battery_pct=100, signal_lqi=120, unmapped=("voltage",)),
    ),
    # Tuya TS0215A_sos (fz.command_emergency): the most common cheap panic button.
    Model(
        "Tuya TS0215A_sos", "Panic button", {"device": "sos-2", "kind": SOS, "room": "bedroom"},
        {"action": "emergency", "battery": 100, "voltage": 3000, "linkquality": 80},
        Expected(events=({"type": "sos", "press": "single"},), battery_pct=100, signal_lqi=80, unmapped=("voltage",)),
    ),
    # IKEA E1812 TRADFRI shortcut button (fz.command_on, command_move, command_stop) as an SOS button:
    # a press sends "on", holding it "brightness_move_up" then "brightness_stop" on release.
    Model(
        "IKEA E1812", "IKEA button", {"device": "sos-3", "kind": SOS, "room": "bathroom"},
        {"action": "on", "battery": 87, "linkquality": 47},
        Expected(events=({"type": "sos", "press": "single"},), battery_pct=87, signal_lqi=47),
    ),
    # Tuya TS011F_plug_1 (metering smart plug, mains): state, power, current, voltage, energy.
    Model(
        "Tuya TS011F_plug_1", "Kettle plug", {"device": "plug-kettle", "kind": PLUG, "room": "kitchen"},
        {"state": "ON", "power": 1850, "current": 8.1, "voltage": 229, "energy": 12.5, "power_outage_memory": "restore",
         "child_lock": "UNLOCK", "linkquality": 120},
        Expected(((Metric.POWER_W, 1850.0), (Metric.ENERGY_KWH, 12.5)), signal_lqi=120,
                 unmapped=("state", "current", "voltage", "power_outage_memory", "child_lock")),
    ),
    # Aqara JY-GZ-01AQ smoke detector (lumi_specific): smoke, smoke_density, test, buzzer, battery.
    Model(
        "Aqara JY-GZ-01AQ", "Kitchen smoke", {"device": "smoke-kitchen", "kind": "smoke", "room": "kitchen"},
        {"smoke": True, "smoke_density": 32, "smoke_density_dbm": 0.45, "test": False, "buzzer": "buzzer",
         "heartbeat_indicator": False, "linkage_alarm": False, "battery": 100, "voltage": 3100, "linkquality": 96},
        Expected(events=({"type": "hazard", "hazard": "smoke", "state": "detected"},), battery_pct=100, signal_lqi=96,
                 unmapped=("smoke_density", "smoke_density_dbm", "test", "buzzer", "heartbeat_indicator",
                           "linkage_alarm", "voltage")),
    ),
    # Aqara JT-BZ-01AQ/A natural gas detector (mains): gas, gas_density, sensitivity, self-test.
    Model(
        "Aqara JT-BZ-01AQ/A", "Kitchen gas", {"device": "gas-kitchen", "kind": "gas", "room": "kitchen"},
        {"gas": True, "gas_density": 12, "sensitivity": "15%LEL", "selftest": False, "mute": False, "linkquality": 160},
        Expected(events=({"type": "hazard", "hazard": "gas", "state": "detected"},), signal_lqi=160,
                 unmapped=("gas_density", "sensitivity", "selftest", "mute")),
    ),
    # Heiman HS1CA-E (fz.ias_carbon_monoxide_alarm_1): carbon_monoxide, tamper, battery_low, battery.
    Model(
        "Heiman HS1CA-E", "Living CO", {"device": "co-living", "kind": "co", "room": "living_room"},
        {"carbon_monoxide": True, "tamper": False, "battery_low": False, "battery": 95, "linkquality": 72},
        Expected(events=({"type": "hazard", "hazard": "co", "state": "detected"},), battery_pct=95, signal_lqi=72,
                 battery_low=False, tamper=False),
    ),
    # Oujiabao CR701-YZ gas and CO alarm (fz.ias_carbon_monoxide_alarm_1_gas_alarm_2): gas, carbon_monoxide.
    Model(
        "Oujiabao CR701-YZ", "Boiler alarm", {"device": "gasco-1", "kind": "gas", "room": "kitchen"},
        {"gas": False, "carbon_monoxide": True, "tamper": True, "battery_low": False},
        Expected(events=({"type": "hazard", "hazard": "co", "state": "detected"},), battery_low=False, tamper=True),
    ),
    # Aqara SJCGQ11LM (fz.ias_water_leak_alarm_1 with lumi extras): water_leak, battery_low, tamper, battery.
    Model(
        "Aqara SJCGQ11LM", "Bathroom leak", {"device": "leak-bathroom", "kind": "water_leak", "room": "bathroom"},
        {"water_leak": True, "battery_low": False, "tamper": False, "battery": 91, "voltage": 3005,
         "device_temperature": 22, "power_outage_count": 4, "linkquality": 54},
        Expected(events=({"type": "hazard", "hazard": "water_leak", "state": "detected"},), battery_pct=91,
                 signal_lqi=54, battery_low=False, tamper=False,
                 unmapped=("voltage", "device_temperature", "power_outage_count")),
    ),
    # Tuya ZY-M100 mmWave radar (TS0601_smart_human_presence_sensor, mains): presence, target_distance,
    # illuminance_lux and its tuning. Until the presence kind exists, mapped as a PIR its presence is
    # counted as unmapped, never taken for motion: a radar that keeps saying "present" while the
    # resident lies still must not look like someone moving about.
    Model(
        "Tuya ZY-M100", "Living radar", {"device": "radar-living", "kind": MOTION, "room": "living_room"},
        {"presence": True, "target_distance": 1.2, "illuminance_lux": 120, "radar_sensitivity": 7,
         "minimum_range": 0, "maximum_range": 6, "detection_delay": 0.1, "fading_time": 30, "linkquality": 200},
        Expected(signal_lqi=200,
                 unmapped=("presence", "target_distance", "illuminance_lux", "radar_sensitivity", "minimum_range",
                           "maximum_range", "detection_delay", "fading_time")),
    ),
    # The same radar installed as what it is, a presence radar: someone there, still, is presence, not motion.
    Model(
        "Tuya ZY-M100 (presence)", "Bath radar", {"device": "radar-bathroom", "kind": "presence", "room": "bathroom"},
        {"presence": True, "target_distance": 0.9, "illuminance_lux": 40, "radar_sensitivity": 7, "linkquality": 180},
        Expected(events=({"type": "presence", "state": "detected"},), signal_lqi=180,
                 unmapped=("illuminance_lux", "radar_sensitivity")),
    ),
    # Tuya MIR-HE200-TY fall model (TS0601 _TZE200_lu01t0zl): presence, occupancy, motion_speed,
    # motion_direction, fall_down_status (none / maybe_fall / fall), static_dwell_alarm, tuning.
    Model(
        "Tuya MIR-HE200-TY (fall)", "Bedroom radar", {"device": "radar-bedroom", "kind": "presence", "room": "bedroom"},
        {"presence": True, "occupancy": True, "motion_speed": 0, "motion_direction": "standing_still",
         "fall_down_status": "fall", "static_dwell_alarm": "", "illuminance": 12, "tumble_switch": "ON",
         "fall_sensitivity": 5, "tumble_alarm_time": 2, "linkquality": 150},
        Expected(events=({"type": "presence", "state": "detected"},
                         {"type": "fall", "confidence": 1.0,
                          "evidence": {"source": "radar", "status": "fall", "target_distance_m": None}}),
                 signal_lqi=150,
                 unmapped=("motion_speed", "motion_direction", "static_dwell_alarm", "illuminance", "tumble_switch",
                           "fall_sensitivity", "tumble_alarm_time")),
    ),
]  # fmt: skip

# Malformed and partial states of the same models: each refused with its reason, or mapped for what it holds.
BROKEN: list[Model] = [
    Model("SONOFF SNZB-03, occupancy as text", "Kitchen PIR", MODELS[2].entry, {"occupancy": "on"},
          Expected(rejected="wrong_type")),
    Model("Aqara MCCGQ11LM, truncated", "Front door", MODELS[3].entry, b'{"contact": fal', Expected(rejected="not_json")),
    Model("SONOFF SNZB-02, sensor fault", "Bedroom climate", MODELS[6].entry, {"temperature": -273.5},
          Expected(rejected="invalid_value")),
    Model("SONOFF SNZB-02, battery over 100", "Bedroom climate", MODELS[6].entry, {"battery": 250},
          Expected(rejected="invalid_value")),
    Model("Aqara WSDCGQ11LM, a list", "Living climate", MODELS[5].entry, b"[21.3, 45]", Expected(rejected="not_an_object")),
    Model("Tuya TS011F_plug_1, fractional link quality", "Kettle plug", MODELS[10].entry, {"linkquality": 50.5},
          Expected(rejected="wrong_type")),
    Model("Aqara JY-GZ-01AQ, smoke as a number", "Kitchen smoke", MODELS[11].entry, {"smoke": 1},
          Expected(rejected="wrong_type")),
    Model("Aqara SJCGQ11LM, not in the device map", "Cellar leak", {"device": "-", "kind": "water_leak"},
          {"water_leak": False}, Expected(rejected="unknown_device")),
    # Partial: a state with nothing but unknown or null properties maps to nothing, and is not an error.
    Model("SONOFF SNZB-03, after a re-pair", "Kitchen PIR", MODELS[2].entry, {"occupancy": None, "battery": None},
          Expected()),
    Model("Aqara RTCGQ11LM, empty", "Bedroom PIR", MODELS[0].entry, {}, Expected()),
]  # fmt: skip
