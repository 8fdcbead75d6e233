"""``eldercare api`` (serve the API and dashboard) and ``eldercare users add``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Iterator

import click
import psycopg
import uvicorn

from eldercare import logs
from eldercare.cli import EXIT_CONFIG, fail, fail_config, settings_or_exit
from eldercare.config import Settings
from eldercare.errors import ConfigError
from eldercare.lifecycle import run_until_stopped

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._\-]{2,63}$")  # the same rule as POST /api/v1/users


@click.command()
def command() -> None:
    """Serve the REST API and the care-staff dashboard (ELDERCARE_API__HOST, ELDERCARE_API__PORT)."""
    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    from api.app import create_app

    try:
        app = create_app(settings)
    except ConfigError as exc:
        fail_config(exc.problems)
    asyncio.run(_serve(settings, app))


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: our lifecycle owns SIGTERM/SIGINT and exits 0.

    (Uvicorn re-raises a captured SIGTERM after shutting down, which would end the process with
    -15 instead of the clean exit code the CLI promises.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(settings: Settings, app: object) -> None:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,
        access_log=False,  # request paths carry resident ids; our own logs carry what is needed
        timeout_graceful_shutdown=3,  # open alert streams are cut after this on SIGTERM
        proxy_headers=False,
    )
    server = _Server(config)

    async def main(stop: asyncio.Event) -> None:
        serving = asyncio.create_task(server.serve(), name="uvicorn")
        stopping = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stopping.cancel()
        await serving

    await run_until_stopped(main)
    if not server.started:
        raise SystemExit(1)  # could not bind, or the lifespan failed: uvicorn logged why
    logs.get("api").info("api_stopped")


@click.group()
def users() -> None:
    """Manage API users (admins, care staff, family members)."""


@users.command("add")
@click.option("--role", type=click.Choice(["admin", "staff", "family"]), required=True)
@click.option("--username", required=True, help="3-64 characters, stored lower-case")
@click.option("--centre", "centre", type=int, help="care centre id (required for staff)")
@click.option("--resident", "residents", type=int, multiple=True, help="linked resident id (family; repeatable)")
@click.option("--display-name", default=None)
@click.option("--locale", type=click.Choice(["zh-CN", "en"]), default="zh-CN")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input instead of a prompt")
def users_add(
    role: str,
    username: str,
    centre: int | None,
    residents: tuple[int, ...],
    display_name: str | None,
    locale: str,
    password_stdin: bool,
) -> None:
    """Create a user, the first admin included. The password is prompted for (never an argument)."""
    problems = _problems(role, username, centre, residents)
    if problems:
        fail_config(problems)
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if password_stdin
        else click.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    if len(password) < 10:
        fail("the password must be at least 10 characters", EXIT_CONFIG)
    settings = settings_or_exit()
    from api.security import hash_password

    try:
        user_id = _insert_user(settings, role, username.lower(), centre, residents, display_name, locale, hash_password(password))
    except psycopg.errors.UniqueViolation:
        fail(f"user {username.lower()!r} already exists")
    except psycopg.errors.ForeignKeyViolation:
        fail("the care centre or a resident does not exist")
    except psycopg.OperationalError as exc:
        fail(f"cannot reach the database: {exc}")
    click.echo(f"created {role} {username.lower()} (id {user_id})")


def _problems(role: str, username: str, centre: int | None, residents: tuple[int, ...]) -> list[str]:
    problems = []
    if not _USERNAME.match(username.lower()):
        problems.append("--username: 3 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit")
    if role == "staff" and centre is None:
        problems.append("--centre: required for staff")
    if role == "family" and not residents:
        problems.append("--resident: a family member needs at least one linked resident")
    if role != "family" and residents:
        problems.append("--resident: only family members are linked to residents")
    return problems


def _insert_user(
    settings: Settings,
    role: str,
    username: str,
    centre: int | None,
    residents: tuple[int, ...],
    display_name: str | None,
    locale: str,
    pw_hash: str,
) -> int:
    with psycopg.connect(settings.database_url, connect_timeout=10) as conn:
        row = conn.execute(
            "INSERT INTO users (username, password_hash, role, care_centre_id, display_name, locale)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (username, pw_hash, role, centre, display_name, locale),
        ).fetchone()
        assert row is not None
        for resident in residents:
            conn.execute("INSERT INTO family_links (user_id, resident_id) VALUES (%s, %s)", (row[0], resident))
        return int(row[0])
