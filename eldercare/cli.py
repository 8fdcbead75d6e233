"""The ``eldercare`` command. Every service runs from here: ``eldercare <service> ...``.

Components register their subcommands in ``COMPONENT_COMMANDS`` and are imported only when their
command runs, so a gateway install (no psycopg, no FastAPI) can still run ``eldercare edge``.
Exit codes: 0 clean, 1 failure, 2 bad configuration or usage (every problem listed at once).
"""

from __future__ import annotations

import importlib
import importlib.util
import json

import click

from eldercare import __version__
from eldercare.cli_support import EXIT_CONFIG, EXIT_EXISTS, EXIT_FAILURE, fail, fail_config, settings_or_exit
from eldercare.config import redacted
from eldercare.errors import EldercareError, PermanentError

__all__ = ["COMPONENT_COMMANDS", "EXIT_CONFIG", "EXIT_EXISTS", "EXIT_FAILURE", "fail", "fail_config", "main", "settings_or_exit"]

#: subcommand -> "module:attribute" of a click command, loaded lazily.
COMPONENT_COMMANDS: dict[str, str] = {
    "ingest": "ingest.cli:command",
    "edge": "edge.cli:command",
    "alerts": "alerts.cli:command",
    "api": "api.cli:command",
    "users": "api.cli:users",
    "simulate": "simulator.cli:simulate",
    "demo": "simulator.cli:demo",
    "broker": "eldercare.mqtt.cli:broker",
}


class LazyGroup(click.Group):
    """A group whose component subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [name for name, target in COMPONENT_COMMANDS.items() if _importable(target)]
        return sorted(set(super().list_commands(ctx)) | set(available))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        target = COMPONENT_COMMANDS.get(cmd_name)
        if target is None or not _importable(target):
            return None
        module_name, attr = target.split(":")
        loaded = getattr(importlib.import_module(module_name), attr)
        if not isinstance(loaded, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{target} is not a click command")
        return loaded


def _importable(target: str) -> bool:
    module_name = target.split(":")[0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eldercare")
def main() -> None:
    """eldercare: smart elderly-care platform. Configuration comes from ELDERCARE_* variables."""


def _print_or_write(text: str, write_path: str | None) -> None:
    """A generated document: to stdout, or into ``write_path``."""
    if write_path is None:
        click.echo(text, nl=False)
        return
    with open(write_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    click.echo(f"wrote {write_path}")


@main.group()
def config() -> None:
    """Show or check the configuration read from the environment."""


@config.command("show")
def config_show() -> None:
    """Print the effective configuration as JSON, secrets hidden."""
    click.echo(json.dumps(redacted(settings_or_exit()), indent=2, sort_keys=True))


@config.command("check")
def config_check() -> None:
    """Exit 0 when the configuration is valid, 2 (listing every problem) when not."""
    settings_or_exit()
    click.echo("configuration ok")


@config.command("docs")
@click.option("--write", "write_path", type=click.Path(dir_okay=False), help="write the reference to this file")
def config_docs(write_path: str | None) -> None:
    """Print (or write) docs/configuration.md generated from the Settings model."""
    from eldercare.config_docs import render

    _print_or_write(render(), write_path)


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (idempotent; refuses edited migrations)."""
    from eldercare.db.migrate import migrate

    settings = settings_or_exit()
    try:
        report = migrate(settings.database_url, timescaledb=settings.db.timescaledb)
    except PermanentError as exc:
        fail(str(exc), EXIT_CONFIG)
    except EldercareError as exc:
        fail(str(exc))
    for name in report.applied:
        click.echo(f"applied {name}")
    for note in report.notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"schema up to date ({report.flavour}; {len(report.applied)} applied, {report.already_applied} already applied)")


@db.command("maintain")
def db_maintain() -> None:
    """Apply retention and refresh recent roll-ups (plain PostgreSQL); sync TimescaleDB policies."""
    from eldercare.db.maintain import maintain
    from eldercare.lifecycle import clock_from

    settings = settings_or_exit()
    retention = {"readings": settings.db.readings_retention_days, "events": settings.db.events_retention_days}
    try:
        report = maintain(settings.database_url, now=clock_from(settings).now(), retention_days=retention)
    except EldercareError as exc:
        fail(str(exc))
    if report.flavour == "timescaledb":
        click.echo("TimescaleDB: retention policies set; compression and roll-ups run as extension jobs")
        return
    deleted = ", ".join(f"{table} {count}" for table, count in report.deleted.items())
    click.echo(f"deleted expired rows: {deleted}; refreshed {report.rollup_hours} h of activity roll-ups")


@db.command("status")
def db_status() -> None:
    """List migrations and whether each is applied."""
    from eldercare.db.migrate import status

    settings = settings_or_exit()
    try:
        rows = status(settings.database_url)
    except Exception as exc:  # noqa: BLE001 - a CLI boundary: report and exit non-zero
        fail(f"cannot read migration status: {exc}")
    for name, state in rows:
        click.echo(f"{name}\t{state}")


@main.group()
def contracts() -> None:
    """The MQTT contract (v1)."""


@contracts.command("docs")
@click.option("--write", "write_path", type=click.Path(dir_okay=False), help="write the protocol reference to this file")
def contracts_docs(write_path: str | None) -> None:
    """Print (or write) docs/protocol.md generated from the payload models."""
    from eldercare.contracts.docs import render

    _print_or_write(render(), write_path)
