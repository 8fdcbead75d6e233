"""The ``zigbee2mqtt`` driver: reads a local zigbee2mqtt broker and maps device states to our contract.

zigbee2mqtt publishes each device's state as JSON on ``<base>/<friendly name>`` with one property
per "expose", for example ``{"occupancy": true, "battery": 87, "linkquality": 120}``. What we map:

| property | becomes |
| --- | --- |
| ``occupancy`` (bool) | ``motion`` reading; for a ``bed`` device ``bed_occupied`` plus a bed event on change |
| ``contact`` (bool, **true = closed**) | ``door_open`` reading, plus a door event on change |
| ``action`` (string) | SOS event for an ``sos_button``: single, double, hold/long, emergency, panic, sos (below) |
| ``sos`` (bool) | SOS event for an ``sos_button`` when it turns true (the binary ``sos`` preset: Feibit SEB01ZB, Konke) |
| ``power`` / ``energy`` (number) | ``power_w`` / ``energy_kwh`` readings |
| ``temperature`` / ``humidity`` (number) | ``temperature_c`` / ``humidity_pct`` readings |
| ``smoke`` / ``gas`` / ``carbon_monoxide`` / ``water_leak`` (bool) | hazard event when it turns true / false (below) |
| a ``presence`` radar's ``presence``, ``occupancy``, ``*_state`` | presence event on change; motion only while moving |
| ``fall_down_status`` ``fall`` of a ``presence`` radar | fall event with the radar's evidence (status, target distance) |
| ``battery`` (number, %), ``linkquality`` (0-255) | device health in the heartbeat; a changed battery is a reading |
| ``battery_low`` / ``tamper`` (bool) | the device's own flags, device health in the heartbeat (IAS zone status bits 3 and 2) |

Nothing a mapped device says vanishes unseen: any other property (voltage, state, a
smoke density...), an ``action`` value we do not map, and an ``sos`` or
``action`` of a device not mapped as an ``sos_button``, is counted per property name in
:attr:`Zigbee2MqttDriver.unmapped` and logged (``edge_z2m_property_unmapped``, once per device and
property). zigbee2mqtt repeats a device's cached state in every message, so a binary ``sos`` raises
an event only when it turns true. Bridge topics, ``/set`` and ``/get`` are not device states;
retained states are old news and skipped. ``<name>/availability`` (a retained one too: it is the
current availability) becomes the device's availability in the heartbeat, the JSON
``{"state": "online"}`` and the older plain ``offline`` alike. A message that cannot be mapped (not
JSON, nested too deep, not an object, a wrong type, a value outside the contract, a friendly name
missing from the device map) is logged with a reason, counted in :attr:`Zigbee2MqttDriver.rejected`,
and the driver carries on.

A hazard (``smoke``, ``gas``, ``co``, ``water_leak``) is an event ``detected`` when the alarm turns
true and ``cleared`` when it turns false, from any mapped device whatever its kind: a fire alarm is
never dropped for a wrong entry in the device map.

The alarm actions are zigbee-herdsman-converters' ``fz.command_emergency`` (IAS ACE emergency:
Tuya TS0215A_sos and its white labels, TS0601_sos, Heiman and Smart9 remotes, Develco keypads) and
``fz.command_panic`` (IAS ACE panic), and ``sos`` (Loginovo ZG-101Z).

The device map is a JSON file: ``{"<friendly name>": {"device": "<id>", "kind": "<kind>", "room": "<room>"}}``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from edge.model import DeviceRef, Sink
from eldercare import logs
from eldercare.config import MqttEndpoint, MqttSettings
from eldercare.contracts.payloads import DeviceId, DeviceKind, Hazard, Metric, Room
from eldercare.errors import ConfigError, PermanentError, TransientError
from eldercare.mqtt.edge_client import connect_edge
from eldercare.retry import Backoff, cancelled_on_stop, sleep_until

_NOT_STATES = ("/set", "/get")
_AVAILABILITY = "/availability"
_AVAILABILITY_STATES = {"online": True, "offline": False}
_MAX_STATE_BYTES = 64 * 1024  # a device state is a few hundred bytes
# action value of an sos_button -> press. The alarm actions come from zigbee-herdsman-converters'
# fz.command_emergency / fz.command_panic (IAS ACE) and from buttons that send "sos".
_SOS_PRESS = {
    "single": "single",
    "double": "double",
    "hold": "long",
    "long": "long",
    "emergency": "single",
    "panic": "single",
    "sos": "single",
    # A light remote installed as the SOS button (IKEA E1812/E1743, fz.command_on/off/toggle and
    # command_move): any press is the call; holding it sends a move.
    "on": "single",
    "off": "single",
    "toggle": "single",
    "brightness_move_up": "long",
    "brightness_move_down": "long",
}
# zigbee-herdsman-converters' binary hazard exposes (e.smoke(), e.gas(), e.carbon_monoxide(),
# e.water_leak(); the IAS zone alarm bit of fz.ias_smoke_alarm_1, ias_gas_alarm_1/2,
# ias_carbon_monoxide_alarm_1, ias_water_leak_alarm_1 and the Aqara/Tuya converters) -> hazard.
_HAZARDS = {"smoke": Hazard.SMOKE, "gas": Hazard.GAS, "carbon_monoxide": Hazard.CO, "water_leak": Hazard.WATER_LEAK}
# mmWave radar exposes (Tuya ZY-M100 and TS0601 radars, Aqara FP1...): presence / occupancy (bool),
# presence_state and motion_state (enums whose values differ by model), fall_down_status (Tuya
# MIR-HE200-TY fall models: none, maybe_fall, fall), target_distance (m).
_RADAR = frozenset({"presence", "occupancy", "presence_state", "motion_state", "fall_down_status", "target_distance"})
_RADAR_MOVING = frozenset(
    {"move", "moving", "motion", "small_move", "large_move", "small_movement", "large_movement", "small", "medium", "large"}
)
_RADAR_STILL = frozenset({"presence", "present", "peaceful", "static", "stationary", "occupied"})
_RADAR_ABSENT = frozenset({"none", "absent", "unoccupied", ""})
_NUMERIC = {
    "power": Metric.POWER_W,
    "energy": Metric.ENERGY_KWH,
    "temperature": Metric.TEMPERATURE_C,
    "humidity": Metric.HUMIDITY_PCT,
}


class MapEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    device: DeviceId
    kind: DeviceKind
    room: Room | None = None


_MAP = TypeAdapter(dict[str, MapEntry])
_STATE = TypeAdapter(dict[str, Any])
# What map_state reads; every other property of a mapped device is reported as unmapped.
_MAPPED = frozenset(
    {"occupancy", "contact", "action", "battery", "linkquality", "sos", "battery_low", "tamper", *_NUMERIC, *_HAZARDS}
)


def load_device_map(path: Path) -> dict[str, DeviceRef]:
    """Read the friendly-name map; ConfigError (listing every problem) when it is unusable."""
    try:
        entries = _MAP.validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError([f"ELDERCARE_EDGE__ZIGBEE2MQTT_DEVICE_MAP: cannot read {path}: {exc.strerror}"]) from None
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)]
        raise ConfigError(problems) from None
    return {name: DeviceRef(e.device, e.kind, e.room) for name, e in entries.items()}


class RejectedError(Exception):
    """One zigbee2mqtt message that cannot be mapped; ``reason`` is a stable counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Mapped:
    """What one device state becomes."""

    readings: tuple[tuple[Metric, float], ...] = ()
    events: tuple[Mapping[str, object], ...] = ()
    battery_pct: float | None = None
    signal_lqi: int | None = None
    battery_low: bool | None = None
    tamper: bool | None = None
    unmapped: tuple[str, ...] = ()  # property names (or "action:<value>") this state carried that we do not map


