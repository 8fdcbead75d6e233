"""The alert engine: four loops over the database, one event loop, graceful stop.

- inbox: LISTEN eldercare_inbox wakes it, polling guarantees progress; each batch is one
  transaction (rules, alerts, history, outbox rows, inbox delete).
- periodic: every ``evaluation_interval_s`` (clock time: shorter in wall time under the
  simulator's accelerated clock) each home is judged in its own transaction, up to
  ``evaluation_concurrency`` homes at once, each on its own pool connection. One home at a time,
  the engine sat waiting on the database for 40 % of a pass and 10,000 homes took 28.6 s of the
  30-s interval; four at once took 14.9 s (x1.9), eight 13.7 s: one engine's CPU (one Python
  thread) is then at 92-97 %, the limit (bench/alerts_pass.py, 2 CPUs, local PostgreSQL).
  The pool keeps ``RESERVED_CONNECTIONS`` for the inbox and outbox loops: the concurrency used is
  capped at ``db.pool_max_size - 2``, so a pass never makes a fall wait for a connection. Copies
  still share the work (each home's turn is claimed in the database): beyond what one copy judges
  in an interval, run more copies.
- escalation and outbox: falls whose cancel window is over (raised or closed, alerts.fall_window),
  due escalations, then due notifications, woken early when this copy has just enqueued something.
- platform: every ``platform_check_interval_s`` (wall time) the platform's own health: notices to
  the care centres when alerts may be delayed, and the outside dead-man's switch pinged while all
  is well (:mod:`alerts.platform`).

Every step is also callable on its own (``inbox_once``, ``evaluate_once``, ``escalate_once``,
``deliver_once``) with the injected clock, which is how tests drive it without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from alerts import platform
from alerts.escalation import escalate_due
from alerts.fall_window import Decided, decide_due
from alerts.metrics import Metrics
from alerts.notify.channels import Senders
from alerts.notify.outbox import BatchReport, deliver_batch
from alerts.processing import Due, Outcome, due_homes, evaluate_home_locked, home_ids, process_inbox
from eldercare import logs
from eldercare.clock import Clock
from eldercare.config import Settings
from eldercare.db.listen import Listener
from eldercare.db.pool import CONNECTION_LOST, DATABASE_AWAY, database_away, first_database_away, safe_detail
from eldercare.health import Readiness
from eldercare.retry import Backoff, sleep_until

log = logs.get("alerts")
CHANNEL = "eldercare_inbox"
_MIN_WALL_INTERVAL_S = 0.05
# Pool connections the other loops hold while a periodic pass runs: the inbox loop's one and the
# outbox/escalation loop's one. (LISTEN has a connection of its own, outside the pool.)
RESERVED_CONNECTIONS = 2
# Pending notifications, and how long the most overdue one has been due (0 when none is due yet).
_OUTBOX_BACKLOG = """
SELECT count(*), coalesce(extract(epoch FROM %s - min(next_attempt_at)), 0)::float8
  FROM notification_outbox WHERE status = 'pending'
