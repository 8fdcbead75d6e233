"""Wiring of the alert engine process: pool, HTTP client, metrics endpoint, engine, signals."""

from __future__ import annotations

import contextlib

import httpx
from psycopg_pool import AsyncConnectionPool

from alerts.engine import Engine
from alerts.metrics import Metrics, serve
from alerts.notify.channels import Senders
from eldercare import logs
from eldercare.config import Settings
from eldercare.db.pool import open_pool, translate
from eldercare.errors import PermanentError
from eldercare.lifecycle import clock_from, run_until_stopped

log = logs.get("alerts")


async def run(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT. Raises PermanentError when the database has no alert schema."""
    cfg = settings.alerts
    async with contextlib.AsyncExitStack() as stack:
        pool = await stack.enter_async_context(open_pool(settings, name="alerts"))
        await _check_schema(pool, settings.db.connect_timeout_s)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=cfg.notify_timeout_s, follow_redirects=False))
        metrics = Metrics()
        port = await stack.enter_async_context(serve(metrics, cfg.metrics_host, cfg.metrics_port))
        engine = Engine(settings, pool, clock_from(settings), Senders(cfg, http), metrics)
        log.info("alerts_started", instance=settings.instance, metrics_port=port)
        await run_until_stopped(engine.run)


async def _check_schema(pool: AsyncConnectionPool, timeout_s: float) -> None:
    try:
        await pool.wait(timeout=max(timeout_s, 1.0))
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT to_regclass('alert_rule_state') IS NOT NULL AND to_regclass('alert_inbox') IS NOT NULL"
            )
            row = await cur.fetchone()
    except Exception as exc:  # translated once, here at the boundary
        raise translate(exc) from exc
    if not row or not row[0]:
        raise PermanentError("the database has no alert tables: run `eldercare db migrate` first")
