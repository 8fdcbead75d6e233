"""``eldercare demo``: the whole system in one command.

1. PostgreSQL and an MQTT broker: the configured ones, or private ones in a temporary directory
   (see :mod:`demo.infra`); then ``eldercare db migrate``.
2. A shared simulated clock (today 07:00 in the homes' timezone, ``--speed`` times faster than
   wall time) handed to every service through ``ELDERCARE_CLOCK__*``.
3. The simulated care centre, its homes and residents, and ``history_days`` (14) of each home's
   routine written straight into the database (:mod:`simulator.backfill`), so the learned
   routines and every "usual" figure are real from the first minute; four demo users with generated
   passwords (an admin, a care-staff member of the centre, a family member linked to the first home's
   resident, a district office overseeing the centre) through ``eldercare users add``.
4. ``eldercare ingest``, ``eldercare alerts``, ``eldercare api`` and ``eldercare simulate run``
   as subprocesses, with a scenario: a fall in the first home about ``fall_after_s`` wall seconds
   after the start and an SOS press in the second about ``sos_after_s`` wall seconds after it.
5. Prints the dashboard URL and the logins, then runs until Ctrl-C/SIGTERM, and stops everything
   in reverse order (the simulator first, so the last readings are still ingested).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from demo.infra import DemoError, ensure_broker, ensure_postgres, free_port
from eldercare import logs
from eldercare.cli_support import EXIT_EXISTS
from eldercare.config import Settings, load_settings
from eldercare.db.migrate import migrate
from eldercare.retry import sleep_until
from simulator.backfill import backfill
from simulator.registry import register

log = logs.get("demo")
ELDERCARE = [sys.executable, "-m", "eldercare"]


@dataclass(frozen=True)
class DemoOptions:
    homes: int = 50
    speed: float = 60.0
    port: int = 8000
    fall_after_s: float = 45.0
    sos_after_s: float = 75.0
    keep: bool = False
    history_days: float = 14.0


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path


@dataclass
class DemoUser:
    role: str
    username: str
    password: str | None  # None: the user existed already, password unchanged


@dataclass
class Demo:
    settings: Settings
    options: DemoOptions
    environ: Mapping[str, str]
    workdir: Path
    children: list[Child] = field(default_factory=list)

    def child_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in self.environ.items() if not k.startswith("ELDERCARE_")}
        own = {k: v for k, v in self.environ.items() if k.startswith("ELDERCARE_") and not k.startswith("ELDERCARE_CLOCK__")}
        env.update(own)
        env.update(extra)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def start(self, name: str, args: list[str], env: Mapping[str, str]) -> Child:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            process = await asyncio.create_subprocess_exec(*ELDERCARE, *args, env=dict(env), stdout=out, stderr=out)
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    async def stop_children(self) -> None:
        for child in reversed(self.children):
            if child.process.returncode is None:
                child.process.terminate()
                try:
                    await asyncio.wait_for(child.process.wait(), 30)
                except TimeoutError:
                    child.process.kill()
                    await child.process.wait()
            log.info("demo_service_stopped", service=child.name, exit_code=child.process.returncode)


def demo_start(zone: ZoneInfo, now: datetime) -> datetime:
    """Today 07:00 in the homes' timezone: residents are getting up, the day is at its busiest."""
    return now.astimezone(zone).replace(hour=7, minute=0, second=0, microsecond=0)


async def run_demo(settings: Settings, options: DemoOptions, environ: Mapping[str, str], stop: asyncio.Event) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="eldercare-demo-"))
    demo = Demo(settings, options, environ, workdir)
    try:
        async with AsyncExitStack() as stack:
            return await _run(demo, stack, stop)
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def _run(demo: Demo, stack: AsyncExitStack, stop: asyncio.Event) -> int:
    settings, options = demo.settings, demo.options
    pg = await ensure_postgres(settings.database_url, demo.workdir)
    stack.push_async_callback(pg.stop)
    endpoint = settings.mqtt_endpoint
    broker = await ensure_broker(settings.mqtt_url, endpoint.host, endpoint.port, demo.workdir)
    stack.push_async_callback(broker.stop)
    click.echo(f"database: {pg.description}\nbroker:   {broker.description}", err=True)
    report = await asyncio.to_thread(migrate, pg.url, timescaledb=settings.db.timescaledb)
    click.echo(f"schema:   up to date ({report.flavour}, {len(report.applied)} applied)", err=True)
    env, child_settings = _shared_env(demo, pg.url, broker.url)
    now = child_settings.clock.start or datetime.now(UTC)
    registration = await register(child_settings, _home_ids(child_settings, options.homes), now=now)
    await _history(child_settings, options, now)
    users = await _demo_users(demo, env, registration.care_centre_id, child_settings)
    stack.push_async_callback(demo.stop_children)
    await _start_services(demo, env, child_settings)
    url = f"http://127.0.0.1:{env['ELDERCARE_API__PORT']}/"
    await _wait_for_http(demo, url)
    _banner(url, users, child_settings, demo)
    return await _supervise(demo, stop)


