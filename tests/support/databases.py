"""Per-test databases: one migrated template per run, cloned for each test in milliseconds.

Both flavours: the factory migrates its template as the flavour it is given (``require`` or
``off``, never ``auto``) and refuses to go on when the result is not that flavour.

TimescaleDB runs a background scheduler in every database that holds the extension, while a
database being cloned must have no other session. Worse, TimescaleDB's loader answers every
``CREATE DATABASE ... TEMPLATE t`` by *restarting* t's scheduler, which connects to t and then
waits for the CREATE's own transaction: CREATE DATABASE gives up after 5 s ("source database is
being accessed by other users"). So the template is created ``IS_TEMPLATE`` (the scheduler exits
at once in a template database: no job ever runs there, and clones inherit no job history) and,
once migrated, ``ALLOW_CONNECTIONS false`` (the loader does not restart what cannot connect).
Each clone's scheduler is stopped at once: tests run policies in the foreground (``CALL run_job``)
and stay deterministic; a test that wants the scheduler starts it
(:meth:`DatabaseFactory.start_scheduler`).
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from eldercare.db.migrate import migrate
from tests.support.services import Flavour


def url_for(admin_url: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def migrate_as(url: str, flavour: Flavour) -> None:
    """Migrate ``url`` as exactly ``flavour``; raises when the server cannot give it."""
    report = migrate(url, timescaledb="require" if flavour == "timescaledb" else "off")
    if report.flavour != flavour:
        raise AssertionError(f"asked for a {flavour} database, got {report.flavour}")


def refresh_activity(url: str, start: datetime, end: datetime) -> None:
    """Bring activity_hourly up to date with readings in [start, end), on either flavour."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT variant FROM schema_migrations WHERE version = 2").fetchone()
        if row is not None and row[0] == "timescaledb":  # a continuous aggregate refreshes outside any transaction
            conn.execute("CALL refresh_continuous_aggregate('activity_hourly', %s, %s)", (start, end))
        else:
            conn.execute("SELECT refresh_activity_hourly(%s, %s)", (start, end))


def stop_scheduler(url: str) -> None:
    """Stop TimescaleDB's background scheduler of this database (it stays stopped until started)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT _timescaledb_functions.stop_background_workers()")


class DatabaseFactory:
    """Creates the template once, then a fresh clone per test; drops everything it made."""

    def __init__(self, admin_url: str, flavour: Flavour = "postgres") -> None:
        self.admin_url = admin_url
        self.flavour: Flavour = flavour
        self.run_id = uuid.uuid4().hex[:8]
        self.template = f"ectpl_{self.run_id}"
        self._made: list[str] = []

    def _admin(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_template(self) -> None:
        self._admin(sql.SQL("CREATE DATABASE {} IS_TEMPLATE true").format(sql.Identifier(self.template)))
        migrate_as(url_for(self.admin_url, self.template), self.flavour)
        self._admin(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(self.template)))

    def empty(self) -> str:
        """A new empty database (for migration tests)."""
        name = f"ecdb_{self.run_id}_{uuid.uuid4().hex[:8]}"
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._made.append(name)
        return url_for(self.admin_url, name)

    def clone(self) -> str:
        """A new database with every migration applied (on TimescaleDB: its scheduler stopped)."""
        name = f"ecdb_{self.run_id}_{uuid.uuid4().hex[:8]}"
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.template)))
        self._made.append(name)
        url = url_for(self.admin_url, name)
        if self.flavour == "timescaledb":
            stop_scheduler(url)
        return url

    def start_scheduler(self, url: str) -> None:
        """Let TimescaleDB's background scheduler run this database's jobs."""
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT _timescaledb_functions.start_background_workers()")

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self._made:
            self._made.remove(name)

    def drop_all(self) -> None:
        with contextlib.suppress(psycopg.errors.InvalidCatalogName):  # when creating it failed
            # A template cannot be dropped.
            self._admin(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(self.template)))
        for name in [*self._made, self.template]:
            self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._made.clear()
