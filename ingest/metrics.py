"""Prometheus metrics of one ingest process, on its own registry (several can run in one test process)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ingest.store import WriteResult

_BATCH_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_OFFSET_BUCKETS = (1, 5, 30, 60, 300, 3_600, 86_400, 30 * 86_400)


class IngestMetrics:
    def __init__(self, unacknowledged: Callable[[], float], *, lanes: Sequence[str] = (), window: int = 0) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("ingest_messages_received", "MQTT messages received (not the platform's own configs)", registry=r)
        self.written = Counter("ingest_readings_written", "new reading rows committed", registry=r)
        self.duplicates = Counter("ingest_readings_duplicate", "redelivered readings skipped by the unique key", registry=r)
        self.events = Counter("ingest_events_written", "new event rows committed (each handed to the alert engine)", registry=r)
        self.dead_letters = Counter("ingest_dead_letters", "messages written to dead letters", ["reason"], registry=r)
        self.batch_readings = Histogram(
            "ingest_batch_readings", "readings per committed batch", buckets=_BATCH_BUCKETS, registry=r
        )
        self.commit_seconds = Histogram("ingest_commit_seconds", "batch transaction time", buckets=_LATENCY_BUCKETS, registry=r)
        self.retries = Counter("ingest_batch_retries", "batch transactions retried after a transient failure", registry=r)
        self.alarms_outside_window = Counter(
            "ingest_alarm_events_outside_window",
            "sos/fall event messages dated outside the accepted window, accepted all the same (a gateway clock is wrong)",
            registry=r,
        )
        self.clock_offset = Histogram(
            "ingest_gateway_clock_offset_seconds",
            "per heartbeat, |its ts - its receive time|: a gateway's clock error (plus any wait in its queue)",
            buckets=_OFFSET_BUCKETS,
            registry=r,
        )
        self.acks_published = Counter(
            "ingest_commit_acks_published", "commit acknowledgements published to homes (one per home per batch)", registry=r
        )
        self.acks_unsent = Counter(
            "ingest_commit_acks_unsent", "commit acknowledgements not sent: the broker session was down (the gateway resends)",
            registry=r,
        )  # fmt: skip
        backlog = Gauge("ingest_unacknowledged_messages", "messages received and not yet acknowledged", registry=r)
        backlog.set_function(unacknowledged)
        # The most the broker lets this copy hold unacknowledged (the lanes' receive maximums): a backlog
        # that stays near it means the broker is queueing for us.
        Gauge("ingest_receive_window_messages", "receive maximum summed over the lanes", registry=r).set(window)
        self.lag = Histogram(
            "ingest_commit_lag_seconds",
            "from receipt of a batch's oldest message to its commit",
            ["lane"],
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.last_commit = Gauge(
            "ingest_last_commit_timestamp_seconds", "UNIX time of the lane's last commit (or start)", ["lane"], registry=r
        )
        for lane in lanes:
            self.last_commit.labels(lane).set_to_current_time()

    def committed(self, lane: str, result: WriteResult, *, seconds: float, lag_s: float) -> None:
        self.lag.labels(lane).observe(lag_s)
        self.last_commit.labels(lane).set_to_current_time()
        self.written.inc(result.readings_new)
        self.duplicates.inc(result.duplicates)
        self.events.inc(result.events_new)
        for reason, count in result.dead_letters.items():
            self.dead_letters.labels(reason=reason).inc(count)
        self.batch_readings.observe(result.readings_staged)
        for offset in result.clock_offsets_s:
            self.clock_offset.observe(abs(offset))
        self.commit_seconds.observe(seconds)

    def text(self) -> tuple[bytes, str]:
        """The Prometheus exposition (body, content type) that ``eldercare.health.serve`` answers."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
