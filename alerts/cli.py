"""``eldercare alerts``: the alert engine (rules, alert lifecycle, escalation, notifications)."""

from __future__ import annotations

import click

from eldercare.cli_support import run_service


@click.command("alerts")
def command() -> None:
    """Run the alert engine until SIGTERM. Any number of copies may run at once."""
    from alerts import service

    run_service(service.run)
