"""The edge agent: one per home gateway (or per virtual home in the simulator).

``EdgeAgent(config, driver, clock).run(stop)`` wires a driver to the intake (validation, batching,
fall detection, sequence numbers, disk queue) and the uplink (MQTT session, queue replay, status,
heartbeats, config). It is cheap: a handful of asyncio tasks, one SQLite connection and one MQTT
connection, no threads; thousands run in one process. Stop order on ``stop``: the driver stops,
the partial batch is queued, the uplink drains within ``shutdown_grace_s`` and says ``offline``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from edge.devices import DeviceRegistry
from edge.intake import Intake, Tuning
from edge.model import Driver
from edge.queue import DiskQueue
from edge.uplink import Uplink, UplinkConfig
from eldercare import __version__, logs
from eldercare.clock import Clock
from eldercare.config import MqttEndpoint, MqttSettings, Settings
from eldercare.contracts.payloads import GatewayConfig
from eldercare.contracts.topics import valid_home_id
from eldercare.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything one agent needs; build it directly (simulator) or with :meth:`from_settings` (CLI)."""

    home_id: str
    endpoint: MqttEndpoint  # the platform broker, with this home's credentials
    queue_path: Path
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    client_id: str = ""  # default "gw-<home id>"
    batch_max_readings: int = 200
    batch_max_delay_s: float = 2.0
    heartbeat_interval_s: float = 300.0
    queue_max_messages: int = 200_000
    queue_sync: Literal["full", "normal"] = "full"
    max_unacked_messages: int = 100
    ack_timeout_s: float = 10.0
    shutdown_grace_s: float = 5.0
    activity_interval_s: float = 60.0
    # Apply the config's heartbeat and batching values. The simulator keeps its own: it stretches them
    # with its clock's speed so that thousands of virtual homes fit on one machine.
    platform_tuning: bool = True
    # Keep each message until ingest acknowledges its commit (edge/commits.py), not merely its PUBACK.
    commit_ack: bool = True  # eldercare/config.py EdgeSettings.commit_ack; False: a message leaves the queue at its PUBACK
    max_awaiting_commit: int = 200  # readings messages sent and not yet acknowledged; events are not held back
    commit_timeout_events_s: float = 10.0
    commit_timeout_readings_s: float = 60.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    def problems(self) -> list[str]:
        found: list[str] = []
        if not valid_home_id(self.home_id):
            found.append(f"home id {self.home_id!r} is invalid: lowercase letters, digits, '-' and '_', 2-64 long")
        if self.endpoint.username is not None and self.endpoint.username != self.home_id:
            found.append("the MQTT username must equal the home id (the broker ACL confines a home by its username)")
        if not 1 <= self.max_unacked_messages <= 65_535:
            found.append("max_unacked_messages must be between 1 and 65535 (paho's limit)")
        return found

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> AgentConfig:
        """The CLI's agent: home id from ELDERCARE_EDGE__HOME_ID or the MQTT username (equal when both)."""
        endpoint = settings.mqtt_endpoint
        edge = settings.edge
        home_id = edge.home_id or endpoint.username
        if home_id is None:
            raise ConfigError(["ELDERCARE_EDGE__HOME_ID: required (or give the home's credentials in ELDERCARE_MQTT_URL)"])
        if edge.home_id and endpoint.username and edge.home_id != endpoint.username:
            raise ConfigError(["ELDERCARE_EDGE__HOME_ID: must equal the username in ELDERCARE_MQTT_URL"])
        values: dict[str, Any] = {
            "home_id": home_id,
            "endpoint": endpoint,
            "queue_path": edge.data_dir / "queue.sqlite3",
            "mqtt": settings.mqtt,
            "batch_max_readings": edge.batch_max_readings,
            "batch_max_delay_s": edge.batch_max_delay_s,
            "heartbeat_interval_s": edge.heartbeat_interval_s,
            "queue_max_messages": edge.queue_max_messages,
            "queue_sync": edge.queue_sync,
            "max_unacked_messages": edge.max_unacked_messages,
            "ack_timeout_s": edge.ack_timeout_s,
            "shutdown_grace_s": edge.shutdown_grace_s,
            "activity_interval_s": edge.activity_interval_s,
            "commit_ack": edge.commit_ack,
            "max_awaiting_commit": edge.max_awaiting_commit,
            "commit_timeout_events_s": edge.commit_timeout_events_s,
            "commit_timeout_readings_s": edge.commit_timeout_readings_s,
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AgentStats:
    connected: bool
    sessions: int
    queue_depth: int
    readings_queued: int
    events_queued: int
    messages_published: int
    messages_dropped: int
    publishes_refused: int  # PUBACKs with a failure reason code; the message stays queued
    config_revision: int | None
    awaiting_commit: int = 0  # sent in this session, not yet acknowledged by ingest
    oldest_awaiting_s: float = 0.0  # since the first send of the oldest of them
    committed: int = 0  # messages ingest acknowledged as stored
    dead_lettered: dict[str, int] = field(default_factory=dict)  # reason -> messages ingest dead-lettered
    resent: int = 0  # sent again after no acknowledgement in time


class EdgeAgent:
    def __init__(self, config: AgentConfig, driver: Driver, clock: Clock, queue: DiskQueue | None = None) -> None:
        """``queue`` defaults to a DiskQueue at ``config.queue_path``, owned (and closed) by the agent."""
        self.config = config
        self.driver = driver
        self._owns_queue = queue is None
        self.queue = queue or DiskQueue(config.queue_path, max_messages=config.queue_max_messages, sync=config.queue_sync)
        self._log = logs.get("edge").bind(home_id=config.home_id)
        self.registry = DeviceRegistry()
        self.tuning = Tuning(
            batch_max_readings=config.batch_max_readings,
            batch_max_delay_s=config.batch_max_delay_s,
            heartbeat_interval_s=config.heartbeat_interval_s,
            activity_interval_s=config.activity_interval_s,
        )
        self.config_revision: int | None = None
        self.uplink = Uplink(
            UplinkConfig(
                home_id=config.home_id,
                topic_root=config.mqtt.topic_root,
                endpoint=config.endpoint,
                mqtt=config.mqtt,
                client_id=config.client_id or f"gw-{config.home_id}",
                max_unacked=config.max_unacked_messages,
                ack_timeout_s=config.ack_timeout_s,
                shutdown_grace_s=config.shutdown_grace_s,
                agent_version=__version__,
                commit_ack=config.commit_ack,
                max_awaiting_commit=config.max_awaiting_commit,
                commit_timeout_events_s=config.commit_timeout_events_s,
                commit_timeout_readings_s=config.commit_timeout_readings_s,
            ),
            queue=self.queue,
            registry=self.registry,
            tuning=self.tuning,
            clock=clock,
            on_config=self.apply_config,
        )
        self._restore_config()
        self.intake = Intake(
            home_id=config.home_id,
            topic_root=config.mqtt.topic_root,
            queue=self.queue,
            registry=self.registry,
            clock=clock,
            tuning=self.tuning,
            on_queued=self.uplink.notify,
        )

    @property
    def stats(self) -> AgentStats:
        commits = self.uplink.commits
        return AgentStats(
            awaiting_commit=len(commits) if commits is not None else 0,
            oldest_awaiting_s=commits.oldest_age_s() if commits is not None else 0.0,
            committed=commits.committed if commits is not None else 0,
            dead_lettered=dict(commits.dead_lettered) if commits is not None else {},
            resent=commits.resent if commits is not None else 0,
            connected=self.uplink.connected,
            sessions=self.uplink.sessions,
            queue_depth=self.queue.depth,
            readings_queued=self.intake.readings_queued,
            events_queued=self.intake.events_queued,
            messages_published=self.uplink.published,
            messages_dropped=self.queue.dropped_messages,
            publishes_refused=self.uplink.refused,
            config_revision=self.config_revision,
        )

    def apply_config(self, config: GatewayConfig) -> None:
        """Apply the platform's GatewayConfig and keep it on disk; a revision not above the current one is ignored."""
        if self._apply(config):
            self.queue.save_config(config.model_dump_json(exclude_none=True).encode())
            self.uplink.retuned()

    def _apply(self, config: GatewayConfig, *, restored: bool = False) -> bool:
        if self.config_revision is not None and config.revision <= self.config_revision:
            self._log.debug("edge_config_ignored", revision=config.revision, current=self.config_revision)
            return False
        self.config_revision = config.revision
        if self.config.platform_tuning:
            self.tuning.batch_max_readings = config.batch_max_readings
            self.tuning.batch_max_delay_s = config.batch_max_delay_s
            self.tuning.heartbeat_interval_s = config.heartbeat_interval_s
        self.tuning.fall_detection_enabled = config.fall_detection_enabled
        self.registry.assign(config.devices)
        event = "edge_config_restored" if restored else "edge_config_applied"
        self._log.info(
            event,
            revision=config.revision,
            devices=len(config.devices),
            heartbeat_interval_s=self.tuning.heartbeat_interval_s,
            batch_max_readings=self.tuning.batch_max_readings,
            batch_max_delay_s=self.tuning.batch_max_delay_s,
            fall_detection=config.fall_detection_enabled,
        )
        return True

    def _restore_config(self) -> None:
        """The config applied before a restart, until the broker's retained one arrives."""
        saved = self.queue.saved_config()
        if saved is None:
            return
        try:
            config = GatewayConfig.model_validate_json(saved)
        except ValidationError:
            self._log.warning("edge_saved_config_unreadable")  # written by another version: wait for the platform's
            return
        if config.home_id == self.config.home_id:
            self._apply(config, restored=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raises PermanentError when the broker refuses the credentials."""
        self._log.info("edge_started", driver=type(self.driver).__name__, queue_depth=self.queue.depth)
        driver_stop, uplink_stop = asyncio.Event(), asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tasks:
                flusher = tasks.create_task(self.intake.run_flusher(), name="edge-flusher")
                driver = tasks.create_task(self.driver.run(self.intake, driver_stop), name="edge-driver")
                uplink = tasks.create_task(self.uplink.run(uplink_stop), name="edge-uplink")
                await stop.wait()
                driver_stop.set()
                await driver
                flusher.cancel()
                self.intake.flush()
                uplink_stop.set()
                await self._finish(uplink)
        except* Exception as group:  # noqa: BLE001 - re-raised: the task group's boundary
            # Report the first real failure plainly (the CLI maps PermanentError to exit 1).
            raise group.exceptions[0] from None
        finally:
            if self._owns_queue:
                self.queue.close()
        self._log.info("edge_stopped", queue_depth=self.queue.depth)

    async def _finish(self, uplink: asyncio.Task[None]) -> None:
        # A connect attempt in progress is not interrupted by stop; bound the wait for it.
        limit = self.config.shutdown_grace_s + self.config.mqtt.connect_timeout_s + self.config.ack_timeout_s
        done, _ = await asyncio.wait({uplink}, timeout=limit)
        if not done:
            uplink.cancel()
            await asyncio.wait({uplink})  # not `await uplink`: that would raise the child's CancelledError here
