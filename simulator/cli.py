"""``eldercare simulate run | backfill | score``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from eldercare import logs
from eldercare.cli import EXIT_CONFIG, fail, fail_config, settings_or_exit
from eldercare.config import Settings
from eldercare.errors import ConfigError, EldercareError, PermanentError
from eldercare.lifecycle import clock_from, install_stop_signals
from simulator.incidents import parse_duration


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _settings_with_clock(speed: float | None, start: str | None, overrides: dict[str, Any]) -> Settings:
    """Settings, with --speed/--start (if given) as the shared simulated clock."""
    base = settings_or_exit()
    clock = base.clock.model_dump()
    if start is not None:
        clock["start"] = start
    if speed is not None:
        clock["speed"] = speed
    if (start is not None or speed is not None) and clock["start"] is None:
        clock["start"] = datetime.now(UTC).isoformat()
    if clock["start"] is not None and clock["epoch_wall_s"] is None and clock["epoch_file"] is None:
        clock["epoch_wall_s"] = time.time()
    simulator = {**base.simulator.model_dump(), **overrides}
    return settings_or_exit(clock=clock, simulator=simulator)


def _run_settings(homes: int | None, scenario: Path | None, speed: float | None, start: str | None) -> Settings:
    """Settings of a run of homes (--homes, --scenario, the clock's --speed/--start), logging configured."""
    overrides: dict[str, Any] = {}
    if homes is not None:
        overrides["homes"] = homes
    if scenario is not None:
        overrides["scenario_file"] = scenario
    settings = _settings_with_clock(speed, start, overrides)
    logs.configure(settings.log_level, settings.log_format)
    return settings


def clock_env(settings: Settings) -> dict[str, str]:
    """The ELDERCARE_CLOCK__* variables other services need to share this run's timeline."""
    cfg = settings.clock
    if cfg.start is None:
        return {}
    epoch = {"ELDERCARE_CLOCK__EPOCH_FILE": str(cfg.epoch_file)} if cfg.epoch_file else {}
    return {
        "ELDERCARE_CLOCK__START": cfg.start.isoformat(),
        "ELDERCARE_CLOCK__SPEED": repr(cfg.speed),
        **(epoch or {"ELDERCARE_CLOCK__EPOCH_WALL_S": repr(cfg.epoch_wall_s)}),
    }


@click.group()
def simulate() -> None:
    """Virtual homes with realistic routines and scripted incidents, scored against ground truth."""


@simulate.command("run")
@click.option("--homes", type=click.IntRange(1, 100_000), help="total homes (ELDERCARE_SIMULATOR__HOMES)")
@click.option("--first", type=click.IntRange(0), default=0, show_default=True, help="first home index run by this process")
@click.option("--count", type=click.IntRange(1), help="homes run by this process (default: all from --first)")
@click.option("--duration", help="stop after this much simulated time (e.g. 90m, 2h, 7d); default: until Ctrl-C")
@click.option("--speed", type=click.FloatRange(0, 100_000, min_open=True), help="simulated seconds per wall second")
@click.option("--start", help="simulated start instant, RFC 3339 with offset (default: now)")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="incident scenario (JSON/YAML)")
@click.option("--no-register", is_flag=True, help="the homes exist already and the broker is anonymous")
def run_command(
    homes: int | None,
    first: int,
    count: int | None,
    duration: str | None,
    speed: float | None,
    start: str | None,
    scenario: Path | None,
    no_register: bool,
) -> None:
    """Run virtual homes, each a real edge agent with its own MQTT connection, until stopped."""
    from simulator.runner import RunOptions

    settings = _run_settings(homes, scenario, speed, start)
    options = RunOptions(first=first, count=count, duration_s=_duration(duration), register=not no_register)
    summary = _run_or_exit(settings, _run(settings, options))
    click.echo(json.dumps(summary, sort_keys=True))
    if summary["homes"] and summary["failed_homes"] == summary["homes"]:
        sys.exit(1)


