"""``eldercare broker ...``: set up the broker through its dynamic-security plugin.

``eldercare broker provision-service`` creates the platform's MQTT service account (the one ingest and
alerts connect with) or brings it back to what it must be; running it again changes nothing and
says so. It connects to the host in ELDERCARE_MQTT_URL as the broker admin
(ELDERCARE_API__BROKER_ADMIN_USERNAME / _PASSWORD); the service's own username and password are the
ones in ELDERCARE_MQTT_URL, which is how the services that use them are configured.
"""

from __future__ import annotations

import asyncio
import sys

import click

from eldercare.cli_support import fail, fail_config, settings_or_exit
from eldercare.config import Settings, env_name
from eldercare.errors import TransientError
from eldercare.mqtt.dynsec import BrokerAdmin, DynsecAdminRefusedError, DynsecError, acl_text

#: Service passwords the command refuses outright (compared case-insensitively), besides short ones.
PLACEHOLDER_PASSWORDS = frozenset({"", "change-me", "changeme", "secret", "password", "please-change"})
MIN_PASSWORD_LENGTH = 16

_ADMIN_USERNAME = env_name(("api", "broker_admin_username"))
_ADMIN_PASSWORD = env_name(("api", "broker_admin_password"))
_MQTT_URL = env_name(("mqtt_url",))


@click.group()
def broker() -> None:
    """Set up the MQTT broker (Mosquitto 2 with the dynamic-security plugin)."""


@broker.command("provision-service")
@click.option("--username", default=None, help=f"the service account's username (default: the one in {_MQTT_URL})")
@click.option(
    "--password-stdin",
    is_flag=True,
    help=f"read the service account's password from standard input (default: the one in {_MQTT_URL})",
)
def provision_service(username: str | None, password_stdin: bool) -> None:
    """Create or update the platform's MQTT service account; idempotent.

    The role eldercare-service gets exactly the ACLs ingest and alerts need under the configured topic
    root (read every home's topics, shared subscriptions included; publish only each home's config),
    and the service client gets that role and the configured password. Exit 0 whether or not
    anything changed, 1 when the broker cannot be reached or refuses the admin, 2 on bad settings.
    """
    settings = settings_or_exit()
    stdin_password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    username, password = _service_credentials(settings, username, stdin_password)

    admin = BrokerAdmin.from_settings(settings)
    if admin is None:  # _service_credentials has already exited 2 without both admin settings
        fail_config([f"{_ADMIN_USERNAME}, {_ADMIN_PASSWORD}: required"])
    where = f"{admin.endpoint.host}:{admin.endpoint.port}"
    root = settings.mqtt.topic_root
    try:
        report = asyncio.run(admin.apply_service_account(root, username, password))
    except DynsecAdminRefusedError as exc:
        fail(f"{exc} (at {where}; check {_ADMIN_USERNAME} and {_ADMIN_PASSWORD})")
    except DynsecError as exc:
        fail(f"cannot provision the service account at {where}: {exc}")
    except TransientError as exc:
        fail(f"cannot provision the service account at {where}: {exc} (is the broker up, with the dynamic-security plugin?)")

    click.echo(f"service account {report.username} at {where}: role {report.role}, topic root {root}")
    for acl in report.acls:
        click.echo(f"  acl {acl_text(acl)}")
    for change in report.changes:
        click.echo(f"changed: {change}")
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.changed:
        click.echo(f"applied {len(report.changes)} change(s)")
    else:
        click.echo("up to date: nothing changed")


def _service_credentials(settings: Settings, username: str | None, stdin_password: str | None) -> tuple[str, str]:
    """The service account's username and password, or exit 2 listing every problem (admin settings included)."""
    endpoint = settings.mqtt_endpoint
    username = username if username is not None else endpoint.username
    password = stdin_password if stdin_password is not None else endpoint.password
    problems: list[str] = []
    admin_username = settings.api.broker_admin_username
    if not admin_username:
        problems.append(f"{_ADMIN_USERNAME}: required (the broker's dynamic-security admin)")
    if settings.api.broker_admin_password is None:
        problems.append(f"{_ADMIN_PASSWORD}: required (the broker's dynamic-security admin)")
    if not username:
        problems.append(f"{_MQTT_URL}: names no username; give the service account as mqtt://USER:PASSWORD@host:port")
    elif admin_username and username == admin_username:
        problems.append(f"{_MQTT_URL}: the service account must not be the broker admin ({admin_username})")
    source = "the password read from standard input" if stdin_password is not None else _MQTT_URL
    if password is None:
        problems.append(f"{_MQTT_URL}: names no password for the service account (or use --password-stdin)")
    elif password.lower() in PLACEHOLDER_PASSWORDS or len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            f"{source}: the service account's password must be a real secret of at least {MIN_PASSWORD_LENGTH} characters,"
            " not a placeholder"
        )
    if problems or not username or password is None:
        fail_config(problems)
    return username, password
