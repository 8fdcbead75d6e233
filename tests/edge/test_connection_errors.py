"""Which MQTT failures end a gateway's agent (refused credentials) and which it rides out (everything else)."""

from __future__ import annotations

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from eldercare.errors import PermanentError, TransientError
from eldercare.mqtt import translate


def test_a_client_that_is_not_connected_is_a_transient_problem_not_bad_credentials() -> None:
    # paho's MQTT_ERR_NO_CONN is 4, like MQTT 3.1.1's CONNACK "bad user name or password": in a chaos
    # run two gateways met it while the broker restarted, and their agents stopped for good.
    assert isinstance(translate(aiomqtt.MqttCodeError(4, "Could not subscribe to topic")), TransientError)
    assert isinstance(translate(aiomqtt.MqttCodeError(5, "Unexpected disconnection")), TransientError)


def test_refused_credentials_are_permanent() -> None:
    assert isinstance(translate(MqttConnectError(4)), PermanentError)  # MQTT 3.1.1 CONNACK
    assert isinstance(translate(MqttConnectError(ReasonCode(PacketTypes.CONNACK, identifier=0x86))), PermanentError)
    assert isinstance(translate(MqttConnectError(3)), TransientError)  # server unavailable: try again
