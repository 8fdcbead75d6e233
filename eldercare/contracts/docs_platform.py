"""The parts of ``docs/protocol.md`` about what the platform does with a gateway's messages: online and
offline, heartbeats, the alerts each message can open, and the gateway's config.

Every figure is read from the code that acts on it (the settings' defaults, the rule settings'
defaults, the alert catalogue, the config model), so the reference changes when the behaviour does
and ``tests/contracts/test_protocol_doc.py`` fails until it is regenerated.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from eldercare.config import AlertsSettings, EdgeSettings, GatewaysSettings, IngestSettings, MqttSettings
from eldercare.contracts.payloads import GatewayConfig
from eldercare.contracts.topics import ORIGIN_PROPERTY, VERSION
from eldercare.domain.activity import PLUG_ACTIVITY_W
from eldercare.domain.alerts.catalogue import KINDS
from eldercare.domain.rule_settings import DEFAULT_RULES


def default(model: type[BaseModel], name: str) -> Any:
    """The default of one field of a pydantic model (what a setting is when nobody sets it)."""
    field = model.model_fields[name]
    return field.default_factory() if field.default is PydanticUndefined else field.default  # type: ignore[call-arg, misc]


def duration(seconds: float) -> str:
    """``300 s (5 min)``: the exact figure and a reading aid."""
    seconds = float(seconds)
    exact = f"{seconds:g} s"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{exact} ({seconds / 3600:g} h)"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{exact} ({seconds / 60:g} min)"
    return exact


R = DEFAULT_RULES
KEEPALIVE_S = default(MqttSettings, "keepalive_s")
SESSION_EXPIRY_S = default(MqttSettings, "session_expiry_s")
EVALUATION_S = default(AlertsSettings, "evaluation_interval_s")
CLEAR_HOLD_S = default(AlertsSettings, "clear_hold_s")
STALE_AFTER_S = default(AlertsSettings, "platform_stale_after_s")
HEARTBEAT_S = default(GatewayConfig, "heartbeat_interval_s")
CONFIG_POLL_S = default(IngestSettings, "config_poll_interval_s")
CONFIG_REPUBLISH_S = default(IngestSettings, "config_republish_interval_s")
#: Where the platform takes each field of a home's config from (ingest/configs.py builds it).
CONFIG_SOURCES: dict[str, str] = {
    "revision": "milliseconds since 1970 when the platform built it, and always above the home's last",
    "ts": "",
    "timezone": "the home's, as registered",
    "heartbeat_interval_s": "the operator's, for every gateway (`ELDERCARE_GATEWAYS__HEARTBEAT_INTERVAL_S`)",
    "batch_max_readings": "the operator's (`ELDERCARE_GATEWAYS__BATCH_MAX_READINGS`)",
    "batch_max_delay_s": "the operator's (`ELDERCARE_GATEWAYS__BATCH_MAX_DELAY_S`)",
    "fall_detection_enabled": "the fall rule of the home's first resident (`true` without residents)",
    "devices": "the devices registered to the home (the first 256 by id), with the room last reported",
}
#: What our agent's settings choose before a config arrives (their defaults are the config's).
EDGE_TUNING = tuple(name for name in EdgeSettings.model_fields if name in GatewayConfig.model_fields and name != "home_id")
# Mosquitto (and the MQTT spec) close a connection silent for 1.5 keepalive periods; the will follows.
KEEPALIVE_GRACE = 1.5

# How each alert kind comes from what a gateway sends, with the default limits (a care centre changes
# them per resident: the resident's rule settings). render() refuses a catalogue kind missing here.
_PERSON = (
    f"sign of a person (`motion` 1, any `door_open` or `bed_occupied` reading, `power_w` above {PLUG_ACTIVITY_W:g} W, any event "
    "but a `hazard` or a `presence` `cleared`)"
)
TRIGGERS: dict[str, str] = {
    "fall": f"an `events` message with a `fall` event: pending (nobody told) until {R.fall.cancel_window_s} s after its "
    '`ts`, when it is raised unless the resident pressed "I\'m OK" (an `sos` `single` press in that window: closed, '
    "nobody called) or moved in another room (raised `medium`); a `confidence` below "
    f"{R.fall.alarm_confidence:g} only after {duration(R.fall.soft_confirm_s)} with no sign of a person; while the "
    "`bed` says occupied, only if the bed then empties with no `motion` elsewhere",
    "long_lie": f"after a `fall`, no `motion` anywhere for {duration(R.fall.long_lie_s)}",
    "sos": "an `events` message with an `sos` event, any `press` (opened at once, whatever its timestamp); a `single` "
    "press within a pending fall's window is that fall's \"I'm OK\" instead (send a `fall` the press answers in the same "
    "message or before it)",
    "inactivity": f"no {_PERSON} for longer than the resident's learned limit; until {R.inactivity.min_history_days} "
    f"days of history, {duration(R.inactivity.default_threshold_s)} by day and "
    f"{duration(R.inactivity.default_night_threshold_s)} at night; never sooner than {duration(R.inactivity.floor_s)}",
    "not_up": "no sign of a person by the resident's learned getting-up time plus a margin",
    "long_absence": "out (the front door, then silence) for much longer than the resident's learned outings",
    "bed_exit": "out of bed at night (`bed_occupied` 0 or a `bed` `vacated` event) and no movement for longer than "
    "the resident's own night-time pauses",
    "night_wandering": f"the door opened between {R.night_wandering.night_start:%H:%M} and "
    f"{R.night_wandering.night_end:%H:%M} (home's timezone) and no `motion` inside for "
    f"{duration(R.night_wandering.return_within_s)}",
    "bathroom_dwell": f"`motion` only in the `{R.bathroom.room.value}` for {duration(R.bathroom.max_dwell_s)}",
    "still_present": "a `presence` device's last `presence` event `detected` (the device not offline), and no "
    f"{_PERSON} since for longer than the resident's learned limit (the inactivity limit of that context); "
    "while a radar reports presence, `inactivity`, `long_absence`, `bed_exit` and `night_wandering` do not fire",
    "missed_meal": f"no {_PERSON} in the `kitchen` (its `motion`, a fridge `door_open`, an appliance's `power_w`) "
    "today by the resident's learned usual time for a meal she takes at home on most days (breakfast 04:00-11:00, "
    f"lunch 11:00-15:00, dinner 16:00-21:00) plus {duration(R.meals.margin_s)}; not while she is out or went out "
    "after the meal's window opened",
    "door_left_open": f"the door open (`door_open` 1 or a `door` `open` event) for {duration(R.door_open.max_open_s)}",
    "cold_home": f"every `temperature_c` reading over {duration(R.cold.hold_s)} below {R.cold.below_c:g} °C "
    f"(clears {R.cold.clear_margin_c:g} °C above)",
    "low_battery": f"a device's `battery_pct` (a reading or the heartbeat) below {R.battery.below_pct:g} "
    f"(clears at {R.battery.clear_above_pct:g}), or its own heartbeat `battery_low` true",
    "device_offline": "a device silent (no reading, event or heartbeat `last_seen`) beyond 2 x its learned longest "
    f"silence + 15 min (at least {duration(R.devices.offline_after_s)}, at most 26.1 h; before it is learned 26.1 h "
    "for battery devices), or its heartbeat `availability` `offline` since it last spoke",
    "device_tampered": "a device's heartbeat `tamper` true (clears when false)",
    "smoke": "an `events` message with a `hazard` event, `hazard` `smoke`, `state` `detected` (opened at once)",
    "gas": "an `events` message with a `hazard` event, `hazard` `gas`, `state` `detected` (opened at once)",
    "co": "an `events` message with a `hazard` event, `hazard` `co`, `state` `detected` (opened at once)",
    "water_leak": "an `events` message with a `hazard` event, `hazard` `water_leak`, `state` `detected` "
    "(opened at once, notified in quiet hours too)",
    "no_motion_sensor": f"the gateway online for {duration(R.devices.offline_after_s)} and no `motion` or `presence` "
    "device ever reported",
    "gateway_offline": f"the gateway's `status` `offline` (a clean shutdown or its last will) for "
    f"{duration(R.devices.gateway_offline_after_s)}",
}


def render() -> str:
    missing = sorted(set(KINDS) - set(TRIGGERS))
    unknown = sorted(set(TRIGGERS) - set(KINDS))
    if missing or unknown:
        raise ValueError(f"alert kinds without a trigger in the protocol reference: {missing}; triggers of no kind: {unknown}")
    return "\n".join([_presence(), _alerts(), _config()])


def _presence() -> str:
    will_s = KEEPALIVE_S * KEEPALIVE_GRACE
    worst_s = will_s + R.devices.gateway_offline_after_s + EVALUATION_S
    return f"""## Online, offline and heartbeats

