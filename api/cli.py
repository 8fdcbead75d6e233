"""``eldercare api`` (serve the API and dashboard) and ``eldercare users add``."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
import psycopg
from pydantic import BaseModel, ValidationError

from eldercare.cli import EXIT_EXISTS, fail, fail_config, settings_or_exit
from eldercare.cli_support import run_service
from eldercare.config import Settings
from eldercare.db.pool import CONNECTION_LOST
from eldercare.errors import NotFoundError

if TYPE_CHECKING:
    from api.accounts import NewUser

_Model = TypeVar("_Model", bound=BaseModel)


@click.command()
def command() -> None:
    """Serve the REST API and the care-staff dashboard (ELDERCARE_API__HOST, ELDERCARE_API__PORT)."""
    from api import service

    run_service(service.run)


@click.group()
def users() -> None:
    """Manage API users (admins, care staff, family members, district offices)."""


@users.command("add")
@click.option("--role", type=click.Choice(["admin", "staff", "family", "district"]), required=True)
@click.option("--username", required=True, help="3-64 characters, stored lower-case")
@click.option("--centre", "centre", type=int, help="care centre id (required for staff)")
@click.option("--resident", "residents", type=int, multiple=True, help="linked resident id (family; repeatable)")
@click.option("--oversee", "overseen", type=int, multiple=True, help="overseen care centre id (district; repeatable)")
@click.option("--display-name", default=None)
@click.option("--locale", type=click.Choice(["zh-CN", "en"]), default="zh-CN")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input instead of a prompt")
def users_add(
    role: str,
    username: str,
    centre: int | None,
    residents: tuple[int, ...],
    overseen: tuple[int, ...],
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
        "district_centre_ids": list(overseen),
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
_OPTIONS = {
    "care_centre_id": "--centre",
    "resident_ids": "--resident",
    "district_centre_ids": "--oversee",
    "display_name": "--display-name",
}


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
    except CONNECTION_LOST as exc:
        fail(f"cannot reach the database: {exc}")
