"""Where the shared services are, and a clear failure (never a skip) when one is missing.

The database flavour of a test run is chosen by ``EC_TEST_DB_FLAVOUR``: ``postgres`` (default, plain
PostgreSQL on 127.0.0.1:5432) or ``timescaledb`` (the TimescaleDB cluster of
``/work/shared/timescaledb/build.sh --cluster`` on 127.0.0.1:5433); ``EC_TEST_PG_ADMIN_URL``
overrides the server. A server that is not of the requested flavour fails the run: a test run
never changes flavour because of what happens to be installed.

The broker is the Mosquitto at ``EC_TEST_BROKER_HOST``:``EC_TEST_BROKER_PORT`` (default
127.0.0.1:1883, the shared one). ``./dev test`` runs its later passes beside the first, each on a
private broker of its own on a free port, and points these variables at it.
"""

from __future__ import annotations

import os
import socket
from typing import Literal

import psycopg
import pytest

from eldercare.db.migrate import timescale_support

Flavour = Literal["postgres", "timescaledb"]
FLAVOURS: tuple[Flavour, ...] = ("postgres", "timescaledb")
ADMIN_URLS: dict[Flavour, str] = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/postgres",
    "timescaledb": "postgresql://postgres@127.0.0.1:5433/postgres",
}
_requested = os.environ.get("EC_TEST_DB_FLAVOUR", "postgres")
if _requested not in FLAVOURS:
    raise pytest.UsageError(f"EC_TEST_DB_FLAVOUR={_requested!r}: expected one of {', '.join(FLAVOURS)}")
DB_FLAVOUR: Flavour = _requested
PG_ADMIN_URL = os.environ.get("EC_TEST_PG_ADMIN_URL", ADMIN_URLS[DB_FLAVOUR])
BROKER_HOST = os.environ.get("EC_TEST_BROKER_HOST", "127.0.0.1")
BROKER_PORT = int(os.environ.get("EC_TEST_BROKER_PORT", "1883"))

START_POSTGRES: dict[Flavour, str] = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "timescaledb": "/work/shared/timescaledb/build.sh --cluster (as root; builds TimescaleDB once, ~1.5 min)",
}
START_MOSQUITTO = "mosquitto -d -c /etc/mosquitto/mosquitto.conf"


def require_postgres() -> None:
    """The server answers and is of the requested flavour (TimescaleDB loadable, or not there)."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            support = timescale_support(conn)
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL ({DB_FLAVOUR}) is not reachable at {PG_ADMIN_URL} ({exc}). Start it with: {START_POSTGRES[DB_FLAVOUR]}",
            pytrace=False,
        )
    if DB_FLAVOUR == "timescaledb" and not support.loadable:
        missing = "is not installed" if not support.available else "is installed but not preloaded"
        pytest.fail(
            f"EC_TEST_DB_FLAVOUR=timescaledb, but TimescaleDB {missing} on the server at {PG_ADMIN_URL}. "
            f"Start the TimescaleDB cluster with: {START_POSTGRES['timescaledb']}",
            pytrace=False,
        )
    if DB_FLAVOUR == "postgres" and support.preloaded:
        pytest.fail(
            f"EC_TEST_DB_FLAVOUR=postgres, but the server at {PG_ADMIN_URL} preloads TimescaleDB: point "
            "EC_TEST_PG_ADMIN_URL at plain PostgreSQL, or run with EC_TEST_DB_FLAVOUR=timescaledb",
            pytrace=False,
        )


def require_broker() -> None:
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=5):
            pass
    except OSError as exc:
        start = START_MOSQUITTO if BROKER_PORT == 1883 else "it is the broker EC_TEST_BROKER_HOST/EC_TEST_BROKER_PORT name"
        pytest.fail(f"Mosquitto is not reachable at {BROKER_HOST}:{BROKER_PORT} ({exc}). Start it with: {start}", pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
