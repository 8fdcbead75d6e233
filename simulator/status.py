"""The live status line: homes connected, messages per second, incidents injected, alerts seen.

On a terminal it rewrites one line in place; otherwise (a log file, a test) it logs a structured
``simulator_status`` line per period. Alerts are counted in the database (the simulator's homes
only, opened since the run began); when the database cannot be read the count shows as "?".
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psycopg

from edge.agent import EdgeAgent
from eldercare import logs
from eldercare.clock import Clock
from eldercare.config import Settings

if TYPE_CHECKING:
    from simulator.runner import RunSummary

log = logs.get("simulator")
_ALERTS = "SELECT count(*) FROM alerts WHERE home_id LIKE %s AND opened_at >= %s"


class StatusLine:
    def __init__(self, settings: Settings, agents: Sequence[EdgeAgent], summary: RunSummary, clock: Clock) -> None:
        self.settings = settings
        self.agents = agents
        self.summary = summary
        self.clock = clock
        self.started_sim = clock.now()
        self.zone = ZoneInfo(settings.simulator.timezone)
        self.tty = sys.stderr.isatty()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._last = (time.monotonic(), 0)
        self.alerts: int | None = None
        self.rate = 0.0
        self.lag_max_s = 0.0

    async def run(self) -> None:
        probe = asyncio.create_task(self._probe_lag(), name="sim-loop-lag")
        try:
            while True:
                await asyncio.sleep(self.settings.simulator.status_interval_s)
                await self.tick()
        finally:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
            if self._conn is not None:
                await self._conn.close()

    async def _probe_lag(self) -> None:
        """How late a 100 ms sleep wakes up: the event loop's stall, which every home in the process shares."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            self.lag_max_s = max(self.lag_max_s, time.monotonic() - before - 0.1)

    async def tick(self) -> None:
        now, published = time.monotonic(), sum(a.uplink.published for a in self.agents)
        then, before = self._last
        self.rate = (published - before) / max(now - then, 1e-6)
        self._last = (now, published)
        self.alerts = await self._count_alerts()
        self._show()
        self.lag_max_s = 0.0

    async def _count_alerts(self) -> int | None:
        pattern = self.settings.simulator.home_prefix + "-%"
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(self.settings.database_url, connect_timeout=3, autocommit=True)
            cur = await self._conn.execute(_ALERTS, (pattern, self.started_sim))
            row = await cur.fetchone()
            return int(row[0]) if row else 0
        except psycopg.Error:
            self._conn = None
            return None

    def _counts(self) -> dict[str, Any]:
        every = [agent.stats for agent in self.agents]
        return {
            "homes": len(self.agents),
            "connected": sum(1 for a in self.agents if a.uplink.connected),
            "msgs_per_s": round(self.rate, 1),
            "messages": sum(a.uplink.published for a in self.agents),
            "queued": sum(a.queue.depth for a in self.agents),
            "awaiting_commit": sum(stats.awaiting_commit for stats in every),
            "oldest_awaiting_s": round(max((stats.oldest_awaiting_s for stats in every), default=0.0), 1),
            "dead_lettered": sum(sum(stats.dead_lettered.values()) for stats in every),
            "incidents": self.summary.incidents,
            "alerts": self.alerts,
            "failed": self.summary.failed_homes,
            "loop_lag_max_ms": round(self.lag_max_s * 1000),
            "sim_time": self.clock.now().astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S"),
        }

    def _show(self) -> None:
        counts = self._counts()
        if not self.tty:
            log.info("simulator_status", **counts)
            return
        alerts = "?" if counts["alerts"] is None else counts["alerts"]
        line = (
            f"\r[{counts['sim_time']}] 在线 homes {counts['connected']}/{counts['homes']} · "
            f"{counts['msgs_per_s']:.0f} msg/s · queued {counts['queued']} · "
            f"待确认 awaiting commit {counts['awaiting_commit']} (oldest {counts['oldest_awaiting_s']:.0f} s) · "
            f"事件 incidents {counts['incidents']} · 告警 alerts {alerts}"
        )
        sys.stderr.write(line.ljust(110))
        sys.stderr.flush()

    def final(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
        log.info("simulator_stopped", **self._counts())