def parse_state(payload: bytes) -> dict[str, Any]:
    """The state object; never raises anything but RejectedError (pydantic-core's parser bounds depth)."""
    if len(payload) > _MAX_STATE_BYTES:
        raise RejectedError("too_large", f"{len(payload)} bytes, limit {_MAX_STATE_BYTES}")
    try:
        return _STATE.validate_json(payload)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        if error["type"] == "json_invalid":
            raise RejectedError("not_json", f"payload is not JSON: {error['msg']}") from None
        raise RejectedError("not_an_object", "expected a JSON object") from None


def parse_availability(payload: bytes) -> bool:
    """zigbee2mqtt's ``<name>/availability``: ``{"state": "online"}`` (JSON, zigbee2mqtt 1.x
    ``advanced.legacy_availability_payload: false`` and 2.x) or the older plain ``online`` /
    ``offline``; True when online. Anything else raises RejectedError."""
    text = payload.strip()
    state = parse_state(text).get("state") if text.startswith(b"{") else text.decode("ascii", errors="replace")
    if not isinstance(state, str) or state not in _AVAILABILITY_STATES:
        raise RejectedError("bad_availability", "availability is neither online nor offline")
    return _AVAILABILITY_STATES[state]


def _bool(state: Mapping[str, Any], key: str) -> bool | None:
    value = state.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise RejectedError("wrong_type", f"{key}: expected true or false, got {type(value).__name__}")


