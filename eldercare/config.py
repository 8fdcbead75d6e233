"""Configuration: environment variables with one prefix, read into one Settings object, once.

Only the CLI builds Settings (``load_settings``); code below it receives the object and never
reads ``os.environ``. Nested groups use a double underscore: ``ELDERCARE_INGEST__BATCH_SIZE``.
Every timing knob carries its unit in its name, which is also how tests run fast without sleeping.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eldercare.contracts.payloads import MAX_READINGS_PER_MESSAGE, GatewayConfig
from eldercare.errors import ConfigError

ENV_PREFIX = "ELDERCARE_"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/eldercare"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
_PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "password", "please-change"})


@dataclass(frozen=True)
class MqttEndpoint:
    """A parsed ``mqtt://[user:pass@]host:port`` or ``mqtts://`` URL."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    def with_credentials(self, username: str | None, password: str | None) -> MqttEndpoint:
        return MqttEndpoint(self.host, self.port, self.tls, username, password)

    @property
    def password_in_clear(self) -> bool:
        """A password would leave this machine unencrypted: plain ``mqtt://`` to a host other than loopback."""
        return self.password is not None and not self.tls and not is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address; a name is not resolved (DNS could say anything)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cleartext_password_problem(endpoint: MqttEndpoint, *, allowed: bool) -> str | None:
    """Why connecting to ``endpoint`` would send a password readable on the network, or None."""
    if allowed or not endpoint.password_in_clear:
        return None
    return (
        f"refusing to send a password in clear to {endpoint.host}:{endpoint.port}: use mqtts:// "
        "(or set ELDERCARE_MQTT__ALLOW_CLEARTEXT_PASSWORD=true for a private network such as compose's)"
    )


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Parse and validate an MQTT URL; raises ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"scheme must be mqtt:// or mqtts://, got {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("the URL must not have a path, query or fragment")
    try:
        port = parts.port
    except ValueError as exc:  # urllib says "Port out of range 0-65535" or "invalid literal"
        raise ValueError(f"invalid port: {exc}") from None
    tls = parts.scheme == "mqtts"
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return MqttEndpoint(parts.hostname, port or (8883 if tls else 1883), tls, username, password)


def _check_database_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a libpq URL: postgresql://user@host:port/dbname")
    if not parts.path.strip("/"):
        raise ValueError("the URL names no database")
    return url


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClockSettings(_Group):
    """Simulated time shared by every service: ``start`` plus ``speed`` x elapsed wall time."""

    start: AwareDatetime | None = Field(
        default=None, description="simulated time starts here (RFC 3339 with offset); unset: wall time"
    )
    speed: float = Field(default=1.0, gt=0, le=100_000, description="simulated seconds per wall second")
    epoch_wall_s: float | None = Field(
        default=None, description="wall-clock UNIX time at which simulated time was `start`: lets several processes agree"
    )
    epoch_file: Path | None = Field(
        default=None,
        description="instead of epoch_wall_s: the clock stands at `start` until this file holds the wall instant it "
        "started at (`simulate run` writes it once its homes are connected)",
    )

    @model_validator(mode="after")
    def _one_epoch(self) -> ClockSettings:
        if self.epoch_wall_s is not None and self.epoch_file is not None:
            raise ValueError("set epoch_wall_s or epoch_file, not both")
        return self


class DatabaseSettings(_Group):
    pool_min_size: int = Field(default=1, ge=0, le=100, description="connections a service's pool keeps open")
    pool_max_size: int = Field(default=8, ge=1, le=200, description="most connections a service's pool opens")
    connect_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="a connection attempt to the database gives up after this"
    )
    statement_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="PostgreSQL cancels a statement of ours running longer (a transient error: retried)",
    )
    retry_min_s: float = Field(
        default=0.2, gt=0, le=60, description="first backoff after the database failed an attempt (every service); it doubles"
    )
    retry_max_s: float = Field(default=15.0, gt=0, le=600, description="longest backoff between attempts to reach the database")
    timescaledb: Literal["auto", "require", "off"] = Field(
        default="auto",
        description="auto: TimescaleDB if the server has it; require: refuse to migrate without it; off: plain PostgreSQL",
    )
    readings_retention_days: int = Field(default=400, ge=1, le=36_500, description="`eldercare db maintain` drops older readings")
    events_retention_days: int = Field(default=1095, ge=1, le=36_500, description="`eldercare db maintain` drops older events")


