"""The ingest service: MQTT (shared subscription, manual ack) to PostgreSQL, exactly once.

Messages travel in two lanes, each an MQTT session of its own (shared subscription, manual ack)
with its own database connection: ``bulk`` (readings, heartbeats) and ``urgent`` (events, gateway
status), so an alert-worthy event never queues behind a backlog of readings. Each lane runs a
batcher and a writer; with the rollup, all share one event loop:

- the batcher takes deliveries from the subscriber in arrival order, decodes them through the
  contract and closes a batch when it reaches ``batch_size`` readings, half the receive maximum in
  messages, ``flush_interval_s`` of age, or at once when it holds an event or a gateway status;
- the writer commits one batch at a time (retrying transient failures with backoff and jitter),
  then tells each home in the batch which of its readings and events are stored or dead-lettered
  (commit acknowledgements, ingest/acks.py), and only then acknowledges the batch's deliveries to
  the broker, in arrival order;
- the rollup keeps activity_hourly fresh on plain PostgreSQL; on TimescaleDB the policy watch
  publishes the health of the extension's policies (``db_policy_*`` metrics, a warning when overdue).

After an unclean stop, the messages the broker redelivers first (DUP: the dead process held them)
go to the writer one by one and are processed with every other lane paused, behind a committed
attempt record, so a message that crashes the process is quarantined after a few tries instead of
crash-looping ingest for every home (ingest/quarantine.py).

Between batcher and writer sits a queue of one batch, so decoding the next batch overlaps with the
database committing the previous one. When the writer cannot keep up (or the database is down) the
batcher stops taking deliveries, the subscriber's inbox fills, and the broker stops sending at the
MQTT 5 Receive Maximum: memory stays bounded and nothing is dropped.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TypeVar

from eldercare import health, logs
from eldercare.clock import Clock
from eldercare.config import Settings
from eldercare.contracts import Decoded, Rejection, decode
from eldercare.contracts.topics import (
    DIRECTION,
    ORIGIN_PROPERTY,
    Direction,
    MessageKind,
    Topic,
    TopicError,
    everything,
    shared_subscription,
    subscription,
)
from eldercare.contracts.window import TimeWindow
from eldercare.db.pool import DatabaseRefusedError
from eldercare.db.slots import Slot, claim_slot
from eldercare.errors import EldercareError, PermanentError, TransientError
from eldercare.lifecycle import clock_from
from eldercare.mqtt.manual_ack import Delivery, ManualAckSubscriber
from eldercare.retry import Backoff, StoppedError, retrying, sleep_until
from ingest.acks import CommitAcker
from ingest.batch import Batch, Skip
from ingest.configs import ConfigPublisher
from ingest.metrics import IngestMetrics
from ingest.policies import PolicyWatch
from ingest.quarantine import Gate, digest, quarantined
from ingest.rollup import Rollup
from ingest.store import Store, WriteResult

_log = logs.get("ingest")
T = TypeVar("T")
_TAKE = 64  # deliveries per wake-up: bounds how long one lane holds the event loop (~20 ms)
# Slices at least this big are decoded (and batches row-built) in a worker thread; see Pipeline._decode.
_OFFLOAD_AT = 8
_URGENT_WINDOW = 100  # receive maximum of the events/status session: they come one by one
_BROKER_POLL_S = 0.02


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections: a batch allocates ~10 objects per reading, nearly all acyclic.

    With the default thresholds the collector runs every 700 net allocations and rescans the
    long-lived objects each time; measured on 100-reading messages, decode + row building ran at
    about half the speed. Objects alive at start-up (modules, models) are frozen out of every scan.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def client_id_for(settings: Settings, slot: int | None = None) -> str:
    """Stable across restarts, so the broker resumes this copy's session and redelivers its backlog.

    Two copies must not share one (the broker would hand the session back and forth). An explicit
    ``ingest.client_id`` or ``instance`` wins; otherwise the copy's slot (:mod:`eldercare.db.slots`),
    which stays the same when compose re-creates or scales the container, names it.
    """
    if settings.ingest.client_id:
        return settings.ingest.client_id
    if settings.instance:
        return f"eldercare-ingest-{settings.instance}"
    if slot is None:
        raise ValueError("a copy without an explicit client id or instance needs its slot")
    return f"{settings.mqtt.topic_root}-ingest-{slot}"


def slot_scope(settings: Settings) -> str:
    return f"ingest/{settings.mqtt.topic_root}/{settings.ingest.shared_group}"


async def _claim_identity(
    settings: Settings, stack: AsyncExitStack, stop: asyncio.Event, readiness: health.Readiness
) -> tuple[str, Slot | None] | None:
    """This copy's client id and, unless it was set explicitly, the slot behind it (claimed in the
    database, waited for with backoff while it is away); None if stopped first."""
    if settings.ingest.client_id or settings.instance:
        return client_id_for(settings), None

    async def claim() -> Slot:
        return await stack.enter_async_context(
            claim_slot(settings.database_url, slot_scope(settings), connect_timeout_s=settings.db.connect_timeout_s)
        )

    backoff = Backoff(settings.db.retry_min_s, settings.db.retry_max_s)
    try:
        slot = await retrying(claim, backoff=backoff, retry_if=_transient, on_retry=readiness.reporter("database"), stop=stop)
    except StoppedError:
        return None
    return client_id_for(settings, slot.number), slot


@dataclass(frozen=True)
class Lane:
    """One MQTT session and one database connection for some message kinds.

    Events and gateway status travel in a lane of their own: in one ordered stream, an SOS would
    wait behind every readings message the broker queued before it (seconds, in a burst).
    """

    name: str
    kinds: tuple[MessageKind, ...]
    client_suffix: str
    receive_maximum: int
    # The lane that subscribes to everything under the root, so that nothing a gateway can publish
    # vanishes: unknown kinds and versions are dead-lettered here; other lanes' kinds are skipped.
    catch_all: bool = False

    def topic_filters(self, settings: Settings) -> list[str]:
        root, group = settings.mqtt.topic_root, settings.ingest.shared_group
        if self.catch_all:
            return [shared_subscription(group, everything(root))]
        return [shared_subscription(group, subscription(root, kind)) for kind in self.kinds]


URGENT_KINDS = (MessageKind.EVENTS, MessageKind.STATUS)


def lanes(settings: Settings) -> list[Lane]:
    window = settings.ingest.max_inflight_messages
    return [
        Lane("bulk", (MessageKind.READINGS, MessageKind.HEARTBEAT), "", window, catch_all=True),
        Lane("urgent", URGENT_KINDS, "-urgent", min(window, _URGENT_WINDOW)),
    ]


async def run(settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None, ready: asyncio.Event | None = None) -> None:
    """Ingest until ``stop`` is set, then commit what is held (within ``drain_timeout_s``) and return.

    ``ready`` is set (and ``ingest_ready`` logged) once the broker confirmed the subscriptions and
    the database answered. Until then, and whenever either is lost, it waits and retries with
    backoff, and ``GET /ready`` says what it waits for. Raises PermanentError (inside an
    ExceptionGroup) when the broker refuses our credentials.
    """
    clock = clock or clock_from(settings)
    cfg = settings.ingest
    rollup = Rollup(settings.database_url, connect_timeout_s=settings.db.connect_timeout_s)
    gate = Gate()  # one per process: a suspicious redelivered message runs with every lane paused
    lanes_by_name = {lane.name: lane for lane in lanes(settings)}
    readiness = health.Readiness(_log, "broker", "database")
    subscribers: dict[str, ManualAckSubscriber] = {}
    metrics = IngestMetrics(
        lambda: sum(subscriber.unacknowledged for subscriber in subscribers.values()),
        lanes=[lane.name for lane in lanes(settings)],
        window=sum(lane.receive_maximum for lane in lanes(settings)),
    )
    async with AsyncExitStack() as stack:
        serving = health.serve(cfg.metrics_host, cfg.metrics_port, readiness=readiness, metrics=metrics.text)
        port = await stack.enter_async_context(serving)
        identity = await _claim_identity(settings, stack, stop, readiness)
        if identity is None:
            return
        client_id, slot = identity
        for lane in lanes(settings):
            subscribers[lane.name] = ManualAckSubscriber(
                settings,
                client_id=client_id + lane.client_suffix,
                topic_filters=lane.topic_filters(settings),
                receive_maximum=lane.receive_maximum,
                drop_qos0_marked=ORIGIN_PROPERTY,
            )
        pipelines = []
        for name, subscriber in subscribers.items():
            store = Store(settings.database_url, connect_timeout_s=settings.db.connect_timeout_s,
                          statement_timeout_s=settings.db.statement_timeout_s, defer_state=name == "urgent")  # fmt: skip
            stack.push_async_callback(store.close)
            await stack.enter_async_context(subscriber)
            pipeline = Pipeline(name, settings=settings, subscriber=subscriber, store=store, rollup=rollup, metrics=metrics,
                                clock=clock, gate=gate, skipped_kinds=URGENT_KINDS if name == "bulk" else (),
                                client_id=client_id + lanes_by_name[name].client_suffix, readiness=readiness)  # fmt: skip
            pipelines.append(pipeline)
        _log.info("ingest_started", client_id=client_id, metrics_port=port, batch_size=cfg.batch_size)
        async with asyncio.TaskGroup() as group:
            if slot is not None:
                group.create_task(slot.keep(stop, check_interval_s=cfg.slot_check_interval_s), name="ingest-slot")
            draining: list[asyncio.Task[None]] = []
            for pipeline in pipelines:
                handoff: asyncio.Queue[Batch | Delivery | None] = asyncio.Queue(maxsize=1)
                draining.append(group.create_task(pipeline.batch_loop(handoff, stop), name=f"ingest-{pipeline.lane}-batcher"))
                draining.append(group.create_task(pipeline.write_loop(handoff), name=f"ingest-{pipeline.lane}-writer"))
            watch = PolicyWatch(settings.database_url, metrics.registry, connect_timeout_s=settings.db.connect_timeout_s)
            watching = functools.partial(watch.run, clock, cfg.policy_check_interval_s, stop)
            group.create_task(rollup.run(clock, cfg.rollup_interval_s, stop, on_timescaledb=watching), name="ingest-rollup")
            group.create_task(_watch_broker(list(subscribers.values()), readiness, stop, ready), name="ingest-broker")
            publisher = ConfigPublisher(settings, clock, client_id=client_id + "-config")
            group.create_task(publisher.run(stop), name="ingest-config")
            group.create_task(_drain_deadline(stop, cfg.drain_timeout_s, draining), name="ingest-drain")
    _log.info("ingest_stopped", unacknowledged=sum(subscriber.unacknowledged for subscriber in subscribers.values()))


async def _watch_broker(
    subscribers: list[ManualAckSubscriber], readiness: health.Readiness, stop: asyncio.Event, ready: asyncio.Event | None
) -> None:
    """Readiness follows the broker sessions (paho reconnects them with backoff in its own thread,
    and logs each attempt); ``ingest_ready`` is logged, and ``ready`` set, the first time every
    subscription is confirmed and the database has answered."""
    announced = False
    while not await sleep_until(stop, _BROKER_POLL_S):  # paho signals from its thread: a short poll bridges it
        if all(s.subscribed.is_set() and s.connected.is_set() for s in subscribers):
            readiness.available("broker")
        else:
            readiness.lost("broker", "not connected")
        if readiness.ready and not announced:
            announced = True
            _log.info("ingest_ready")
            if ready is not None:
                ready.set()


async def _drain_deadline(stop: asyncio.Event, timeout_s: float, tasks: list[asyncio.Task[None]]) -> None:
    """After ``stop``, give the pipeline ``timeout_s`` to commit what it holds; then abandon it.

    Abandoned deliveries were never acknowledged, so the broker delivers them again later.
    """
    await stop.wait()
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    if pending:
        _log.warning("ingest_drain_abandoned", timeout_s=timeout_s)


class Pipeline:
    """One lane's batcher and writer: intake in arrival order, commit, then acknowledge."""

    def __init__(
        self,
        lane: str,
        *,
        settings: Settings,
        subscriber: ManualAckSubscriber,
        store: Store,
        rollup: Rollup,
        metrics: IngestMetrics,
        clock: Clock,
        gate: Gate,
        readiness: health.Readiness,
        skipped_kinds: tuple[MessageKind, ...] = (),
        client_id: str = "",
    ) -> None:
        self.lane = lane
        self._gate = gate
        self._readiness = readiness
        self._skipped_kinds = frozenset(skipped_kinds)  # another lane's: this one acknowledges them unread
        self._client_id = client_id or f"ingest-{lane}"
        # True after an unclean stop, until the first fresh delivery: redeliveries are run one by one.
        self._suspicious = False
        self._settings = settings
        self._subscriber = subscriber
        self._store = store
        self._rollup = rollup
        self._metrics = metrics
        self._clock = clock
        self._root = settings.mqtt.topic_root
        # Half the receive maximum: the next batch can fill while this one commits.
        self._max_messages = max(1, settings.ingest.max_inflight_messages // 2)
        self._acker = CommitAcker(subscriber, self._root) if settings.ingest.commit_acks else None

    def _full(self, batch: Batch) -> bool:
        return batch.readings >= self._settings.ingest.batch_size or len(batch) >= self._max_messages or batch.urgent

    async def batch_loop(self, handoff: asyncio.Queue[Batch | Delivery | None], stop: asyncio.Event) -> None:
        """Decode deliveries into batches, in arrival order; a suspicious redelivery goes to the writer alone."""
        interval = self._settings.ingest.flush_interval_s
        # Before the first message (the writer is idle: the store's connection is ours here).
        self._suspicious = await self._retrying(lambda: self._store.begin_run(self._client_id, self._clock.now()))
        if self._suspicious:
            _log.warning("ingest_unclean_restart", lane=self.lane)
        batch = Batch()
        while not stop.is_set():
            wait = interval - batch.age_s() if batch.items else interval
            deliveries = await self._subscriber.get_many(_TAKE, max(0.001, wait))
            # The platform's own retained configs come back to us (we subscribe to the whole root): not
            # a gateway's message, so not counted as received (ingest/configs.py publishes them).
            self._metrics.received.inc(sum(1 for d in deliveries if ORIGIN_PROPERTY not in d.properties))
            for run in _runs(deliveries):
                if not run[0].redelivered:
                    self._suspicious = False  # the dead process's backlog is through
                if self._suspicious:
                    if batch.items:
                        await handoff.put(batch)
                        batch = Batch()
                    for delivery in run:
                        await handoff.put(delivery)
                    continue
                async with self._gate.shared():
                    results = await self._decode(run)
                for delivery, result in zip(run, results, strict=True):
                    batch.add(delivery, result)
                    if self._full(batch):
                        await handoff.put(batch)
                        batch = Batch()
            if batch.items and batch.age_s() >= interval:
                await handoff.put(batch)
                batch = Batch()
        if batch.items:
            await handoff.put(batch)  # drain: commit and acknowledge what we hold
        # The end marker only on a clean stop; on failure the task group cancels the writer (and a
        # blocking put here could wait forever for a writer that is gone).
        await handoff.put(None)

    async def _decode(self, deliveries: list[Delivery]) -> list[Decoded | Rejection | Skip]:
        if len(deliveries) < _OFFLOAD_AT:
            return [self._decode_one(delivery) for delivery in deliveries]
        # Off the event loop: the other lane's tasks keep running (the GIL switches every 5 ms),
        # so a burst of readings does not hold up an SOS in the urgent lane.
        return await asyncio.to_thread(lambda: [self._decode_one(delivery) for delivery in deliveries])

    def _decode_one(self, delivery: Delivery) -> Decoded | Rejection | Skip:
        skip = self._skip(delivery)
        if skip is not None:
            return skip
        cfg = self._settings.ingest
        window = TimeWindow.around(self._clock.now(), max_age_s=cfg.max_ts_age_s, max_ahead_s=cfg.max_ts_ahead_s)
        result = decode(delivery.topic, delivery.payload, root=self._root, direction=Direction.UPSTREAM, window=window)
        if isinstance(result, Decoded) and result.outside_window:
            self._metrics.alarms_outside_window.inc()  # accepted: a wrong clock must not silence an SOS
        return result

    def _skip(self, delivery: Delivery) -> Skip | None:
        try:
            kind = Topic.parse(delivery.topic).kind
        except TopicError:
            return None  # decode dead-letters it
        if kind in self._skipped_kinds:
            return Skip("another lane's kind")
        if DIRECTION[kind] is Direction.DOWNSTREAM and ORIGIN_PROPERTY in delivery.properties:
            return Skip("the platform's own publish")
        return None

    async def write_loop(self, handoff: asyncio.Queue[Batch | Delivery | None]) -> None:
        await self._write_all(handoff)
        # Reached only on a clean stop (the end marker): everything held is committed and acknowledged.
        await self._retrying(lambda: self._store.end_run(self._client_id, self._clock.now()))

    async def _write_all(self, handoff: asyncio.Queue[Batch | Delivery | None]) -> None:
        while (work := await handoff.get()) is not None:
            first = work if isinstance(work, Delivery) else work.items[0].delivery
            held = time.monotonic() - first.received  # in this process before the commit
            if isinstance(work, Delivery):
                async with self._gate.exclusive():
                    started = time.perf_counter()
                    batch = await self._suspect(work)
                    result = await self._commit(batch)
            else:
                batch = work
                async with self._gate.shared():
                    started = time.perf_counter()
                    result = await self._commit(batch)
            self._acknowledge(batch, result, held_s=held, commit_s=time.perf_counter() - started)

    async def _suspect(self, delivery: Delivery) -> Batch:
        """A batch of one redelivered message: its attempt counted and committed, then decoded or quarantined."""
        key = digest(delivery)
        attempts = await self._retrying(lambda: self._store.record_attempt(key, self._clock.now()))
        crashes = attempts - 1  # attempts that never reached their commit
        if crashes >= self._settings.ingest.quarantine_after_crashes:
            _log.error("ingest_quarantined", lane=self.lane, topic=delivery.topic, crashes=crashes)
            result: Decoded | Rejection | Skip = quarantined(delivery, crashes)
        else:
            result = self._decode_one(delivery)
        batch = Batch(attempt=key)
        batch.add(delivery, result)
        return batch

    def _acknowledge(self, batch: Batch, result: WriteResult, *, held_s: float, commit_s: float) -> None:
        """Committed (rows and dead letters): tell the homes (commit acknowledgements), then the broker (PUBACK)."""
        commit_acks = self._tell_homes(batch, result)
        acked = self._subscriber.ack([item.delivery for item in batch.items])
        self._metrics.committed(self.lane, result, seconds=commit_s, lag_s=held_s + commit_s)
        self._rollup.touched(result.reading_hours)
        _log.info(
            "ingest_batch",
            lane=self.lane,
            messages=result.messages,
            readings=result.readings_staged,
            new=result.readings_new,
            duplicates=result.duplicates,
            events=result.events_new,
            statuses=result.statuses_new,
            dead_letters=sum(result.dead_letters.values()),
            acked=acked,
            commit_acks=commit_acks,
            held_ms=round(held_s * 1000, 1),
            commit_ms=round(commit_s * 1000, 1),
        )

    def _tell_homes(self, batch: Batch, result: WriteResult) -> int:
        if self._acker is None:
            return 0
        unsent = self._acker.unsent
        sent = self._acker.send(batch, result.rejected, self._clock.now())
        self._metrics.acks_published.inc(sent)
        self._metrics.acks_unsent.inc(self._acker.unsent - unsent)
        return sent

    async def _commit(self, batch: Batch) -> WriteResult:
        """Commit ``batch``; a message the database refuses is isolated by halving and dead-lettered.

        Halving costs a few extra transactions for the one bad batch, and keeps every good message
        of it; acknowledgement still waits until every part is committed.
        """
        try:
            result = await self._retrying(lambda: self._store.write(batch, self._clock.now()))
        except DatabaseRefusedError as exc:
            if len(batch) == 1:
                item, error = batch.items[0], str(exc.args[0])
                _log.warning("ingest_write_failed", error=error, topic=item.delivery.topic)
                attempt = batch.attempt
                return await self._retrying(lambda: self._store.write_failed(item, error, self._clock.now(), attempt=attempt))
            first, second = batch.halves()
            return (await self._commit(first)).merged(await self._commit(second))
        if result.deferred_state:
            deferred = result.deferred_state
            await self._retrying(lambda: self._store.write_state(deferred, self._clock.now()))
        return result

    async def _retrying(self, write: Callable[[], Awaitable[T]]) -> T:
        """Retry with exponential backoff and jitter until it works (or we are cancelled).

        Other permanent errors are retried too, slowly and loudly: dropping the batch would lose
        data, and a crash would only meet the same batch again after the restart.
        """
        result = await retrying(write, backoff=self._backoff(), retry_if=_retryable, on_retry=self._before_retry)
        self._readiness.available("database")
        return result

    def _backoff(self) -> Backoff:
        return Backoff(self._settings.db.retry_min_s, self._settings.db.retry_max_s)

    def _before_retry(self, error: Exception, attempt: int, delay_s: float) -> None:
        self._metrics.retries.inc()
        # The class of the underlying library error only: database messages can quote row values.
        cause = type(error.__cause__ or error).__name__
        if isinstance(error, PermanentError):
            _log.error("ingest_batch_retry", error=cause, permanent=True, attempt=attempt, retry_in_s=round(delay_s, 2))
        else:
            _log.warning("ingest_batch_retry", error=cause, attempt=attempt, retry_in_s=round(delay_s, 2))
            self._readiness.lost("database", cause)


def _retryable(error: Exception) -> bool:
    return isinstance(error, EldercareError) and not isinstance(error, DatabaseRefusedError)


def _transient(error: Exception) -> bool:
    return isinstance(error, TransientError)


def _runs(deliveries: list[Delivery]) -> list[list[Delivery]]:
    """Consecutive deliveries grouped by whether they are redeliveries, order kept."""
    runs: list[list[Delivery]] = []
    for delivery in deliveries:
        if runs and runs[-1][0].redelivered == delivery.redelivered:
            runs[-1].append(delivery)
        else:
            runs.append([delivery])
    return runs
