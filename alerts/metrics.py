"""Prometheus metrics of the engine, on its own registry (served with readiness by :mod:`eldercare.health`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbox_items = Counter("eldercare_alerts_inbox_items", "inbox items handled", registry=self.registry)
        self.alerts_opened = Counter("eldercare_alerts_opened", "alerts opened", ["kind"], registry=self.registry)
        self.alerts_resolved = Counter(
            "eldercare_alerts_auto_resolved", "alerts resolved by the system", ["kind"], registry=self.registry
        )
        self.escalations = Counter("eldercare_alerts_escalations", "escalation steps", registry=self.registry)
        self.notifications = Counter(
            "eldercare_alerts_notifications", "notification outcomes", ["outcome"], registry=self.registry
        )
        self.homes_evaluated = Counter("eldercare_alerts_homes_evaluated", "periodic home evaluations", registry=self.registry)
        # When a home's next moment of concern came against when the pass judged it (clock seconds):
        # the pass interval bounds it while the engine keeps up.
        self.deadline_lateness = Histogram(
            "eldercare_alerts_deadline_lateness_seconds",
            "how late after its moment of concern a home was judged, by what came due",
            ["kind"],
            buckets=(0.5, 1, 2, 5, 10, 15, 20, 25, 30, 35, 45, 60, 90, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.loop_errors = Counter("eldercare_alerts_loop_errors", "errors in a work loop", ["loop"], registry=self.registry)
        self.outbox_pending = Gauge("eldercare_alerts_outbox_pending", "pending notifications", registry=self.registry)
        self.outbox_oldest_due = Gauge(
            "eldercare_alerts_outbox_oldest_due_seconds", "how overdue the oldest pending notification is", registry=self.registry
        )
        self.pass_completed = Gauge(
            "eldercare_alerts_periodic_pass_completed_timestamp_seconds",
            "UNIX time this copy last completed a periodic pass",
            registry=self.registry,
        )
        self.pass_interval = Gauge(
            "eldercare_alerts_evaluation_interval_seconds", "wall seconds between periodic passes", registry=self.registry
        )
        self.gateways = Gauge("eldercare_gateways", "home gateways by last reported state", ["state"], registry=self.registry)
        self.degraded = Gauge(
            "eldercare_platform_degraded", "1 while a degradation that may delay alerts holds", ["reason"], registry=self.registry
        )
        self.heartbeats = Counter(
            "eldercare_alerts_heartbeats", "dead-man's switch pings: sent, failed, withheld", ["outcome"], registry=self.registry
        )

    def text(self) -> tuple[bytes, str]:
        """The Prometheus exposition (body, content type) that ``eldercare.health.serve`` answers."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
