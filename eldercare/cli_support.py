"""What every ``eldercare`` subcommand shares: settings or exit 2, failures as exit 1, and the one
way a service runs (:func:`run_service`).

Kept apart from :mod:`eldercare.cli` (which reaches the database and every component) so the
gateway's ``eldercare edge`` can use it without pulling psycopg into its import graph.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import click

from eldercare import logs
from eldercare.config import Settings, load_settings
from eldercare.errors import ConfigError, EldercareError
from eldercare.lifecycle import run_until_stopped

Service = Callable[[Settings, asyncio.Event], Awaitable[None]]

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_EXISTS = 3  # what was to be created exists already (``eldercare users add``): scripts may go on


def fail_config(problems: list[str]) -> NoReturn:
    click.echo("configuration problems:", err=True)
    for problem in problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(EXIT_CONFIG)


def settings_or_exit(**overrides: Any) -> Settings:
    """Load settings, or print every problem and exit with code 2."""
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        fail_config(exc.problems)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def run_service(run: Service, settings: Settings | None = None) -> None:
    """``eldercare <service>``: settings (exit 2 listing every problem), logging, then
    ``run(settings, stop)`` with ``stop`` set by SIGTERM/SIGINT, the one ``asyncio.run`` of the
    process. Exit 0 after a clean stop, 2 on ConfigError, 1 on any other EldercareError."""
    settings = settings or settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    try:
        asyncio.run(run_until_stopped(lambda stop: run(settings, stop)))
    except (EldercareError, ExceptionGroup) as exc:
        errors = _leaves(exc)
        if not all(isinstance(error, EldercareError) for error in errors):
            raise
        problems = [problem for error in errors if isinstance(error, ConfigError) for problem in error.problems]
        if problems:
            fail_config(problems)
        fail("; ".join(str(error) for error in errors))


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) task-group exception groups, or ``exc`` itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