"""


def periodic_concurrency(configured: int, pool_max_size: int) -> int:
    """Homes judged at once: as configured, but never so many that the periodic pass holds the
    connections the inbox (falls, SOS) and outbox loops need; at least one."""
    return max(1, min(configured, pool_max_size - RESERVED_CONNECTIONS))


class Engine:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        clock: Clock,
        senders: Senders,
        metrics: Metrics,
        *,
        readiness: Readiness | None = None,
    ) -> None:
        self.settings = settings
        self.readiness = readiness or Readiness(log)
        self.cfg = settings.alerts
        self.pool = pool
        self.clock = clock
        self.senders = senders
        self.metrics = metrics
        self.inbox_wake = asyncio.Event()
        self.outbox_wake = asyncio.Event()
        self.evaluation_concurrency = periodic_concurrency(self.cfg.evaluation_concurrency, pool.max_size)
        self.last_pass_done: float | None = None  # time.monotonic() when this copy last completed a periodic pass
        self.metrics.pass_interval.set(self._clock_interval(self.cfg.evaluation_interval_s))
        if self.evaluation_concurrency < self.cfg.evaluation_concurrency:
            log.warning(
                "evaluation_concurrency_capped",
                configured=self.cfg.evaluation_concurrency,
                used=self.evaluation_concurrency,
                pool_max_size=pool.max_size,
            )

    # ------------------------------------------------------------------ single steps

    async def inbox_once(self, *, urgent: bool | None = None) -> Outcome:
        async with self.pool.connection() as conn:
            try:
                outcome = await process_inbox(conn, self.cfg, self.clock.now(), urgent=urgent)
            except DATABASE_AWAY:
                raise
            except Exception:  # noqa: BLE001 - some home's items fail: run the batch again, home by home
                await conn.rollback()
                outcome = await process_inbox(conn, self.cfg, self.clock.now(), urgent=urgent, isolate=True)
        self._count(outcome)
        self.metrics.inbox_items.inc(outcome.items)
        return outcome

    async def drain_inbox(self) -> int:
        """Handle inbox batches until the inbox is empty (for this copy); returns items handled."""
        total = 0
        while True:
            urgent = await self.inbox_once(urgent=True)  # alarms (falls, SOS, hazards) first, always
            total += urgent.items
            if urgent.items:
                continue
            rest = await self.inbox_once(urgent=False)
            if not rest.items:
                return total
            total += rest.items

    async def evaluate_once(self) -> Outcome:
        """Judge the homes that are due (``evaluation_mode`` deadlines: their next moment of concern
        has come, or input arrived; every_home: all of them), skipping homes another copy is
        judging right now.

        Up to ``evaluation_concurrency`` homes are in flight at once, each in its own transaction
        on its own pool connection: workers take the next home from one shared iterator, so each
        home is taken once per pass. A lost database (OperationalError, PoolTimeout included)
        cancels the pass and propagates, so the loop backs off; any other failure is one home's,
        logged and counted while the others go on."""
        total, started = Outcome(), time.monotonic()
        now = self.clock.now()
        async with self.pool.connection() as conn:
            if self.cfg.evaluation_mode == "every_home":
                homes = [Due(home_id, None, None) for home_id in await home_ids(conn)]
            else:
                homes = await due_homes(conn, now)
        pending = iter(homes)
        judged = 0
        late: list[float] = []

        async def worker() -> None:
            nonlocal judged
            for due in pending:  # shared: each home goes to exactly one worker
                outcome = await self._evaluate_home(due.home_id)
                if outcome is not None:
                    judged += 1
                    total.opened += outcome.opened
                    total.resolved += outcome.resolved
                    if due.due_at is not None:
                        late.append(self._note_lateness(due, now))

        workers = min(self.evaluation_concurrency, len(homes))
        try:
            async with asyncio.TaskGroup() as group:
                for index in range(workers):
                    group.create_task(worker(), name=f"alerts-periodic-{index}")
        except BaseExceptionGroup as failed:
            # Raise the database error itself (not a group), as the sequential pass did.
            raise first_database_away(failed) from None
        self.metrics.homes_evaluated.inc(judged)
        self.last_pass_done = time.monotonic()
        self.metrics.pass_completed.set_to_current_time()
        log.info(
            "periodic_pass",
            homes=len(homes),
            judged=judged,
            deadlines=len(late),
            late_max_s=round(max(late), 1) if late else None,
            concurrency=workers,
            ms=int((time.monotonic() - started) * 1000),
        )
        self._count(total)
        return total

    def _note_lateness(self, due: Due, now: datetime) -> float:
        """How long after its moment of concern a home was judged (the pass's clock, which is the
        moment its rules saw), in clock seconds."""
        assert due.due_at is not None
        late_s = max(0.0, (now - due.due_at).total_seconds())
        self.metrics.deadline_lateness.labels(due.kind or "unknown").observe(late_s)
        return late_s

    async def _evaluate_home(self, home_id: str) -> Outcome | None:
        """One home's periodic turn; None when skipped, or when it failed (logged, counted)."""
        try:
            async with self.pool.connection() as conn:
                return await evaluate_home_locked(conn, home_id, self.cfg, self.clock.now())
        except CONNECTION_LOST:
            raise  # the database is gone: the pass stops and the loop backs off and retries
        except Exception as exc:  # noqa: BLE001 - one home's failure must not stop the others' rules
            self.metrics.loop_errors.labels("home").inc()
            log.error("home_evaluation_failed", home_id=home_id, error=type(exc).__name__)
            return None

    async def decide_falls_once(self) -> Decided:
        """Raise or close the pending falls whose wait is over (alerts.fall_window)."""
        async with self.pool.connection() as conn:
            decided = await decide_due(conn, self.cfg, self.clock.now())
        for kind in decided.raised:
            self.metrics.alerts_opened.labels(kind).inc()
        if decided.raised:
            self.outbox_wake.set()
        return decided

    async def escalate_once(self) -> int:
        async with self.pool.connection() as conn:
            count = await escalate_due(conn, self.cfg, self.clock.now())
        self.metrics.escalations.inc(count)
        if count:
            self.outbox_wake.set()
        return count

    async def deliver_once(self) -> BatchReport:
        async with self.pool.connection() as conn:
            report = await deliver_batch(conn, self.senders, self.cfg, self.clock.now())
        for outcome in ("sent", "retried", "failed", "cancelled"):
            self.metrics.notifications.labels(outcome).inc(getattr(report, outcome))
        return report

    async def platform_once(self) -> dict[str, dict[str, Any]]:
        """Judge the platform's health, record and announce changes, ping the dead-man's switch if all is well."""
        now = self.clock.now()
        async with self.pool.connection() as conn:
            reading = await platform.read(conn)
            found = platform.degradations(reading, now, self.cfg, speed=max(1.0, float(getattr(self.clock, "speed", 1.0))))
            changed = await platform.record(conn, found, now, self.cfg)
        self.metrics.gateways.labels("online").set(reading.online)
        self.metrics.gateways.labels("offline").set(reading.offline)
        for reason in platform.REASONS:
            self.metrics.degraded.labels(reason).set(1 if reason in found else 0)
        if changed.opened or changed.closed:
            log.warning("platform_health_changed", degraded=changed.opened, recovered=changed.closed)
            self.outbox_wake.set()
        await self._heartbeat(found)
        return found

    async def _heartbeat(self, found: dict[str, dict[str, Any]]) -> None:
        if self.cfg.heartbeat_url is None:
            return
        # On time: a pass completed within three intervals (a pass may take most of one).
        late_after = 3 * self._clock_interval(self.cfg.evaluation_interval_s) + self.cfg.platform_check_interval_s
        on_time = self.last_pass_done is not None and time.monotonic() - self.last_pass_done <= late_after
        if found or not on_time:
            self.metrics.heartbeats.labels("withheld").inc()
            log.warning("heartbeat_withheld", degraded=sorted(found), periodic_pass_late=not on_time)
            return
        url = self.cfg.heartbeat_url.get_secret_value()
        sent = await platform.ping(self.senders.http, url, self.cfg.notify_timeout_s)
        self.metrics.heartbeats.labels("sent" if sent else "failed").inc()

    def _count(self, outcome: Outcome) -> None:
        for kind in outcome.opened:
            self.metrics.alerts_opened.labels(kind).inc()
        for kind in outcome.resolved:
            self.metrics.alerts_resolved.labels(kind).inc()
        if outcome.opened or outcome.resolved:
            self.outbox_wake.set()

    # ------------------------------------------------------------------ loops

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._listen(stop), name="alerts-listen")
            group.create_task(self._loop(stop, "inbox", self._inbox_step, self.inbox_wake, self.cfg.inbox_poll_interval_s))
            periodic, outbox = (
                self._clock_interval(self.cfg.evaluation_interval_s),
                self._clock_interval(self.cfg.outbox_poll_interval_s),
            )
            group.create_task(self._loop(stop, "periodic", self._periodic_step, None, periodic))
            group.create_task(self._loop(stop, "outbox", self._outbox_step, self.outbox_wake, outbox))
            group.create_task(self._loop(stop, "platform", self._platform_step, None, self.cfg.platform_check_interval_s))
        log.info("alerts_stopped")

    def _clock_interval(self, interval_s: float) -> float:
        """Wall seconds between passes whose interval is in clock time.

        Under the simulator's accelerated clock a 30-s evaluation interval must stay 30 simulated
        seconds, or a 10-minute long-lie rule would be judged hours (simulated) late; a floor keeps
        a very fast clock from turning the loop into a busy spin."""
        speed = float(getattr(self.clock, "speed", 1.0))
        return max(_MIN_WALL_INTERVAL_S, interval_s / speed) if speed > 1 else interval_s

    async def _inbox_step(self) -> None:
        await self.drain_inbox()

    async def _periodic_step(self) -> None:
        await self.evaluate_once()
        async with self.pool.connection() as conn:
            cur = await conn.execute(_OUTBOX_BACKLOG, (self.clock.now(),))
            row = await cur.fetchone()
        self.metrics.outbox_pending.set(row[0] if row else 0)
        self.metrics.outbox_oldest_due.set(row[1] if row else 0)

    async def _platform_step(self) -> None:
        await self.platform_once()

    async def _outbox_step(self) -> None:
        # A fall whose cancel window just ended first: its notifications are then what is waiting.
        await self.decide_falls_once()
        # Deliver first: when a new alert woke this loop, its notification is what is waiting.
        while (await self.deliver_once()).handled:
            pass
        if await self.escalate_once():
            while (await self.deliver_once()).handled:
                pass

    async def _loop(
        self, stop: asyncio.Event, name: str, step: Callable[[], Awaitable[None]], wake: asyncio.Event | None, interval_s: float
    ) -> None:
        """Run ``step`` until stopped; a failure is logged and retried after a backoff, never fatal
        to the engine. A lost database also makes the engine not ready until a step works again."""
        backoff = self._backoff()
        while not stop.is_set():
            if wake is not None:
                wake.clear()
            started = time.monotonic()
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - a task boundary: log, back off, keep serving
                delay = backoff.next_delay()
                self.metrics.loop_errors.labels(name).inc()
                log.error("alerts_loop_error", loop=name, error=type(exc).__name__, detail=safe_detail(exc))
                if database_away(exc):
                    self.readiness.lost("database", type(exc).__name__)
            else:
                # A steady cadence, start to start: a pass that takes 3 s must not make every
                # deadline judged 33 s after it came due instead of 30 s at most.
                delay = max(0.0, interval_s - (time.monotonic() - started))
                backoff.reset()
                self.readiness.available("database")
            await sleep_until(stop, delay, wake=wake)

    def _backoff(self) -> Backoff:
        return Backoff(self.settings.db.retry_min_s, self.settings.db.retry_max_s)

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for ingest's wake-ups; on trouble, reconnect with backoff (polling covers the gap).
        On every (re)LISTEN the inbox is looked at: anything may have arrived while nobody listened."""
        await Listener(
            CHANNEL, component="alerts", event="alerts_listen", on_notify=self.inbox_wake.set, on_listen=self.inbox_wake.set
        ).run(self.settings, stop)
