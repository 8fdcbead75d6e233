"""Watches TimescaleDB's policies from ingest: a Prometheus gauge per policy, a warning when one is overdue.

Why ingest: it writes the data these policies compress, drop and roll up, and on plain PostgreSQL
it is ingest that keeps activity_hourly fresh (:mod:`ingest.rollup`); on TimescaleDB the same loop
watches the policies that do that work instead. Every deployment runs ingest and scrapes its
``/metrics``, so an operator sees a broken scheduler without running anything. Several copies
report the same figures (alert on the max). Nothing is repaired here: ``eldercare db maintain``
runs failing or overdue policies (a compression run can take minutes, and belongs in one place).
"""

from __future__ import annotations

import asyncio

import psycopg
from prometheus_client import CollectorRegistry, Gauge

from eldercare import logs
from eldercare.clock import Clock
from eldercare.db.policies import PolicyHealth, read_health_async
from eldercare.retry import sleep_until

_log = logs.get("ingest")


class PolicyWatch:
    def __init__(self, database_url: str, registry: CollectorRegistry, *, connect_timeout_s: float) -> None:
        self._url = database_url
        self._connect_timeout = max(1, int(connect_timeout_s))
        self._overdue_now: set[str] = set()
        self.overdue = Gauge(
            "db_policy_overdue", "1 when the policy has not succeeded within twice its interval", ["policy"], registry=registry
        )
        self.failing = Gauge("db_policy_failing", "1 when the policy's newest run failed", ["policy"], registry=registry)
        self.since_success = Gauge(
            "db_policy_seconds_since_success",
            "seconds since the policy last succeeded (since the schema was created when it never did)",
            ["policy"],
            registry=registry,
        )

    async def check(self) -> list[PolicyHealth]:
        """Read every policy's health, publish it, and log what became overdue or recovered."""
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=self._connect_timeout, application_name="eldercare-ingest-policies"
        ) as conn:
            policies = await read_health_async(conn)
        for policy in policies:
            self.overdue.labels(policy=policy.policy).set(int(policy.overdue))
            self.failing.labels(policy=policy.policy).set(int(policy.last_run_ok is False))
            self.since_success.labels(policy=policy.policy).set(round(policy.seconds_since_success))
            self._log_transition(policy)
        return policies

    def _log_transition(self, policy: PolicyHealth) -> None:
        if policy.overdue and policy.policy not in self._overdue_now:
            self._overdue_now.add(policy.policy)
            _log.warning(
                "db_policy_overdue",
                policy=policy.policy,
                job_id=policy.job_id,
                interval_s=policy.interval.total_seconds(),
                seconds_since_success=round(policy.seconds_since_success),
                background_failing=policy.background_failing,
                fix="eldercare db maintain",
            )
        elif not policy.overdue and policy.policy in self._overdue_now:
            self._overdue_now.discard(policy.policy)
            _log.info("db_policy_recovered", policy=policy.policy, job_id=policy.job_id)

    async def run(self, clock: Clock, interval_s: float, stop: asyncio.Event) -> None:
        """Check every ``interval_s`` until ``stop``; a failed check is logged and retried next round."""
        while not stop.is_set():
            try:
                await self.check()
            except (psycopg.Error, OSError) as exc:
                _log.warning("db_policy_check_failed", error=type(exc).__name__)
            await sleep_until(stop, interval_s, clock=clock)