- **Keepalive**: our agent uses {KEEPALIVE_S} s. The broker closes a connection it has heard nothing on
  for 1.5 keepalive periods ({will_s:g} s with ours) and then publishes the last will at once (set no
  will delay). A longer keepalive delays the platform's knowledge of a lost gateway by as much.
- **Session expiry**: our agent asks for {duration(SESSION_EXPIRY_S)}. It only decides how long the
  broker keeps the gateway's session (its subscription to `config`) while it is away; it does not
  delay the will, so it does not change offline detection. The retained `config` arrives on every
  subscription whatever the session.
- **Offline, both ways**: the platform marks the home offline when it receives an `offline` status:
  a clean shutdown (`"reason": "shutdown"`, dated by its `ts`) and a last will (`"reason":
  "connection_lost"`, dated by its arrival; any other reason is dated by its `ts`) alike. If the
  home is still offline {duration(R.devices.gateway_offline_after_s)} later, the alert engine opens a
  `gateway_offline` alert (severity `{KINDS["gateway_offline"].severity}`) at its next pass (every
  {EVALUATION_S:g} s). So a clean shutdown raises it too: a gateway restarting for an update must be
  back `online` within that time. With our keepalive, a gateway that loses power is alerted at most
  about {worst_s:g} s after its last packet. The alert resolves itself once the gateway has been
  `online` for {duration(CLEAR_HOLD_S)}. While the gateway is offline, the welfare checks (inactivity
  and the others) are paused: a silent home is not taken for a silent person.
