"""``eldercare demo``: the whole system in one command (what it runs: :mod:`demo.system`)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import click

from eldercare import logs
from eldercare.cli import fail, fail_config, settings_or_exit
from eldercare.config import Settings
from eldercare.errors import ConfigError
from eldercare.lifecycle import install_stop_signals


@click.command("demo")
@click.option("--homes", type=click.IntRange(1, 5_000), default=50, show_default=True, help="simulated homes")
@click.option("--speed", type=click.FloatRange(1, 3600), default=60.0, show_default=True, help="simulated seconds per second")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="dashboard port (else a free one)")
@click.option("--fall-after", type=click.FloatRange(0), default=45.0, show_default=True, help="wall seconds to the scripted fall")
@click.option("--sos-after", type=click.FloatRange(0), default=75.0, show_default=True, help="wall seconds to the scripted SOS")
@click.option(
    "--history-days",
    type=click.FloatRange(0, 60),
    default=14.0,
    show_default=True,
    help="days of routine history written for every home before the start (0: none)",
)
@click.option("--keep", is_flag=True, help="keep the temporary directory (logs, private database) after stopping")
def demo(homes: int, speed: float, port: int, fall_after: float, sos_after: float, history_days: float, keep: bool) -> None:
    """Run the whole system: database, broker, ingest, alerts, API + dashboard, and simulated homes.

    Uses the configured PostgreSQL and broker, or starts private ones in a temporary directory.
    Prints the dashboard URL and three demo logins (admin, care staff, family) with generated
    passwords. Ctrl-C stops everything.
    """
    from demo.infra import DemoError
    from demo.system import DemoOptions

    settings = settings_or_exit()
    logs.configure(settings.log_level, "console" if sys.stderr.isatty() else settings.log_format)
    options = DemoOptions(
        homes=homes, speed=speed, port=port, fall_after_s=fall_after, sos_after_s=sos_after, keep=keep, history_days=history_days
    )
    try:
        code = asyncio.run(_demo(settings, options, dict(os.environ)))
    except DemoError as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail_config(exc.problems)
    sys.exit(code)


async def _demo(settings: Settings, options: Any, environ: dict[str, str]) -> int:
    from demo.system import run_demo

    stop = asyncio.Event()
    install_stop_signals(stop)
    return await run_demo(settings, options, environ, stop)
