"""The alert engine process: ``run(settings, stop)`` opens the pool, HTTP client and the readiness
and metrics endpoint, waits for the database, then runs the engine until ``stop``."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from psycopg_pool import AsyncConnectionPool

from alerts.engine import Engine
from alerts.metrics import Metrics
from alerts.notify.channels import Senders
from eldercare import health, logs
from eldercare.config import Settings
from eldercare.db.pool import open_pool, translate
from eldercare.errors import ConfigError, TransientError
from eldercare.lifecycle import clock_from
from eldercare.retry import Backoff, StoppedError, retrying

log = logs.get("alerts")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set. While the database is unreachable (at start or later) it waits and
    retries with backoff, and says so in its log and on ``GET /ready``. ConfigError when the
    database is reachable but has no alert schema."""
    cfg = settings.alerts
    metrics = Metrics()
    readiness = health.Readiness(log, "database")
    async with contextlib.AsyncExitStack() as stack:
        serving = health.serve(cfg.metrics_host, cfg.metrics_port, readiness=readiness, metrics=metrics.text)
        port = await stack.enter_async_context(serving)
        pool = await stack.enter_async_context(open_pool(settings, name="alerts"))
        try:
            await retrying(
                lambda: _check_schema(pool),
                backoff=Backoff(settings.db.retry_min_s, settings.db.retry_max_s),
                retry_if=lambda exc: isinstance(exc, TransientError),
                on_retry=readiness.reporter("database"),
                stop=stop,
            )
        except StoppedError:
            log.info("alerts_stopped")
            return
        readiness.available("database")
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=cfg.notify_timeout_s, follow_redirects=False))
        engine = Engine(settings, pool, clock_from(settings), Senders(cfg, http), metrics, readiness=readiness)
        log.info("alerts_started", instance=settings.instance, metrics_port=port)
        await engine.run(stop)


async def _check_schema(pool: AsyncConnectionPool) -> None:
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT to_regclass('alert_rule_state') IS NOT NULL AND to_regclass('alert_inbox') IS NOT NULL"
            )
            row = await cur.fetchone()
    except Exception as exc:
        raise translate(exc) from exc
    if not row or not row[0]:
        raise ConfigError(["the database has no alert tables: run `eldercare db migrate` first"])