class MqttSettings(_Group):
    """Connection behaviour shared by every MQTT client we run."""

    topic_root: str = Field(
        default="eldercare",
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description="first level of every topic (`<root>/v1/...`); a deployment, or a test, of its own",
    )
    keepalive_s: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="MQTT keepalive: the broker drops a client silent 1.5 times this long (and publishes its will)",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="a connection attempt without CONNACK gives up after this"
    )
    reconnect_min_s: float = Field(
        default=0.5, gt=0, le=60, description="first backoff after a lost or failed connection; it doubles, with jitter"
    )
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600, description="longest backoff between connection attempts")
    ca_file: Path | None = Field(default=None, description="CA file for the broker's certificate (mqtts://); default: system CAs")
    session_expiry_s: int = Field(
        default=86_400,
        ge=0,
        le=2**32 - 1,
        description="the broker keeps a persistent session (and what it queued) this long after a disconnect",
    )
    allow_cleartext_password: bool = Field(
        default=False,
        description="let a password go over plain mqtt:// to a host other than loopback (only on a private network)",
    )


class IngestSettings(_Group):
    shared_group: str = Field(
        default="ingest",
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description="shared-subscription group: the copies of ingest in one group share the messages",
    )
    client_id: str | None = Field(
        default=None, max_length=128, description="fixed MQTT client id; default: one per copy from its claimed slot"
    )
    batch_size: int = Field(default=20_000, ge=1, le=1_000_000, description="readings per database batch")
    flush_interval_s: float = Field(default=0.25, gt=0, le=60, description="a batch that is not full is written after this long")
    max_inflight_messages: int = Field(
        default=2_000,
        ge=1,
        le=65_535,
        description="MQTT receive maximum of the bulk lane: messages delivered and not yet acknowledged",
    )
    metrics_host: str = Field(default="127.0.0.1", description="address GET /ready and /metrics listen on")
    metrics_port: int = Field(default=9101, ge=0, le=65535, description="GET /ready and /metrics; 0 disables the endpoint")
    rollup_interval_s: float = Field(default=60.0, gt=0, le=86_400, description="activity_hourly refresh (plain PostgreSQL)")
    policy_check_interval_s: float = Field(
        default=60.0, gt=0, le=86_400, description="TimescaleDB: how often the policies' health is read (metrics, warnings)"
    )
    drain_timeout_s: float = Field(default=10.0, gt=0, le=600, description="on SIGTERM, time to commit what is held")
    slot_check_interval_s: float = Field(
        default=5.0, gt=0, le=600, description="how often a copy checks it still holds its slot (its stable client id)"
    )
    max_ts_age_s: float = Field(
        default=400 * 86_400, gt=0, le=36_500 * 86_400,
        description="oldest ts accepted, before the receive time (default: the readings retention, 400 days)",
    )  # fmt: skip
    max_ts_ahead_s: float = Field(
        default=300, ge=0, le=30 * 86_400, description="newest ts accepted, after the receive time (gateway clock skew)"
    )
    quarantine_after_crashes: int = Field(
        default=2, ge=1, le=100, description="a redelivered message in hand during this many ingest crashes is dead-lettered"
    )
    config_poll_interval_s: float = Field(
        default=1.0, gt=0, le=3600, description="how often the homes' config changes waiting to be published are looked for"
    )
    config_republish_interval_s: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86_400,
        description="every home's retained config is published again this often (and on start), for a broker that lost it",
    )
    config_batch_size: int = Field(default=200, ge=1, le=10_000, description="homes' configs published per transaction")
    commit_acks: bool = Field(
        default=True,
        description="after each commit, tell every home which readings and events are stored (topic kind ack)",
    )


def _config_default(name: str) -> Any:
    return GatewayConfig.model_fields[name].default


class GatewaysSettings(_Group):
    """What the platform tells every gateway in its config (besides each home's own timezone, devices and fall rule)."""

    heartbeat_interval_s: float = Field(
        default=float(_config_default("heartbeat_interval_s")), gt=0, le=86_400, description="config: heartbeat period"
    )
    batch_max_readings: int = Field(
        default=_config_default("batch_max_readings"),
        ge=1,
        le=MAX_READINGS_PER_MESSAGE,
        description="config: readings per message",
    )
    batch_max_delay_s: float = Field(
        default=_config_default("batch_max_delay_s"), gt=0, le=600, description="config: longest wait to fill a readings message"
    )


