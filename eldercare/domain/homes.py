"""Registering homes and their MQTT credentials: shared by the API and the simulator.

A home's MQTT username is its id. The password is generated here, shown once to whoever registered
the home, stored only as an argon2 hash, and pushed to the broker's own user store (dynamic
security) inside the database transaction, so a home exists in the database only if the broker
accepted its credentials.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import psycopg
from argon2 import PasswordHasher

from eldercare.contracts.topics import valid_home_id
from eldercare.errors import NotFoundError, PermanentError

_HASHER = PasswordHasher()


class HomeProvisioner(Protocol):
    """Where home credentials take effect: ``eldercare.mqtt.dynsec.BrokerAdmin`` (one connection per
    call) or one of its sessions (one connection for many homes, as the simulator registers them)."""

    async def provision_home(self, root: str, home_id: str, password: str) -> None: ...


@dataclass(frozen=True)
class HomeCredentials:
    home_id: str
    password: str
    broker_synced: bool  # False when no broker admin is configured (development broker)


def generate_password() -> str:
    """A 192-bit random password, URL-safe so it fits in an mqtt:// URL unchanged."""
    return secrets.token_urlsafe(24)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except Exception:  # noqa: BLE001 - argon2 raises several kinds for "does not match"
        return False


async def register_home(
    conn: psycopg.AsyncConnection,
    *,
    home_id: str,
    care_centre_id: int,
    broker: HomeProvisioner | None,
    topic_root: str,
    now: datetime,
    label: str | None = None,
    address: str | None = None,
    timezone: str = "UTC",
) -> HomeCredentials:
    """Insert the home and give it broker credentials, atomically; the caller commits ``conn``."""
    if not valid_home_id(home_id):
        raise PermanentError(f"invalid home id {home_id!r}")
    password = generate_password()
    try:
        await conn.execute(
            "INSERT INTO homes (id, care_centre_id, label, address, timezone, mqtt_password_hash,"
            " credentials_rotated_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (home_id, care_centre_id, label, address, timezone, hash_password(password), now, now),
        )
    except psycopg.errors.UniqueViolation:
        raise PermanentError(f"home {home_id!r} already exists") from None
    except psycopg.errors.ForeignKeyViolation:
        raise NotFoundError(f"care centre {care_centre_id} does not exist") from None
    if broker is not None:
        await broker.provision_home(topic_root, home_id, password)
    return HomeCredentials(home_id, password, broker is not None)


async def rotate_credentials(
    conn: psycopg.AsyncConnection, *, home_id: str, broker: HomeProvisioner | None, topic_root: str, now: datetime
) -> HomeCredentials:
    """A new password for the home; the old one stops working at the broker. The caller commits."""
    password = generate_password()
    cur = await conn.execute(
        "UPDATE homes SET mqtt_password_hash = %s, credentials_rotated_at = %s, config_revision = config_revision + 1"
        " WHERE id = %s",
        (hash_password(password), now, home_id),
    )
    if cur.rowcount != 1:
        raise NotFoundError(f"home {home_id!r} does not exist")
    if broker is not None:
        await broker.provision_home(topic_root, home_id, password)
    return HomeCredentials(home_id, password, broker is not None)


_ADD_ANONYMOUS = """
INSERT INTO homes (id, care_centre_id, label, timezone, created_at)
SELECT id, %s, label, %s, %s FROM unnest(%s::text[], %s::text[]) AS u(id, label)
ON CONFLICT (id) DO NOTHING
"""


async def add_homes_without_credentials(
    conn: psycopg.AsyncConnection, homes: dict[str, str], *, care_centre_id: int, timezone: str, now: datetime
) -> None:
    """Homes (id -> label) in one statement, with no broker credentials: for a broker without
    per-home accounts (development, the simulator's load runs); existing ids are left alone."""
    for home_id in homes:
        if not valid_home_id(home_id):
            raise PermanentError(f"invalid home id {home_id!r}")
    await conn.execute(_ADD_ANONYMOUS, (care_centre_id, timezone, now, list(homes), list(homes.values())))
