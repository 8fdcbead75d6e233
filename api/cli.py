"""``eldercare api`` (serve the API and dashboard) and ``eldercare users add``."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
import psycopg
import uvicorn
from pydantic import BaseModel, ValidationError

from eldercare import logs
from eldercare.cli import EXIT_EXISTS, fail, fail_config, settings_or_exit
from eldercare.config import Settings
from eldercare.errors import ConfigError, NotFoundError
from eldercare.lifecycle import run_until_stopped

if TYPE_CHECKING:
    from api.accounts import NewUser

_Model = TypeVar("_Model", bound=BaseModel)


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
        # Behind Caddy, the client address (login throttling, logs) comes from X-Forwarded-For, but only
        # when the connection comes from the proxy itself; anyone else's header is ignored.
        proxy_headers=bool(settings.api.forwarded_allow_ips),
        forwarded_allow_ips=settings.api.forwarded_allow_ips or None,
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
    """Create a user, the first admin included. The password is prompted for (never an argument).

    The rules and the writes are those of POST /api/v1/users. Exit 3 when the username is taken.
    """
    from api.accounts import NewUser, UserFields

    fields = {
        "username": username.lower(),
        "role": role,
        "care_centre_id": centre,
        "resident_ids": list(residents),
        "display_name": display_name,
        "locale": locale,
    }
    _validated(UserFields, fields)  # every usage problem before the password prompt
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if password_stdin
        else click.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    new = _validated(NewUser, {**fields, "password": password})
    settings = settings_or_exit()
    user_id = asyncio.run(_add_user(settings, new))
    click.echo(f"created {new.role} {new.username} (id {user_id})")


# The CLI's names for the fields of api.accounts.UserFields.
_OPTIONS = {"care_centre_id": "--centre", "resident_ids": "--resident", "display_name": "--display-name"}


def _validated(model: type[_Model], fields: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            option = _OPTIONS.get(name, f"--{name}" if name != "password" else "the password")
            problems.append(f"{option}: {error['msg'].removeprefix('Value error, ')}")
        fail_config(problems)


async def _add_user(settings: Settings, new: NewUser) -> int:
    from api.accounts import UsernameTakenError, create_user

    try:
        async with await psycopg.AsyncConnection.connect(settings.database_url, connect_timeout=10) as conn:
            return await create_user(conn, new, now=datetime.now(UTC))
    except UsernameTakenError:
        fail(f"user {new.username!r} already exists", EXIT_EXISTS)
    except NotFoundError as exc:
        fail(str(exc))
    except psycopg.OperationalError as exc:
        fail(f"cannot reach the database: {exc}")
