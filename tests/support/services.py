"""Where the shared services are, and a clear failure (never a skip) when one is missing."""

from __future__ import annotations

import os
import socket

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("EC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER_HOST = os.environ.get("EC_TEST_BROKER_HOST", "127.0.0.1")
BROKER_PORT = int(os.environ.get("EC_TEST_BROKER_PORT", "1883"))

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_MOSQUITTO = "mosquitto -d -c /etc/mosquitto/mosquitto.conf"


def require_postgres() -> None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Start it with: {START_POSTGRES}", pytrace=False)


def require_broker() -> None:
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=5):
            pass
    except OSError as exc:
        pytest.fail(
            f"Mosquitto is not reachable at {BROKER_HOST}:{BROKER_PORT} ({exc}). Start it with: {START_MOSQUITTO}", pytrace=False
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