class EdgeSettings(_Group):
    home_id: str | None = Field(default=None, description="the home id, equal to the gateway's MQTT username")
    driver: Literal["simulated", "zigbee2mqtt", "replay"] = Field(
        default="simulated",
        description="where sensor data comes from: simulated, zigbee2mqtt (the home's zigbee2mqtt) or replay (a recording)",
    )
    data_dir: Path = Field(default=Path("/var/lib/eldercare-edge"), description="the gateway's disk queue and state")
    # Until the platform's config arrives; the config's values then win (see docs/protocol.md).
    batch_max_readings: int = Field(
        default=_config_default("batch_max_readings"), ge=1, le=MAX_READINGS_PER_MESSAGE, description="readings per message"
    )
    batch_max_delay_s: float = Field(
        default=_config_default("batch_max_delay_s"),
        gt=0,
        le=600,
        description="a readings message that is not full is sealed after this long",
    )
    heartbeat_interval_s: float = Field(
        default=float(_config_default("heartbeat_interval_s")),
        gt=0,
        le=86_400,
        description="a heartbeat (uptime, queue depth, device health) this often",
    )
    queue_max_messages: int = Field(
        default=200_000,
        ge=100,
        le=100_000_000,
        description="disk queue bound: past it the oldest readings messages are dropped (events never)",
    )
    # Replaying a 5,000-message backlog on loopback: 8.4k msg/s at 100 unacked, 3.4k at 1,000 (aiomqtt's
    # per-publish bookkeeping grows with the window); 100 also keeps ~10k msg/s at 10 ms round trips.
    max_unacked_messages: int = Field(default=100, ge=1, le=65_535, description="QoS 1 messages awaiting their PUBACK at once")
    zigbee2mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883", description="the home's local broker zigbee2mqtt publishes to (driver zigbee2mqtt)"
    )
    zigbee2mqtt_base_topic: str = Field(default="zigbee2mqtt", pattern=r"^[^#+]{1,128}$", description="zigbee2mqtt's base topic")
    zigbee2mqtt_device_map: Path | None = Field(default=None, description="JSON: friendly name -> device, kind, room")
    queue_sync: Literal["full", "normal"] = Field(
        default="full", description="full: fsync each queue commit (survives power loss); normal: survives a crash only"
    )
    ack_timeout_s: float = Field(default=10.0, gt=0, le=600, description="no PUBACK within this: reconnect and replay")
    commit_ack: bool = Field(
        default=True,
        description="keep each message until ingest acknowledges its commit (topic kind ack), not its PUBACK",
    )
    max_awaiting_commit: int = Field(
        default=200, ge=1, le=65_535, description="readings messages sent and awaiting their commit acknowledgement"
    )
    commit_timeout_events_s: float = Field(
        default=10.0, gt=0, le=3600, description="an event PUBACKed but not acknowledged within this is sent again (doubling)"
    )
    commit_timeout_readings_s: float = Field(default=60.0, gt=0, le=86_400, description="the same for other messages")
    shutdown_grace_s: float = Field(default=5.0, ge=0, le=600, description="time to drain the queue on SIGTERM")
    activity_interval_s: float = Field(default=60.0, gt=0, le=3600, description="wearable activity_g reading period")
    replay_file: Path | None = Field(
        default=None, description="accelerometer recording in SisFall's format that the replay driver plays"
    )
    replay_speed: float = Field(default=1.0, gt=0, le=10_000, description="replay this many times faster than recorded")
    replay_device_id: str = Field(default="wearable-1", description="device id of the replayed wearable")


