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

Runs that died leave their databases behind (a killed ``pytest``, a session ended mid-run). On
TimescaleDB that is worse than wasted disk: the launcher starts a scheduler for every database that
holds the extension (at the next poll, and for all of them when the cluster starts), each scheduler
takes one of ``timescaledb.max_background_workers`` slots (16 on the CI cluster) for good, and with
16 leftovers no new scheduler or job runs at all: the CI run where test_policies waited 120 s for
jobs that never started. So a run holds an advisory lock while it lives (:class:`RunLease`, its
databases are ``ecrun_<run id>_*``), and each new run drops the databases of runs whose lock is
free (:func:`sweep_dead_runs`) and stops the schedulers of databases named the way runs named them
before leases existed (``ectpl_*``, ``ecdb_*``, benches' ``*_<8 hex>``), which cannot tell whether
their run is alive.
"""

from __future__ import annotations

import contextlib
import re
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


# Advisory-lock namespace of test and benchmark runs ("ec"); the second key is the run id.
RUN_LOCK_CLASS = 0x6563
RUN_DATABASE = re.compile(r"ecrun_([0-9a-f]{8})_\w+")
# Names of runs from before leases: their owner cannot be known, so only their scheduler is stopped.
UNLEASED_DATABASE = re.compile(r"(ectpl_[0-9a-f]{8}|ecdb_[0-9a-f]{8}_[0-9a-f]{8}|(bench|ecbench|chaos)\w*_[0-9a-f]{8})")


class RunLease:
    """An advisory lock held for as long as a run lives; its databases are ``ecrun_<run_id>_*``.

    The lock is a session lock on its own connection, so a killed run releases it with its socket.
    """

    def __init__(self, admin_url: str) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self._conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
        self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, _lock_key(self.run_id)))

    def database_name(self, suffix: str) -> str:
        return f"ecrun_{self.run_id}_{suffix}"

    def release(self) -> None:
        self._conn.close()


def _lock_key(run_id: str) -> int:
    return int(run_id, 16) - 2**31  # 32 bits as PostgreSQL's int4


def _run_is_alive(conn: psycopg.Connection, run_id: str) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, _lock_key(run_id))).fetchone()
    if row is not None and row[0]:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_LOCK_CLASS, _lock_key(run_id)))
        return False
    return True


def sweep_dead_runs(admin_url: str) -> tuple[list[str], list[str]]:
    """Drop the databases of runs that died; stop the schedulers of unleased ones. Returns both lists."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database ORDER BY datname").fetchall()]
        dead = [name for name in names if (m := RUN_DATABASE.fullmatch(name)) and not _run_is_alive(conn, m.group(1))]
        for name in dead:
            # A template cannot be dropped; another sweep may have dropped it meanwhile.
            with contextlib.suppress(psycopg.errors.InvalidCatalogName):
                conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    stopped = []
    for name in names:
        if UNLEASED_DATABASE.fullmatch(name) and _stop_scheduler_if_any(url_for(admin_url, name)):
            stopped.append(name)
    return dead, stopped


def _stop_scheduler_if_any(url: str) -> bool:
    """Stop the TimescaleDB scheduler of a database that holds the extension and takes connections."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None:
                return False
            conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
            return True
    except psycopg.OperationalError:  # ALLOW_CONNECTIONS false (a template: no scheduler), or dropped meanwhile
        return False


def stop_scheduler(url: str) -> None:
    """Stop TimescaleDB's background scheduler of this database (it stays stopped until started)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT _timescaledb_functions.stop_background_workers()")


class DatabaseFactory:
    """Creates the template once, then a fresh clone per test; drops everything it made."""

    def __init__(self, admin_url: str, flavour: Flavour = "postgres") -> None:
        self.admin_url = admin_url
        self.flavour: Flavour = flavour
        self.lease = RunLease(admin_url)
        self.template = self.lease.database_name("template")
        self._made: list[str] = []

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_template(self) -> None:
        sweep_dead_runs(self.admin_url)
        self._admin(sql.SQL("CREATE DATABASE {} IS_TEMPLATE true").format(sql.Identifier(self.template)))
        migrate_as(url_for(self.admin_url, self.template), self.flavour)
        self._admin(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(self.template)))

    def empty(self) -> str:
        """A new empty database (for migration tests)."""
        name = self.lease.database_name(uuid.uuid4().hex[:8])
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._made.append(name)
        return url_for(self.admin_url, name)

    def reserve(self) -> str:
        """The URL of a database this run will drop, not created (for a command that creates it)."""
        name = self.lease.database_name(uuid.uuid4().hex[:8])
        self._made.append(name)
        return url_for(self.admin_url, name)

    def clone(self) -> str:
        """A new database with every migration applied (on TimescaleDB: its scheduler stopped)."""
        name = self.lease.database_name(uuid.uuid4().hex[:8])
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
        self.lease.release()