def _number(state: Mapping[str, Any], key: str) -> float | None:
    value = state.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RejectedError("wrong_type", f"{key}: expected a number, got {type(value).__name__}")
    return float(value)


def map_state(device: DeviceRef, state: Mapping[str, Any], previous: dict[str, str]) -> Mapped:
    """Translate one zigbee2mqtt state object. ``previous`` holds the last door/bed state per device
    (updated here) so that an event is sent on a change, not on every periodic report."""
    readings: list[tuple[Metric, float]] = []
    events: list[Mapping[str, object]] = []
    occupancy = _bool(state, "occupancy")
    if occupancy is not None and device.kind is not DeviceKind.PRESENCE:  # a radar's occupancy is presence
        if device.kind is DeviceKind.BED:
            readings.append((Metric.BED_OCCUPIED, float(occupancy)))
            _on_change(events, previous, device.id, "bed", "occupied" if occupancy else "vacated")
        else:
            readings.append((Metric.MOTION, float(occupancy)))
    contact = _bool(state, "contact")
    if contact is not None:
        # zigbee2mqtt's contact is true when the magnet touches, i.e. the door is CLOSED.
        readings.append((Metric.DOOR_OPEN, 0.0 if contact else 1.0))
        _on_change(events, previous, device.id, "door", "closed" if contact else "open")
    radar = device.kind is DeviceKind.PRESENCE
    unmapped = [key for key in state if key not in _MAPPED and not (radar and key in _RADAR)]
    if radar:
        _radar(device, state, previous, readings, events, unmapped)
    sos_events, ignored = _sos(device, state, previous)
    events.extend(sos_events)
    unmapped.extend(ignored)
    events.extend(_hazard_events(device, state, previous))
    for key, metric in _NUMERIC.items():
        value = _number(state, key)
        if value is not None:
            readings.append((metric, value))
    battery = _number(state, "battery")
    lqi = _number(state, "linkquality")
    if lqi is not None and not lqi.is_integer():
        raise RejectedError("wrong_type", "linkquality: expected an integer")
    return Mapped(
        tuple(readings),
        tuple(events),
        battery,
        None if lqi is None else int(lqi),
        _bool(state, "battery_low"),
        _bool(state, "tamper"),
        tuple(unmapped),
    )


