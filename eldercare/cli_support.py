"""What every ``eldercare`` subcommand shares: settings or exit 2, failures as exit 1.

Kept apart from :mod:`eldercare.cli` (which reaches the database and every component) so the
gateway's ``eldercare edge`` can use it without pulling psycopg into its import graph.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from eldercare.config import Settings, load_settings
from eldercare.errors import ConfigError

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
