"""A home gateway written from docs/protocol.md alone, as a device maker would: paho-mqtt and the
standard library, nothing of the eldercare project (tests/e2e/test_third_party_gateway.py checks the
imports). Each rule it follows is the doc's, quoted in the comments."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

# "Before the first config ... the gateway uses the defaults below."
DEFAULTS = {"heartbeat_interval_s": 300.0, "batch_max_readings": 200, "batch_max_delay_s": 2.0}
MAX_READINGS_PER_MESSAGE = 1000  # "at most 1000 per message and at most 262144 bytes"
MAX_PAYLOAD_BYTES = 262_144


def rfc3339(moment: datetime) -> str:
    """ "RFC 3339 with an offset (2026-03-01T07:30:00Z)"."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Gateway:
    def __init__(self, host: str, port: int, *, root: str, home_id: str, password: str | None = None) -> None:
        self.home_id = home_id
        self._root = root
        self.config: dict[str, Any] | None = None
        self.configs_ignored = 0
        self._next_seq: dict[str, int] = {}  # a real gateway persists these; the doc says so
        self._config_arrived = threading.Event()
        self._connected = threading.Event()
        self._host, self._port = host, port
        # "Client id: stable per gateway, for example gw-<home id>"; "Username = the home id".
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{home_id}", protocol=mqtt.MQTTv5)
        self._client.username_pw_set(home_id, password)
        # "A session's online status and its last will carry the same ts, the session's start."
        self._session_start = rfc3339(datetime.now(UTC))
        will = self._status("offline", "connection_lost", self._session_start)
        self._client.will_set(self.topic("status"), will, qos=1, retain=True)
        self._client.on_connect = lambda *_: self._connected.set()
        self._client.on_message = self._on_message

    def topic(self, kind: str) -> str:
        return f"{self._root}/v1/{self.home_id}/{kind}"

    def setting(self, name: str) -> Any:
        return (self.config or DEFAULTS)[name]

    def connect(self, timeout_s: float = 30) -> None:
        # "use a persistent session (clean start off, a session expiry)"; keepalive as the agent's.
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 86_400
        self._client.connect(self._host, self._port, keepalive=30, clean_start=False, properties=properties)
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            raise TimeoutError("no CONNACK")
        # "After connecting (and subscribing to its config topic) the gateway publishes a retained status online."
        self._client.subscribe(self.topic("config"), qos=1)
        self._publish("status", self._status("online", "connected", self._session_start), retain=True)

    def wait_for_config(self, timeout_s: float = 30) -> dict[str, Any]:
        if not self._config_arrived.wait(timeout_s):
            raise TimeoutError("no config")
        assert self.config is not None
        return self.config

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return  # "an empty retained message ... leaves the applied one in place"
        config = json.loads(message.payload)
        # "applies a config only when its revision is above the last one applied"
        if self.config is not None and config["revision"] <= self.config["revision"]:
            self.configs_ignored += 1
            return
        self.config = config
        self._config_arrived.set()

    def reading(self, device: str, kind: str, metric: str, value: float, ts: datetime, room: str | None = None) -> dict[str, Any]:
        # "seq is a per-device counter that starts at 0, only increases"
        seq = self._next_seq.get(device, 0)
        self._next_seq[device] = seq + 1
        item = {"device": device, "kind": kind, "seq": seq, "ts": rfc3339(ts), "metric": metric, "value": value}
        if room is not None:
            item["room"] = room
        return item

    def batches(self, readings: list[dict[str, Any]]) -> list[bytes]:
        """Readings sealed at the config's batch_max_readings, never over the count or byte limits."""
        limit = min(int(self.setting("batch_max_readings")), MAX_READINGS_PER_MESSAGE)
        payloads = []
        for start in range(0, len(readings), limit):
            payload = _compact({"home_id": self.home_id, "readings": readings[start : start + limit]})
            assert len(payload) <= MAX_PAYLOAD_BYTES
            payloads.append(payload)
        return payloads

    def send(self, kind: str, payload: bytes) -> None:
        """QoS 1; "keep a message ... until its PUBACK arrives" (here: wait for it)."""
        self._publish(kind, payload)

    def heartbeat(self, uptime_s: float) -> None:
        self._publish("heartbeat", _compact({"home_id": self.home_id, "ts": rfc3339(datetime.now(UTC)), "uptime_s": uptime_s,
                                             "queue_depth": 0}))  # fmt: skip

    def shutdown(self) -> None:
        """ "before a clean disconnect, a retained offline with reason shutdown"."""
        self._publish("status", self._status("offline", "shutdown", rfc3339(datetime.now(UTC))), retain=True)
        self._client.disconnect()
        self._client.loop_stop()

    def _status(self, state: str, reason: str, ts: str) -> bytes:
        return _compact({"home_id": self.home_id, "state": state, "ts": ts, "reason": reason, "agent_version": "acme-1.0"})

    def _publish(self, kind: str, payload: bytes, *, retain: bool = False) -> None:
        info = self._client.publish(self.topic(kind), payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=30)


def _compact(document: dict[str, Any]) -> bytes:
    # "In compact JSON (no spaces) the largest possible reading adds 240 bytes"
    return json.dumps(document, separators=(",", ":")).encode()
