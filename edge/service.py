"""The home-gateway agent process: ``run(settings, stop)`` builds the configured driver and the agent,
and runs them until ``stop``. ConfigError when the configuration is unusable, PermanentError when
the broker refuses the home's credentials or the disk queue cannot be opened; a broker that is not
there (yet) is waited for, with backoff, and never fatal."""

from __future__ import annotations

import asyncio
import sqlite3

from edge.agent import AgentConfig, EdgeAgent
from edge.drivers.replay import ReplayDriver
from edge.drivers.simulated import SimulatedDriver
from edge.drivers.zigbee2mqtt import Zigbee2MqttDriver, load_device_map
from edge.model import Driver
from eldercare.clock import Clock
from eldercare.config import Settings, parse_mqtt_url
from eldercare.errors import ConfigError, PermanentError
from eldercare.lifecycle import clock_from


async def run(settings: Settings, stop: asyncio.Event) -> None:
    clock = clock_from(settings)
    config = AgentConfig.from_settings(settings)
    driver = build_driver(settings, config, clock)
    try:
        agent = EdgeAgent(config, driver, clock)
    except (OSError, sqlite3.Error) as exc:
        raise PermanentError(f"cannot open the disk queue at {config.queue_path}: {exc}") from exc
    await agent.run(stop)


def build_driver(settings: Settings, config: AgentConfig, clock: Clock) -> Driver:
    """The configured driver; ConfigError when its settings are missing or wrong."""
    edge = settings.edge
    if edge.driver == "zigbee2mqtt":
        if edge.zigbee2mqtt_device_map is None:
            raise ConfigError(["ELDERCARE_EDGE__ZIGBEE2MQTT_DEVICE_MAP: required by the zigbee2mqtt driver"])
        try:
            endpoint = parse_mqtt_url(edge.zigbee2mqtt_url)
        except ValueError as exc:
            raise ConfigError([f"ELDERCARE_EDGE__ZIGBEE2MQTT_URL: {exc}"]) from None
        return Zigbee2MqttDriver(
            endpoint=endpoint,
            mqtt=settings.mqtt,
            base_topic=edge.zigbee2mqtt_base_topic,
            devices=load_device_map(edge.zigbee2mqtt_device_map),
            client_id=f"eldercare-edge-{config.home_id}-z2m",
        )
    if edge.driver == "replay":
        if edge.replay_file is None:
            raise ConfigError(["ELDERCARE_EDGE__REPLAY_FILE: required by the replay driver"])
        return ReplayDriver.from_file(edge.replay_file, device_id=edge.replay_device_id, clock=clock, speed=edge.replay_speed)
    # In a standalone process nothing drives the simulated driver: the agent connects, reports its
    # status and heartbeats, and idles. The simulator drives it in-process instead.
    return SimulatedDriver(config.home_id)