async def _history(settings: Settings, options: DemoOptions, now: datetime) -> None:
    """A lived-in system: the fortnight before the demo's morning, for every home (none with 0 days).
    Before any service starts, so the alert engine learns its routines from it at once."""
    if options.history_days <= 0:
        return
    click.echo(f"history:  writing {options.history_days:g} days for {options.homes} homes (about a second per home)…", err=True)
    started = time.monotonic()
    report = await backfill(settings, days=options.history_days, end=now, homes=options.homes)
    click.echo(
        f"history:  {options.history_days:g} days for {report.homes} homes ({report.readings:,} readings,"
        f" {time.monotonic() - started:.0f} s)",
        err=True,
    )


def _home_ids(settings: Settings, homes: int) -> list[str]:
    return [f"{settings.simulator.home_prefix}-{i:05d}" for i in range(homes)]


def _shared_env(demo: Demo, database_url: str, mqtt_url: str) -> tuple[dict[str, str], Settings]:
    """The environment every service gets, and the same as a Settings object for in-process steps."""
    options, sim = demo.options, demo.settings.simulator
    start = demo_start(ZoneInfo(sim.timezone), datetime.now(UTC))
    port = options.port if _port_free(options.port) else free_port()
    env = {
        "ELDERCARE_DATABASE_URL": database_url,
        "ELDERCARE_MQTT_URL": mqtt_url,
        "ELDERCARE_CLOCK__START": start.isoformat(),
        "ELDERCARE_CLOCK__SPEED": repr(options.speed),
        "ELDERCARE_CLOCK__EPOCH_WALL_S": repr(time.time()),
        "ELDERCARE_API__HOST": "127.0.0.1",
        "ELDERCARE_API__PORT": str(port),
        "ELDERCARE_API__JWT_SECRET": demo.environ.get("ELDERCARE_API__JWT_SECRET") or secrets.token_urlsafe(48),
        "ELDERCARE_INGEST__METRICS_PORT": str(free_port()),
        "ELDERCARE_ALERTS__METRICS_PORT": str(free_port()),
        "ELDERCARE_SIMULATOR__HOMES": str(options.homes),
        "ELDERCARE_SIMULATOR__DATA_DIR": str(demo.workdir / "sim-data"),
        "ELDERCARE_SIMULATOR__GROUND_TRUTH_FILE": str(demo.workdir / "sim-data" / "ground-truth.jsonl"),
    }
    overrides = {
        "database_url": database_url,
        "mqtt_url": mqtt_url,
        "clock": {"start": start, "speed": options.speed, "epoch_wall_s": float(env["ELDERCARE_CLOCK__EPOCH_WALL_S"])},
        "simulator": {**sim.model_dump(), "homes": options.homes, "data_dir": demo.workdir / "sim-data"},
    }
    return env, load_settings(**{**_settings_values(demo.settings), **overrides})