def _radar(
    device: DeviceRef,
    state: Mapping[str, Any],
    previous: dict[str, str],
    readings: list[tuple[Metric, float]],
    events: list[Mapping[str, object]],
    unmapped: list[str],
) -> None:
    """An mmWave radar: present (moving or still) or not, and its own fall report.

    Presence is no sign of activity: a resident lying still on the floor is present. So only a
    moving target is a motion reading; presence is an event when it starts or ends."""
    present = _bool(state, "presence")
    if present is None:
        present = _bool(state, "occupancy")
    for key in ("presence_state", "motion_state"):
        value = _text(state, key)
        if value is None:
            continue
        if value in _RADAR_ABSENT:  # presence_state "none": nobody; motion_state "none": nobody moving
            present = False if present is None and key == "presence_state" else present
        elif value in _RADAR_MOVING or value in _RADAR_STILL:
            present = True
            if value in _RADAR_MOVING:
                readings.append((Metric.MOTION, 1.0))
        else:
            unmapped.append(f"{key}:{value}")  # a state this model names that we do not know yet
    if present is not None:
        _on_change(events, previous, device.id, "presence", "detected" if present else "cleared")
    fall = _text(state, "fall_down_status")
    if fall is not None:
        slot = f"{device.id}/fall"
        if fall == "fall" and previous.get(slot) != "fall":
            distance = _number(state, "target_distance")
            evidence = {"source": "radar", "status": fall, "target_distance_m": distance}
            # The radar's own verdict: it gives no confidence, so the event carries full confidence.
            events.append({"type": "fall", "confidence": 1.0, "evidence": evidence})
        previous[slot] = fall


def _text(state: Mapping[str, Any], key: str) -> str | None:
    value = state.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RejectedError("wrong_type", f"{key}: expected a string, got {type(value).__name__}")


def _hazard_events(device: DeviceRef, state: Mapping[str, Any], previous: dict[str, str]) -> list[Mapping[str, object]]:
    """A hazard event per alarm that changed; zigbee2mqtt repeats the cached state in every message
    (a battery report says ``"smoke": false`` again), so only a change is an event, and a first
    ``false`` after the agent started is no news."""
    events: list[Mapping[str, object]] = []
    for key, hazard in _HAZARDS.items():
        on = _bool(state, key)
        if on is None:
            continue
        slot = f"{device.id}/{key}"
        now_state = "detected" if on else "cleared"
        if previous.get(slot, "cleared") != now_state:
            events.append({"type": "hazard", "hazard": hazard.value, "state": now_state})
        previous[slot] = now_state
    return events


def _on_change(events: list[Mapping[str, object]], previous: dict[str, str], device_id: str, kind: str, state: str) -> None:
    if previous.get(device_id) != state:
        previous[device_id] = state
        events.append({"type": kind, "state": state})


def _sos(device: DeviceRef, state: Mapping[str, Any], previous: dict[str, str]) -> tuple[list[Mapping[str, object]], list[str]]:
    """SOS events from ``action`` and the binary ``sos``, and what of them we could not map."""
    events: list[Mapping[str, object]] = []
    ignored: list[str] = []
    action = state.get("action")
    if action is not None and not isinstance(action, str):
        raise RejectedError("wrong_type", f"action: expected a string, got {type(action).__name__}")
    sos = _bool(state, "sos")
    if device.kind is not DeviceKind.SOS_BUTTON:
        ignored.extend(key for key in ("action", "sos") if key in state and state[key] not in (None, ""))
        return events, ignored
    if action:  # zigbee2mqtt clears the action property ("") after each press
        press = _SOS_PRESS.get(action)
        if press is None:
            ignored.append(f"action:{action}")  # releases, rotations, a new model's alarm: seen, not reported
        else:
            events.append({"type": "sos", "press": press})
    if sos is not None:
        key = f"{device.id}/sos"  # edge, not level: every message repeats the cached state
        if sos and previous.get(key) != "on" and not events:
            events.append({"type": "sos", "press": "single"})
        previous[key] = "on" if sos else "off"
    return events, ignored