class AlertsSettings(_Group):
    evaluation_interval_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="how often the periodic pass runs (clock time): it judges the homes whose next moment of concern has come"
        " and the homes with new input",
    )
    evaluation_mode: Literal["deadlines", "every_home"] = Field(
        default="deadlines",
        description="deadlines: judge a home when its next moment of concern comes or input arrives (alerts.deadlines);"
        " every_home: judge every home every pass (the reference the deadlines are proved against; costs grow with homes)",
    )
    deadline_recheck_s: float = Field(
        default=3600.0,
        ge=60,
        le=86_400,
        description="a home with nothing due is judged again after at most this long (clock time): a safety net for a moment"
        " of concern the engine does not know about, not a schedule the rules rely on",
    )
    evaluation_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="homes one copy judges at once, each on a pool connection; at most db.pool_max_size - 2 are used",
    )
    outbox_poll_interval_s: float = Field(default=1.0, gt=0, le=600, description="how often due notifications are looked for")
    notify_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="one delivery attempt (webhook, SMTP, apprise) gives up after this"
    )
    notify_max_attempts: int = Field(
        default=12, ge=1, le=1000, description="a notification fails for good after this many attempts"
    )
    notify_retry_min_s: float = Field(
        default=5.0, gt=0, le=3600, description="first wait before a failed notification is tried again; it doubles, with jitter"
    )
    notify_retry_max_s: float = Field(
        default=600.0, gt=0, le=86_400, description="longest wait between attempts at a notification"
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server for e-mail notifications")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="its port")
    smtp_username: str | None = Field(default=None, description="SMTP login; unset: no login")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS")
    smtp_from: str = Field(default="eldercare@localhost", description="sender address of notification e-mails")
    metrics_host: str = Field(default="127.0.0.1", description="address GET /ready and /metrics listen on")
    metrics_port: int = Field(default=9102, ge=0, le=65535, description="GET /ready and /metrics; 0 disables the endpoint")
    inbox_poll_interval_s: float = Field(default=1.0, gt=0, le=600, description="polling backs up LISTEN")
    inbox_batch_size: int = Field(default=100, ge=1, le=10_000, description="inbox items claimed per transaction")
    outbox_batch_size: int = Field(default=20, ge=1, le=1_000, description="notifications claimed per delivery round")
    clear_hold_s: float = Field(default=300.0, ge=0, le=86_400, description="clear this long before auto-resolve/re-open")
    escalate_critical_s: float = Field(default=120.0, ge=0, le=86_400, description="unacknowledged; 0 = never")
    escalate_high_s: float = Field(
        default=300.0, ge=0, le=86_400, description="a high alert unacknowledged this long escalates; 0 = never"
    )
    escalate_medium_s: float = Field(
        default=1800.0, ge=0, le=86_400, description="a medium alert unacknowledged this long escalates; 0 = never"
    )
    escalate_low_s: float = Field(
        default=0.0, ge=0, le=86_400, description="a low alert unacknowledged this long escalates; 0 = never"
    )
    relearn_interval_s: float = Field(
        default=86_400.0, gt=0, le=30 * 86_400, description="each resident's routine is learned again this often"
    )
    platform_check_interval_s: float = Field(
        default=60.0, gt=0, le=3600, description="wall seconds between checks of the platform's own health (and heartbeats)"
    )
    platform_stale_after_s: float = Field(
        default=600.0, gt=0, le=86_400, description="nothing committed from any online gateway this long: ingest_stalled"
    )
    platform_offline_share: float = Field(default=0.5, gt=0, le=1, description="share of gateways offline: gateways_offline")
    platform_offline_min: int = Field(default=5, ge=1, le=1_000_000, description="... and at least this many of them")
    platform_inbox_delay_s: float = Field(
        default=120.0, gt=0, le=86_400, description="an event waiting this long to be judged: inbox_delayed"
    )
    platform_notices: bool = Field(default=True, description="tell every centre's duty channels when alerts may be delayed")
    heartbeat_url: SecretStr | None = Field(
        default=None, description="dead-man's switch pinged (POST) after each healthy check; it alarms when pings stop"
    )

    @field_validator("heartbeat_url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value


class ApiSettings(_Group):
    host: str = Field(default="127.0.0.1", description="address the API and dashboard listen on")
    port: int = Field(default=8000, ge=0, le=65535, description="their port")
    jwt_secret: SecretStr | None = Field(default=None, description="required to run the API; at least 32 characters")
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400, description="an access token expires after this")
    refresh_token_ttl_s: int = Field(
        default=14 * 86_400, ge=60, le=365 * 86_400, description="a refresh token expires after this (logging in again is needed)"
    )
    login_free_failures: int = Field(
        default=5, ge=1, le=1000, description="wrong passwords from one address for one username before delays start"
    )
    login_max_delay_s: int = Field(
        default=900,
        ge=1,
        le=86_400,
        description="the longest wait between tries of one (username, address); each failure doubles it",
    )
    login_address_failures_per_minute: int = Field(
        default=30, ge=1, le=100_000, description="wrong passwords from one address, all usernames, before it waits a minute"
    )
    login_account_failures_per_hour: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="wrong passwords for one username, all addresses, before addresses it never logged in from must wait",
    )
    broker_admin_username: str | None = Field(default=None, description="dynamic-security admin on the broker")
    broker_admin_password: SecretStr | None = Field(default=None, description="password of broker_admin_username")
    stream_poll_interval_s: float = Field(
        default=5.0, gt=0, le=60, description="the live alert stream's backstop polling (database notifications wake it at once)"
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="the reverse proxy's addresses or networks, comma-separated: only from these is X-Forwarded-For "
        "believed (the client address login throttling sees); empty: from nobody",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                raise ValueError("'*' would let every client name its own address; list the proxy's addresses")
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return ",".join(entries)

    @field_validator("jwt_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.lower() in _PLACEHOLDER_SECRETS or len(raw) < 32:
            raise ValueError("must be a real secret of at least 32 characters, not a placeholder")
        return value


class SimulatorSettings(_Group):
    homes: int = Field(default=10, ge=1, le=100_000, description="simulated homes in the run (all processes together)")
    home_prefix: str = Field(
        default="sim", pattern=r"^[a-z0-9\-]{1,24}$", description="home ids are `<prefix>-00000`, `<prefix>-00001`, ..."
    )
    seed: int = Field(default=1, description="routines and random incidents are a pure function of (seed, home, day)")
    data_dir: Path = Field(default=Path("./sim-data"), description="the virtual gateways' disk queues")
    ground_truth_file: Path = Field(
        default=Path("./sim-data/ground-truth.jsonl"),
        description="JSONL, one line per injected incident: what `simulate score` compares the alerts with",
    )
    scenario_file: Path | None = Field(default=None, description="incidents to inject (JSON or YAML); `simulate run --scenario`")
    sisfall_dir: Path | None = Field(
        default=None, description="a SisFall dataset folder: falls from its real recordings instead of synthetic ones"
    )
    timezone: str = Field(default="Asia/Shanghai", description="the simulated homes' timezone (routines are local time)")
    wearable_rate_hz: float = Field(default=50.0, ge=10, le=200, description="wearable accelerometer sampling rate")
    connect_rate_per_s: float = Field(default=200.0, gt=0, le=100_000, description="new home connections per second")
    status_interval_s: float = Field(default=2.0, gt=0, le=3600, description="live status line period (wall time)")
    queue_sync: Literal["full", "normal"] = Field(default="normal", description="each virtual gateway's disk queue")


class Settings(BaseSettings):
    """Everything a process needs, built once by the CLI."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, description="the PostgreSQL database: postgresql://user[:password]@host:port/dbname"
    )
    mqtt_url: str = Field(
        default=DEFAULT_MQTT_URL, description="the broker: mqtt://[user:password@]host[:port], or mqtts:// for TLS"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="least severe level logged")
    log_format: Literal["json", "console"] = Field(
        default="json", description="json: one object per line, stable event names; console: for a terminal"
    )
    instance: str = Field(default="", max_length=64, description="distinguishes copies of a service")
    clock: ClockSettings = ClockSettings()
    db: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    edge: EdgeSettings = EdgeSettings()
    gateways: GatewaysSettings = GatewaysSettings()
    alerts: AlertsSettings = AlertsSettings()
    api: ApiSettings = ApiSettings()
    simulator: SimulatorSettings = SimulatorSettings()

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: str) -> str:
        return _check_database_url(value)

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @property
    def mqtt_endpoint(self) -> MqttEndpoint:
        return parse_mqtt_url(self.mqtt_url)


def env_name(location: tuple[str | int, ...]) -> str:
    """The environment variable behind a settings field location, e.g. ``ELDERCARE_INGEST__BATCH_SIZE``."""
    return ENV_PREFIX + "__".join(str(part) for part in location).upper()


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment; raise ConfigError listing every problem at once."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = [f"{env_name(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(problems) from None
    problems = _cross_field_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _cross_field_problems(settings: Settings) -> list[str]:
    """Problems that involve more than one field (each field is already valid on its own)."""
    allowed = settings.mqtt.allow_cleartext_password
    urls = {"ELDERCARE_MQTT_URL": settings.mqtt_url, "ELDERCARE_EDGE__ZIGBEE2MQTT_URL": settings.edge.zigbee2mqtt_url}
    problems = []
    for name, url in urls.items():
        try:
            endpoint = parse_mqtt_url(url)
        except ValueError:
            continue  # the zigbee2mqtt URL is checked, with its message, when that driver is chosen
        problem = cleartext_password_problem(endpoint, allowed=allowed)
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


def redacted(settings: Settings) -> dict[str, Any]:
    """Settings as plain data with every secret hidden, for ``eldercare config show``."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    data["database_url"] = _hide_url_password(settings.database_url)
    data["mqtt_url"] = _hide_url_password(settings.mqtt_url)
    return data


def _hide_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
