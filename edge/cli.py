"""``eldercare edge``: run the home-gateway agent with the driver named by ELDERCARE_EDGE__DRIVER.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 when the broker refuses the home's credentials
or the disk queue cannot be opened, 2 when the configuration is unusable.
"""

from __future__ import annotations

import asyncio
import sqlite3

import click

from edge.agent import AgentConfig, EdgeAgent
from edge.drivers.replay import ReplayDriver
from edge.drivers.simulated import SimulatedDriver
from edge.drivers.zigbee2mqtt import Zigbee2MqttDriver, load_device_map
from edge.model import Driver
from eldercare import logs
from eldercare.cli_support import fail, fail_config, settings_or_exit
from eldercare.clock import Clock
from eldercare.config import Settings, parse_mqtt_url
from eldercare.errors import ConfigError, PermanentError
from eldercare.lifecycle import clock_from, run_until_stopped


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


async def _run(config: AgentConfig, driver: Driver, clock: Clock) -> None:
    try:
        agent = EdgeAgent(config, driver, clock)
    except (OSError, sqlite3.Error) as exc:
        raise PermanentError(f"cannot open the disk queue at {config.queue_path}: {exc}") from exc
    await run_until_stopped(agent.run)


@click.command("edge")
def command() -> None:
    """Run the home-gateway agent: sensor driver, fall detection, disk queue, MQTT uplink."""
    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    clock = clock_from(settings)
    try:
        config = AgentConfig.from_settings(settings)
        driver = build_driver(settings, config, clock)
    except ConfigError as exc:
        fail_config(exc.problems)
    try:
        asyncio.run(_run(config, driver, clock))
    except PermanentError as exc:
        fail(str(exc))
