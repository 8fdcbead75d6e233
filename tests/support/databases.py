"""Per-test databases: one migrated template per run, cloned for each test in milliseconds."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from eldercare.db.migrate import migrate


def url_for(admin_url: str, database: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class DatabaseFactory:
    """Creates the template once, then a fresh clone per test; drops everything it made."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.run_id = uuid.uuid4().hex[:8]
        self.template = f"ectpl_{self.run_id}"
        self._made: list[str] = []

    def _admin(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)

    def create_template(self) -> None:
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        migrate(url_for(self.admin_url, self.template))

    def empty(self) -> str:
        """A new empty database (for migration tests)."""
        name = f"ecdb_{self.run_id}_{uuid.uuid4().hex[:8]}"
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._made.append(name)
        return url_for(self.admin_url, name)

    def clone(self) -> str:
        """A new database with every migration applied."""
        name = f"ecdb_{self.run_id}_{uuid.uuid4().hex[:8]}"
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.template)))
        self._made.append(name)
        return url_for(self.admin_url, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self._made:
            self._made.remove(name)

    def drop_all(self) -> None:
        for name in [*self._made, self.template]:
            self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._made.clear()
