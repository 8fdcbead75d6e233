"""The ``eldercare`` command. Every service runs from here: ``eldercare <service> ...``.

Components register their subcommands in ``COMPONENT_COMMANDS`` and are imported only when their
command runs, so a gateway install (no psycopg, no FastAPI) can still run ``eldercare edge``.
Exit codes: 0 clean, 1 failure, 2 bad configuration or usage (every problem listed at once).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from eldercare import __version__
from eldercare.cli_support import EXIT_CONFIG, EXIT_EXISTS, EXIT_FAILURE, fail, fail_config, settings_or_exit
from eldercare.config import Settings, redacted
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
    "demo": "demo.cli:demo",
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
@click.option(
    "--every",
    "every_s",
    type=click.FloatRange(min=60),
    default=None,
    help="run again every N seconds until stopped (a compose service), instead of once (cron)",
)
def db_maintain(every_s: float | None) -> None:
    """Keep retention and roll-ups right: TimescaleDB policies synced, failing or overdue ones run now.

    On plain PostgreSQL: delete expired rows and refresh recent roll-ups. Run it every 15 minutes;
    exit 1 when a policy run in the foreground failed (with --every: it goes on).
    """
    import time

    settings = settings_or_exit()
    while True:
        problem = _maintain_once(settings)
        if every_s is None:
            if problem is not None:
                fail(problem)
            return
        if problem is not None:
            click.echo(f"error: {problem}", err=True)
        time.sleep(every_s)


def _maintain_once(settings: Settings) -> str | None:
    """One maintenance run, reported on stdout; returns what failed, if anything."""
    from eldercare.db.maintain import maintain
    from eldercare.lifecycle import clock_from

    retention = {"readings": settings.db.readings_retention_days, "events": settings.db.events_retention_days}
    try:
        report = maintain(settings.database_url, now=clock_from(settings).now(), retention_days=retention)
    except EldercareError as exc:
        return str(exc)
    if report.skipped:
        click.echo("another `eldercare db maintain` is running: nothing done")
    elif report.flavour != "timescaledb":
        deleted = ", ".join(f"{table} {count}" for table, count in report.deleted.items())
        click.echo(f"deleted expired rows: {deleted}; refreshed {report.rollup_hours} h of activity roll-ups")
    else:
        for change in report.changes or ["policies: as configured, nothing changed"]:
            click.echo(change)
        for run in report.runs:
            outcome = "ok" if run.ok else f"FAILED: {run.error}"
            click.echo(f"ran {run.policy} (job {run.job_id}) in the foreground: {outcome} ({run.seconds:.1f} s)")
        if not report.runs:
            click.echo("every policy's newest run succeeded, none overdue: nothing to run")
    return f"{len(report.failed)} policy run(s) failed in the foreground" if report.failed else None


@db.command("status")
def db_status() -> None:
    """List migrations, and on TimescaleDB each policy with its last run, last success and last error."""
    from eldercare.db.migrate import status

    settings = settings_or_exit()
    try:
        schema = status(settings.database_url)
    except Exception as exc:  # noqa: BLE001 - a CLI boundary: report and exit non-zero
        fail(f"cannot read migration status: {exc}")
    for name, state in schema.migrations:
        click.echo(f"{name}\t{state}")
    if schema.flavour == "postgres":
        click.echo("policies: none on plain PostgreSQL (`eldercare db maintain` applies retention, ingest refreshes roll-ups)")
    if schema.policies is None:
        if schema.flavour == "timescaledb":
            click.echo("policies: run `eldercare db migrate` first")
        return
    click.echo("policy\tjob\tinterval\tstate\tlast run\tlast success\tlast error")
    for p in schema.policies:
        last_run = "never" if p.last_run_at is None else f"{_stamp(p.last_run_at)} {'ok' if p.last_run_ok else 'failed'}"
        error = "-" if p.last_error is None else f"{_stamp(p.last_error_at)} {p.last_error}"
        click.echo(
            f"{p.policy}\t{p.job_id}\t{_duration(p.interval)}\t{p.state}\t{last_run}\t{_stamp(p.last_success_at)}\t{error}"
        )


_JOBS = click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="tables done in parallel")
_PG_BIN = click.option(
    "--pg-bin", "pg_bin", type=click.Path(file_okay=False), default=None,
    help="folder of pg_dump/pg_restore (of the server's major version or newer); default: PATH, then /usr/lib/postgresql/*/bin",
)  # fmt: skip


@db.command("backup")
@click.argument("folder", type=click.Path(path_type=Path))
@_JOBS
@_PG_BIN
def db_backup(folder: Path, jobs: int, pg_bin: str | None) -> None:
    """Back the database up into the new FOLDER (pg_dump's directory format plus a manifest).

    Row counts, hypertables and policies go into FOLDER/eldercare-backup.json, taken in the same
    snapshot as the dump; `eldercare db restore` checks the restored database against them.
    """
    from eldercare.db.backup import backup

    settings = settings_or_exit()
    try:
        report = backup(settings.database_url, folder, jobs=jobs, pg_bin=pg_bin)
    except PermanentError as exc:
        fail(str(exc), EXIT_CONFIG)
    except EldercareError as exc:
        fail(str(exc))
    rows = report.manifest["rows"]
    assert isinstance(rows, dict)
    flavour = report.manifest["flavour"]
    if report.manifest["timescaledb"]:
        flavour = f"{flavour} {report.manifest['timescaledb']}"
    for line in report.manifest.get("pg_dump_said", []):  # type: ignore[attr-defined]
        click.echo(line, err=True)
    click.echo(
        f"backed up ({flavour}, PostgreSQL {report.manifest['server_version']}) into {folder}:"
        f" {sum(rows.values()):,} rows in {len(rows)} tables, {report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s"
    )


@db.command("restore")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--into", "into", default=None, help="database to restore into, on the same server (default: the configured one)")
@_JOBS
@_PG_BIN
def db_restore(folder: Path, into: str | None, jobs: int, pg_bin: str | None) -> None:
    """Restore a backup FOLDER into a new or empty database (created when missing), then check it.

    The restored database must have the backup's row counts, hypertables and policies, or this
    exits 1. On TimescaleDB the server needs the backup's extension version.
    """
    from urllib.parse import urlsplit, urlunsplit

    from eldercare.db.backup import restore

    settings = settings_or_exit()
    url = settings.database_url
    if into is not None:
        url = urlunsplit(urlsplit(url)._replace(path=f"/{into}"))
    try:
        report = restore(url, folder, jobs=jobs, pg_bin=pg_bin)
    except PermanentError as exc:
        fail(str(exc), EXIT_CONFIG)
    except EldercareError as exc:
        fail(str(exc))
    click.echo(f"restored {folder} (taken {report.manifest['taken_at']}) into {report.database} in {report.seconds:.1f} s")
    for line in report.checked:
        click.echo(f"checked: {line}")


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _stamp(moment: datetime | None) -> str:
    return "never" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@main.group()
def contracts() -> None:
    """The MQTT contract (v1)."""


@contracts.command("docs")
@click.option("--write", "write_path", type=click.Path(dir_okay=False), help="write the protocol reference to this file")
def contracts_docs(write_path: str | None) -> None:
    """Print (or write) docs/protocol.md generated from the payload models."""
    from eldercare.contracts.docs import render

    _print_or_write(render(), write_path)
