"""Fixtures every test can use: real databases, real brokers, topic roots, fault injection."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eldercare.config import Settings, load_settings
from tests.support.broker import PrivateBroker
from tests.support.databases import DatabaseFactory
from tests.support.proxy import TcpProxy
from tests.support.services import (
    BROKER_HOST,
    BROKER_PORT,
    DB_FLAVOUR,
    PG_ADMIN_URL,
    Flavour,
    require_broker,
    require_postgres,
)


def pytest_report_header() -> str:
    return f"database flavour: {DB_FLAVOUR} ({PG_ADMIN_URL}; EC_TEST_DB_FLAVOUR selects it)"


def pytest_configure(config: pytest.Config) -> None:
    """No ELDERCARE_* variable of the shell that runs the tests reaches them: every test builds its
    own settings (``make_settings``, ``env_for``), and the settings object reads the environment."""
    for key in [key for key in os.environ if key.startswith("ELDERCARE_")]:
        del os.environ[key]


# A test with one of these is slow too: it talks to a broker (MQTT round trips, reconnects).
_SLOW_FIXTURES = frozenset({"broker_url", "private_broker", "tcp_proxy"})


def pytest_itemcollected(item: pytest.Item) -> None:
    """End-to-end (subprocess), browser and broker tests are slow too: the inner loop
    (``pytest -m "not slow"``) is the pure and database tests. Marked as collected, so ``-m`` sees it."""
    marked = item.get_closest_marker("e2e") is not None or item.get_closest_marker("browser") is not None
    if marked or not _SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.slow)


# The flavours of the whole ./dev test run (EC_TEST_DB_FLAVOURS).
_FLAVOURS_OF_THIS_RUN = frozenset(os.environ.get("EC_TEST_DB_FLAVOURS", DB_FLAVOUR).split())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests marked for the other flavour; with EC_TEST_DATABASE_TESTS_ONLY=1 (``./dev test``'s
    TimescaleDB pass) also every unmarked test that uses no database, and every test whose database
    only serves what it tests (``any_flavour``, browser tests): those run in the plain pass, or in the
    pass that ``any_flavour(on=...)`` names when the run has it (to balance the two passes)."""
    database_only = os.environ.get("EC_TEST_DATABASE_TESTS_ONLY") == "1"

    def wanted(item: pytest.Item) -> bool:
        marker = item.get_closest_marker("flavour")
        if marker is not None:
            return bool(marker.args[0] == DB_FLAVOUR)
        once = item.get_closest_marker("any_flavour")
        asked = [m.kwargs["on"] for m in item.iter_markers("any_flavour") if m.kwargs.get("on") in _FLAVOURS_OF_THIS_RUN]
        if asked:
            return bool(asked[0] == DB_FLAVOUR)  # the pass it asked for, which this run has
        if not database_only:
            return True
        return once is None and item.get_closest_marker("browser") is None and "databases" in getattr(item, "fixturenames", ())

    keep = [item for item in items if wanted(item)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


@pytest.fixture(scope="session")
def db_flavour() -> Flavour:
    """The database flavour of this run: ``postgres`` or ``timescaledb``."""
    return DB_FLAVOUR


@pytest.fixture(scope="session")
def databases() -> Iterator[DatabaseFactory]:
    require_postgres()
    factory = DatabaseFactory(PG_ADMIN_URL, DB_FLAVOUR)
    factory.create_template()
    yield factory
    factory.drop_all()


@pytest.fixture
def db_url(databases: DatabaseFactory) -> Iterator[str]:
    """A fresh, fully migrated database for this test only."""
    url = databases.clone()
    yield url
    databases.drop(url)


@pytest.fixture
def broker_url() -> str:
    """The shared Mosquitto started before the session (default queue limits: keep loads small); the
    one at EC_TEST_BROKER_HOST/EC_TEST_BROKER_PORT, which ``./dev test`` points at a broker of each pass's own."""
    require_broker()
    return f"mqtt://{BROKER_HOST}:{BROKER_PORT}"


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test's own, so tests on the shared broker never see each other."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_settings(db_url: str, broker_url: str, topic_root: str) -> Callable[..., Settings]:
    """Settings for this test's database, broker and topic root, plus overrides; no metrics endpoint
    unless the test asks for one (see ``env_for``)."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"database_url": db_url, "mqtt_url": broker_url, "log_format": "console"}
        mqtt = dict(overrides.pop("mqtt", {}))
        mqtt.setdefault("topic_root", topic_root)
        values["mqtt"] = mqtt
        for service in ("ingest", "alerts"):
            values[service] = {"metrics_port": 0, **overrides.pop(service, {})}
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
def env_for(db_url: str, broker_url: str, topic_root: str) -> Callable[..., dict[str, str]]:
    """ELDERCARE_* variables for a CLI subprocess on this test's database, broker and topic root.

    Simulated homes are named after the topic root too (``<topic root>-00000``): a gateway's client
    id is ``gw-<home id>``, and two tests' homes of the same name on the shared broker would take
    each other's sessions over, disconnecting each other in a loop.

    Ingest and the alert engine serve no metrics endpoint unless the test names a port (a free one):
    their defaults, 9101 and 9102, are one fixed port for every test of every pass and every test run
    on the machine, and a service that cannot listen on it exits."""

    def build(**extra: str) -> dict[str, str]:
        env = {
            "ELDERCARE_DATABASE_URL": db_url,
            "ELDERCARE_MQTT_URL": broker_url,
            "ELDERCARE_MQTT__TOPIC_ROOT": topic_root,
            "ELDERCARE_SIMULATOR__HOME_PREFIX": topic_root,
            "ELDERCARE_LOG_FORMAT": "json",
            "ELDERCARE_INGEST__METRICS_PORT": "0",
            "ELDERCARE_ALERTS__METRICS_PORT": "0",
        }
        env.update({f"ELDERCARE_{key.upper()}": value for key, value in extra.items()})
        return env

    return build


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Callable[..., PrivateBroker]]:
    """Start a private Mosquitto: ``private_broker(users={...}, acl="...")``."""
    started: list[PrivateBroker] = []

    def start(**kwargs: Any) -> PrivateBroker:
        broker = PrivateBroker(directory=tmp_path / f"mosquitto-{len(started)}", **kwargs)
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop(kill=True)


@pytest.fixture
def tcp_proxy() -> Iterator[Callable[..., TcpProxy]]:
    """A cuttable TCP proxy: ``proxy = tcp_proxy(host, port); proxy.cut(); proxy.restore()``."""
    proxies: list[TcpProxy] = []

    def start(host: str, port: int, *, record: bool = False) -> TcpProxy:
        proxy = TcpProxy(host, port, record=record).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()
