"""``eldercare alerts``: the alert engine (rules, alert lifecycle, escalation, notifications)."""

from __future__ import annotations

import asyncio

import click

from eldercare import logs
from eldercare.cli import EXIT_CONFIG, fail, settings_or_exit
from eldercare.errors import EldercareError, PermanentError


@click.command("alerts")
def command() -> None:
    """Run the alert engine until SIGTERM. Any number of copies may run at once."""
    from alerts.service import run

    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    try:
        asyncio.run(run(settings))
    except PermanentError as exc:
        fail(str(exc), EXIT_CONFIG)
    except EldercareError as exc:
        fail(str(exc))