- **Heartbeats are required**: send one every `heartbeat_interval_s` of the config (default
  {duration(HEARTBEAT_S)}), from the first connection on. The platform uses them to know each device is
  alive (a device with nothing to report is `device_offline` after {duration(R.devices.offline_after_s)}
  unless a heartbeat lists it with a recent `last_seen`), to read batteries and link quality, to see
  the gateway's queue depth, and to measure its clock (see Timestamps). The platform also watches
  itself: when gateways are online but nothing from any home has been stored for
  {duration(STALE_AFTER_S)}, it tells every care centre that alerts may be delayed. A quiet home's
  heartbeats are what keeps that check true.
- **Sequence numbers**: start each device at 0 and add one per reading or event; our agent keeps one
  counter per device, shared by its readings and events, in the same disk transaction as the message
  that uses it, so a restart or a power cut never reuses a number.
"""


def _alerts() -> str:
    rows = "\n".join(
        f"| `{key}` | {k.names.en} / {k.names.zh} | {k.severity} | {TRIGGERS[key]} | "
        f"{'the platform, when clear for ' + duration(CLEAR_HOLD_S) if k.auto_resolve else 'care staff'} |"
        for key, k in KINDS.items()
    )
    return f"""## Alerts your messages open

The alert engine turns what a home's gateway sends into alerts for its care centre. Each kind has one
severity (a `critical` alert is never held back by quiet hours and escalates soonest). The limits
below are the defaults; a care centre changes them per resident (the resident's rule settings), and
may switch a kind off. `fall` and `sos` are judged the moment ingest stores the event; the others at
the engine's next pass (every {EVALUATION_S:g} s). The same kind stays one open alert per home until it
is resolved.

| alert | name | severity | opened when | resolved by |
| --- | --- | --- | --- | --- |
{rows}
"""


def _config() -> str:
    fields = GatewayConfig.model_fields
    missing = set(fields) - {"home_id"} - set(CONFIG_SOURCES)
    if missing or set(GatewaysSettings.model_fields) - set(fields):
        raise ValueError(f"config fields without a source in the protocol reference: {sorted(missing)}")
    rows = "\n".join(
        f"| `{name}` | {_shown_default(name)} | {field.description or ''} | {CONFIG_SOURCES[name]} |"
        for name, field in fields.items()
        if name != "home_id"
    )
    edge = [f"`ELDERCARE_EDGE__{name.upper()}`" for name in EDGE_TUNING]
    return f"""## The gateway's config

The platform publishes each home's config as a retained message on `<root>/{VERSION}/<home id>/config`
(QoS 1, with the user property `{ORIGIN_PROPERTY[0]}: {ORIGIN_PROPERTY[1]}`). It publishes a new revision when the
home is registered and whenever something the config carries changes: the home's timezone, a
resident's rule settings, a device registered, moved to another room or removed. The change and
its request to publish are committed together, and ingest publishes it within about
{CONFIG_POLL_S:g} s, or as soon as it runs again if it was down. Ingest also publishes every home's
config again when it starts and every {duration(CONFIG_REPUBLISH_S)}, with the same revision, so a
broker that lost its retained messages has them back.

A gateway subscribes to its `config` topic right after connecting (before it says `online`) and
applies a config only when its `revision` is above the last one applied; an older or equal revision
is ignored, and an empty retained message (a deleted config) leaves the applied one in place. A
gateway never publishes on its `config` topic: the broker refuses it (MQTT 5 reason 0x87), and
anything that did reach the platform would be dead-lettered as `wrong_direction`.

**Before the first config** (a new gateway, or one that starts without the broker) the gateway uses
the defaults below. Our agent takes them from its settings, whose defaults are these same values
({", ".join(edge)}), and the rooms its driver knows. Once a config is applied, our agent keeps it on
disk and starts from it after a restart; a new heartbeat interval takes effect at once (a heartbeat
goes out when the config is applied).

| field | default | meaning | the platform sends |
| --- | --- | --- | --- |
{rows}
"""


def _shown_default(name: str) -> str:
    if GatewayConfig.model_fields[name].is_required():
        return "—"
    value = default(GatewayConfig, name)
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[]`"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{value:g}`"