class Zigbee2MqttDriver:
    """Subscribes to ``<base_topic>/#`` on the zigbee2mqtt broker; reconnects with backoff."""

    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        mqtt: MqttSettings,
        base_topic: str,
        devices: Mapping[str, DeviceRef],
        client_id: str,
    ) -> None:
        self._endpoint = endpoint
        self._mqtt = mqtt
        self._base = base_topic.rstrip("/")
        self._devices = dict(devices)
        self._client_id = client_id
        self._previous: dict[str, str] = {}
        self._log = logs.get("edge").bind(driver="zigbee2mqtt")
        self._reconnect = Backoff(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.unmapped: Counter[str] = Counter()  # per property name, over every message of a mapped device
        self._unmapped_logged: set[tuple[str, str]] = set()
        self.subscribed = asyncio.Event()
        self.sessions = 0  # subscriptions made so far (reconnects included)

    async def run(self, sink: Sink, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await cancelled_on_stop(stop, self._session(sink)):
                    return
            except PermanentError:
                self._log.error("edge_z2m_connection_refused")
                raise
            except TransientError as exc:
                if self.subscribed.is_set():
                    self._reconnect.reset()  # the session worked; start the backoff afresh
                self.subscribed.clear()
                delay = self._reconnect.next_delay()
                self._log.warning("edge_z2m_disconnected", error=str(exc), retry_in_s=round(delay, 2))
                await sleep_until(stop, delay)

    async def _session(self, sink: Sink) -> None:
        async with connect_edge(self._mqtt, self._endpoint, client_id=self._client_id, persistent=False) as conn:
            await conn.subscribe(f"{self._base}/#", timeout_s=self._mqtt.connect_timeout_s)
            self._log.info("edge_z2m_subscribed", devices=len(self._devices))
            self.sessions += 1
            self.subscribed.set()
            async for incoming in conn.messages():
                self.handle(sink, incoming.topic, incoming.payload, retained=incoming.retain)

    def handle(self, sink: Sink, topic: str, payload: bytes, *, retained: bool = False) -> None:
        """Map one zigbee2mqtt message into ``sink``; a bad one is logged and counted, never raised.

        A retained device state is old news (skipped); a retained availability is the current one."""
        name = topic[len(self._base) + 1 :] if topic.startswith(self._base + "/") else ""
        if not name or name.startswith("bridge/") or name.endswith(_NOT_STATES):
            return
        available = name.endswith(_AVAILABILITY)
        if available:
            name = name[: -len(_AVAILABILITY)]
        elif retained:
            return
        device = self._devices.get(name)
        try:
            if device is None:
                raise RejectedError("unknown_device", "no entry in the device map for this friendly name")
            if available:
                sink.availability(device, parse_availability(payload))
            else:
                self._apply(sink, device, map_state(device, parse_state(payload), self._previous))
        except RejectedError as exc:
            self._reject(exc.reason, str(exc), name if device is None else None, device)
            return
        except ValueError as exc:  # the sink refused a value outside the contract
            self._reject("invalid_value", str(exc), None, device)
            return
        self.accepted += 1

    def _apply(self, sink: Sink, device: DeviceRef, mapped: Mapped) -> None:
        self._note_unmapped(device, mapped.unmapped)
        flags = (mapped.battery_pct, mapped.signal_lqi, mapped.battery_low, mapped.tamper)
        if any(value is not None for value in flags):
            sink.health(
                device,
                battery_pct=mapped.battery_pct,
                signal_lqi=mapped.signal_lqi,
                battery_low=mapped.battery_low,
                tamper=mapped.tamper,
            )
        for metric, value in mapped.readings:
            sink.reading(device, metric, value)
        for event in mapped.events:
            sink.event(device, event)

    def _note_unmapped(self, device: DeviceRef, names: tuple[str, ...]) -> None:
        self.unmapped.update(names)
        for name in names:
            if (device.id, name) not in self._unmapped_logged:  # once per device and property: no log flood
                self._unmapped_logged.add((device.id, name))
                self._log.warning("edge_z2m_property_unmapped", device=device.id, kind=device.kind.value, property=name)

    def _reject(self, reason: str, detail: str, friendly_name: str | None, device: DeviceRef | None) -> None:
        self.rejected[reason] += 1
        self._log.error(
            "edge_z2m_message_rejected",
            reason=reason,
            detail=detail,
            device=device.id if device else None,
            friendly_name=friendly_name,  # only for unknown devices: the operator must add it to the map
            rejected_total=sum(self.rejected.values()),
        )
