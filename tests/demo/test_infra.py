"""The demo's fallbacks: a private PostgreSQL and a private Mosquitto when none is reachable."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from demo.infra import ensure_broker, ensure_postgres, free_port

pytestmark = pytest.mark.slow  # starts PostgreSQL clusters and brokers of its own


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are private to root, and PostgreSQL refuses to run as root,
    # so the private cluster runs as another user who must be able to reach the directory.
    path = Path(tempfile.mkdtemp(prefix="eldercare-infra-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_private_postgresql_starts_when_none_answers_and_stops(workdir: Path) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/eldercare"
    server = await ensure_postgres(nowhere, workdir)
    try:
        assert server.url != nowhere
        assert "private PostgreSQL" in server.description
        async with await psycopg.AsyncConnection.connect(server.url, connect_timeout=5) as conn:
            row = await (await conn.execute("SELECT current_database()")).fetchone()
        assert row == ("eldercare",)
    finally:
        await server.stop()
    with pytest.raises(psycopg.OperationalError):
        await psycopg.AsyncConnection.connect(server.url, connect_timeout=2)


async def test_the_configured_postgresql_is_used_and_a_missing_database_created(db_url: str, workdir: Path) -> None:
    server = await ensure_postgres(db_url, workdir)
    assert server.url == db_url
    missing = db_url.rsplit("/", 1)[0] + f"/ecdemo_{free_port()}"
    created = await ensure_postgres(missing, workdir)
    try:
        assert "database created" in created.description
        async with await psycopg.AsyncConnection.connect(missing, connect_timeout=5):
            pass
    finally:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            name = sql.Identifier(missing.rsplit("/", 1)[1])
            await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


async def test_a_private_mosquitto_starts_when_no_broker_answers(workdir: Path, broker_url: str) -> None:
    port = free_port()
    broker = await ensure_broker(f"mqtt://127.0.0.1:{port}", "127.0.0.1", port, workdir)
    try:
        assert broker.process is not None
        assert broker.url != f"mqtt://127.0.0.1:{port}"
        host, private_port = broker.url.removeprefix("mqtt://").split(":")
        _, writer = await asyncio.open_connection(host, int(private_port))
        writer.close()
    finally:
        await broker.stop()
    assert broker.process.returncode is not None
    configured = await ensure_broker(broker_url, "127.0.0.1", int(broker_url.rsplit(":", 1)[1]), workdir)
    assert configured.process is None
