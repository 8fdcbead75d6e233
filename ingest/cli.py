"""``eldercare ingest``: run the ingest service until SIGTERM."""

from __future__ import annotations

import asyncio

import click

from eldercare import logs
from eldercare.cli import fail, settings_or_exit
from eldercare.errors import PermanentError
from eldercare.lifecycle import run_until_stopped


@click.command("ingest")
def command() -> None:
    """MQTT to PostgreSQL, exactly once: validate, batch, COPY, deduplicate, acknowledge after commit."""
    from ingest import service  # after settings: a bad configuration exits 2 before heavy imports

    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    service.tune_garbage_collector()
    try:
        asyncio.run(run_until_stopped(lambda stop: service.run(settings, stop)))
    except* PermanentError as group:
        fail("; ".join(str(exc) for exc in group.exceptions))