def _run_or_exit(settings: Settings, run: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Print the clock's lines, run, and map errors to exit codes (2: configuration or refused, 1: else)."""
    for name, value in clock_env(settings).items():
        click.echo(f"{name}={value}", err=True)
    try:
        return asyncio.run(run)
    except ConfigError as exc:
        fail_config(exc.problems)
    except PermanentError as exc:
        fail(str(exc), EXIT_CONFIG)
    except EldercareError as exc:
        fail(str(exc))


async def _run(settings: Settings, options: Any) -> dict[str, Any]:
    from simulator.runner import Simulation

    stop = asyncio.Event()
    install_stop_signals(stop)
    simulation = Simulation(settings, clock_from(settings), options)
    await simulation.prepare()
    summary = await simulation.run(stop)
    return {
        "homes": summary.homes,
        "failed_homes": summary.failed_homes,
        "incidents": summary.incidents,
        "messages": summary.messages,
        "readings": summary.readings,
        "wall_s": round(summary.wall_s, 1),
        "errors": summary.errors,
    }


@simulate.command("load")
@click.option("--homes", type=click.IntRange(1, 1_000_000), help="total homes (ELDERCARE_SIMULATOR__HOMES)")
@click.option("--first", type=click.IntRange(0), default=0, show_default=True, help="first home index run by this process")
@click.option("--count", type=click.IntRange(1), help="homes run by this process (default: all from --first)")
@click.option("--connections", type=click.IntRange(1, 64), default=4, show_default=True, help="MQTT connections of this process")
@click.option("--duration", help="stop after this much simulated time (e.g. 10m); default: until Ctrl-C")
@click.option("--speed", type=click.FloatRange(0, 100_000, min_open=True), help="simulated s per wall s (default: real time)")
@click.option("--start", help="simulated start instant, RFC 3339 with offset (default: now)")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="incident scenario (JSON/YAML)")
@click.option("--no-register", is_flag=True, help="the homes exist already")
@click.option(
    "--start-rate", type=click.FloatRange(1, 1_000_000), default=2000.0, show_default=True, help="homes started per wall second"
)
@click.option(
    "--max-in-flight", type=click.IntRange(1, 65_535), default=2000, show_default=True, help="publishes awaiting PUBACK, at most"
)
@click.option("--sos-every", help="a home presses SOS this often (simulated, e.g. 10s), one home after another")
@click.option("--sos-log", type=click.Path(dir_okay=False, path_type=Path), help="JSONL: one line per SOS press (home, ts, wall)")
def load_command(
    homes: int | None,
    first: int,
    count: int | None,
    connections: int,
    duration: str | None,
    speed: float | None,
    start: str | None,
    scenario: Path | None,
    no_register: bool,
    start_rate: float,
    max_in_flight: int,
    sos_every: str | None,
    sos_log: Path | None,
) -> None:
    """Load that looks like homes: many homes over a few MQTT connections (a broker without per-home ACLs).

    Every home plays the same routine, device reports and incidents as in `simulate run`; see simulator/load.py."""
    from simulator.load import LoadOptions

    settings = _run_settings(homes, scenario, speed, start)
    total = settings.simulator.homes
    mine = count if count is not None else total - first
    problems = []
    if first >= total:
        problems.append(f"--first {first}: the run has {total} homes (0..{total - 1})")
    elif first + mine > total:
        problems.append(f"--first {first} --count {mine}: beyond the run's {total} homes")
    if first < total and connections > mine:
        problems.append(f"--connections {connections}: more connections than this process's {mine} homes")
    if len(str(total - 1)) > 5:
        problems.append(f"--homes {total}: home ids have five digits (at most 100000 homes)")
    sos_s = _duration(sos_every)
    if sos_s is not None and sos_s <= 0:
        problems.append("--sos-every: must be above 0")
    if sos_log is not None and sos_s is None:
        problems.append("--sos-log: needs --sos-every")
    if problems:
        fail_config(problems)
    options = LoadOptions(
        first=first, count=mine, connections=connections, duration_s=_duration(duration), register=not no_register,
        start_rate_per_s=start_rate, max_in_flight=max_in_flight, sos_every_s=sos_s, sos_log=sos_log,
    )  # fmt: skip
    click.echo(json.dumps(_run_or_exit(settings, _load(settings, options)), sort_keys=True))


async def _load(settings: Settings, options: Any) -> dict[str, Any]:
    from simulator.load import LoadRun

    stop = asyncio.Event()
    install_stop_signals(stop)
    run = LoadRun(settings, clock_from(settings), options)
    await run.prepare()
    return (await run.run(stop)).to_dict()


@simulate.command("score")
@click.option(
    "--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path), help="ground truth JSONL (default: the setting)"
)
@click.option("--since", help="score alerts opened from this instant (default: the first incident)")
@click.option("--json", "as_json", is_flag=True, help="print the score as JSON")
@click.option("--require-all", is_flag=True, help="exit 1 when an incident was missed")
def score_command(truth_path: Path | None, since: str | None, as_json: bool, require_all: bool) -> None:
    """Compare the ground truth with the alerts in the database: detected, missed, false, latency."""
    from simulator.score import render, score_run
    from simulator.truth import read_truth

    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    path = truth_path or settings.simulator.ground_truth_file
    try:
        truth = read_truth(path)
    except OSError as exc:
        fail(f"cannot read the ground truth {path}: {exc.strerror}", EXIT_CONFIG)
    except (ValueError, KeyError) as exc:
        fail(f"{path} is not simulator ground truth: {exc}", EXIT_CONFIG)
    since_at = _instant_or_exit(since)
    try:
        prefix = settings.simulator.home_prefix
        result = asyncio.run(score_run(settings.database_url, truth, home_prefix=prefix, since=since_at, until=None))
    except Exception as exc:  # noqa: BLE001 - a CLI boundary: report and exit non-zero
        fail(f"cannot read alerts: {type(exc).__name__}: {exc}")
    click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True) if as_json else render(result))
    if require_all and result.missed:
        sys.exit(1)


def _instant_or_exit(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--since {text!r} is not an RFC 3339 instant", EXIT_CONFIG)
    if moment.tzinfo is None:
        fail("--since needs a UTC offset", EXIT_CONFIG)
    return moment


@simulate.command("backfill")
@click.option("--days", type=click.FloatRange(0, 366, min_open=True), default=28.0, show_default=True, help="days of history")
@click.option("--homes", type=click.IntRange(1, 100_000), help="homes to backfill (default: ELDERCARE_SIMULATOR__HOMES)")
@click.option("--end", help="history ends here, RFC 3339 (default: now on the configured clock)")
def backfill_command(days: float, homes: int | None, end: str | None) -> None:
    """Write weeks of routine history straight into the database (for routine learning)."""
    from simulator.backfill import backfill

    settings = settings_or_exit()
    logs.configure(settings.log_level, settings.log_format)
    end_at = _instant_or_exit(end) or clock_from(settings).now()
    started = time.monotonic()
    try:
        report = asyncio.run(backfill(settings, days=days, end=end_at, homes=homes or settings.simulator.homes))
    except EldercareError as exc:
        fail(str(exc))
    wall = time.monotonic() - started
    rate = report.readings / wall if wall > 0 else 0.0
    click.echo(
        json.dumps(
            {
                "homes": report.homes,
                "readings": report.readings,
                "events": report.events,
                "wall_s": round(wall, 1),
                "readings_per_s": round(rate),
            }
        )
    )