def _settings_values(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in type(settings).model_fields}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _demo_users(demo: Demo, env: Mapping[str, str], centre: int, settings: Settings) -> list[DemoUser]:
    resident = await _first_resident(settings)
    specs = [
        ("admin", "demo-admin", []),
        ("staff", "demo-staff", ["--centre", str(centre)]),
        ("family", "demo-family", ["--resident", str(resident)]),
        ("district", "demo-district", ["--oversee", str(centre)]),
    ]
    users = []
    for role, username, extra in specs:
        password = secrets.token_urlsafe(12)
        args = ["users", "add", "--role", role, "--username", username, "--password-stdin", *extra]
        proc = await asyncio.create_subprocess_exec(
            *ELDERCARE,
            *args,
            env=demo.child_env(env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await proc.communicate((password + "\n").encode())
        if proc.returncode == 0:
            users.append(DemoUser(role, username, password))
        elif proc.returncode == EXIT_EXISTS:  # a demo run before made it; its password was shown then
            users.append(DemoUser(role, username, None))
        else:
            text = output.decode(errors="replace")
            raise DemoError(f"eldercare users add ({role}) failed: {text.strip()[-500:]}")
    return users


async def _first_resident(settings: Settings) -> int:
    import psycopg

    first = f"{settings.simulator.home_prefix}-00000"
    async with await psycopg.AsyncConnection.connect(settings.database_url, connect_timeout=5) as conn:
        row = await (await conn.execute("SELECT min(id) FROM residents WHERE home_id = %s", (first,))).fetchone()
    if row is None or row[0] is None:
        raise DemoError(f"home {first} has no resident")
    return int(row[0])


async def _start_services(demo: Demo, env: Mapping[str, str], settings: Settings) -> None:
    scenario = demo.workdir / "demo-scenario.json"
    speed = demo.options.speed
    incidents = [
        {"kind": "fall", "home": 0, "at": demo.options.fall_after_s * speed},
        {"kind": "sos", "home": 1, "at": demo.options.sos_after_s * speed},
    ]
    scenario.write_text(json.dumps({"incidents": incidents}, indent=2))
    child_env = demo.child_env(env)
    for name in ("ingest", "alerts", "api"):
        await demo.start(name, [name], child_env)
    await demo.start("simulator", ["simulate", "run", "--scenario", str(scenario)], child_env)


async def _wait_for_http(demo: Demo, url: str, timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            _fail_if_exited(demo)
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise DemoError(f"the dashboard did not answer at {url} within {timeout_s:.0f} s; logs in {demo.workdir / 'logs'}")


def _fail_if_exited(demo: Demo) -> None:
    for child in demo.children:
        if child.process.returncode is not None:
            tail = child.log_path.read_text(errors="replace")[-2000:]
            raise DemoError(f"eldercare {child.name} exited with {child.process.returncode}:\n{tail}")


def _banner(url: str, users: list[DemoUser], settings: Settings, demo: Demo) -> None:
    speed = demo.options.speed
    lines = [
        "",
        "eldercare demo is running · 演示系统已启动",
        f"  dashboard 控制台:  {url}",
        "  logins 登录账号:",
    ]
    for user in users:
        secret = user.password if user.password is not None else "(existing user; password unchanged 已存在，密码未改)"
        lines.append(f"    {user.role:<8} {user.username:<13} {secret}")
    start = settings.clock.start
    lines += [
        f"  {demo.options.homes} simulated homes, simulated time starts {start:%Y-%m-%d %H:%M} {settings.simulator.timezone},"
        f" {speed:g}x faster than real time",
        f"  {demo.options.homes} 个模拟家庭，模拟时间 {speed:g} 倍速",
        f"  scripted: a fall in {_home_ids(settings, 1)[0]} in ~{demo.options.fall_after_s:.0f} s, "
        f"an SOS press in {_home_ids(settings, 2)[1]} in ~{demo.options.sos_after_s:.0f} s",
        f"  脚本事件：约 {demo.options.fall_after_s:.0f} 秒后跌倒，约 {demo.options.sos_after_s:.0f} 秒后紧急呼叫",
        "  what to do 怎么看:",
        f"    1. open {url} and log in as demo-staff: the fall arrives with an alarm; open it, claim it,"
        " work through the steps, resolve it",
        f"       打开 {url}，用 demo-staff 登录：跌倒警报会响铃出现；打开、认领、按步骤处置、结案",
        "    2. log in as demo-family (another browser or after logging out): what the centre did, in plain words",
        "       用 demo-family 登录（另一个浏览器或退出后）：以家属身份查看护理中心的处理经过",
        "    3. demo-district: the district office's figures across its centres (no personal data), with a CSV export",
        "       用 demo-district 登录：区域监督，各中心的统计数字（不含个人信息），可导出 CSV",
        "    4. demo-admin sees every centre; GET /docs is the API",
        "       demo-admin 可查看所有中心；/docs 为接口文档",
        f"  service logs 日志: {demo.workdir / 'logs'}",
        "  Ctrl-C stops everything · 按 Ctrl-C 停止",
        "",
    ]
    click.echo("\n".join(lines))


async def _supervise(demo: Demo, stop: asyncio.Event) -> int:
    """Until stop: 0. A service that dies on its own: its log tail and 1."""
    while not stop.is_set():
        try:
            _fail_if_exited(demo)
        except DemoError as exc:
            click.echo(f"error: {exc}", err=True)
            return 1
        await sleep_until(stop, 0.5)
    click.echo("stopping 正在停止 ...", err=True)
    return 0
