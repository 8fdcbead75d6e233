"""``eldercare ingest``: run the ingest service until SIGTERM."""

from __future__ import annotations

import click

from eldercare.cli_support import run_service, settings_or_exit


@click.command("ingest")
def command() -> None:
    """MQTT to PostgreSQL, exactly once: validate, batch, COPY, deduplicate, acknowledge after commit."""
    settings = settings_or_exit()
    from ingest import service  # after settings: a bad configuration exits 2 before heavy imports

    service.tune_garbage_collector()
    run_service(service.run, settings)
