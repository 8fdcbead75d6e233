"""The gateway side of commit acknowledgement: what stays queued, what is sent again, and when.

The end-to-end proofs (broker restarts and wipes, two ingest copies) are in tests/ingest/test_commit_ack.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.commits import CommitTracker
from edge.drivers.simulated import SimulatedDriver
from edge.queue import READINGS, DiskQueue
from eldercare.config import Settings
from eldercare.contracts.acks import Awaiting, HomeOutcome, commit_acks
from eldercare.contracts.payloads import MAX_ACK_RANGES, CommitAck
from eldercare.contracts.topics import MessageKind
from tests.edge.helpers import Collector, agent_config, make_agent, running, wait_until

T = datetime(2026, 3, 1, tzinfo=UTC)
HOME = "home-1"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _queue(tmp_path: Path, **kwargs: object) -> DiskQueue:
    return DiskQueue(tmp_path / "q.sqlite3", max_messages=kwargs.pop("max_messages", 1000), sync="normal")  # type: ignore[arg-type]


def _put(queue: DiskQueue, kind: str, device: str, count: int = 1) -> int:
    """Queue one message of ``count`` numbered items of ``device``; returns its queue id."""
    key = "events" if kind == MessageKind.EVENTS.value else "readings"

    def render(seqs: list[int]) -> bytes:
        return json.dumps({"home_id": HOME, key: [{"device": device, "seq": seq} for seq in seqs]}).encode()

    queue.put(kind, f"r/v1/{HOME}/{key}", [device] * count, render)
    return queue.peek(0, 100_000)[-1].id


def _ack(committed: list[tuple[str, int, int]] = (), dead: list[tuple[str, int, int, str]] = ()) -> CommitAck:  # type: ignore[assignment]
    outcome = HomeOutcome()
    for device, first, last in committed:
        outcome.committed.update((device, seq) for seq in range(first, last + 1))
    for device, first, last, reason in dead:
        outcome.dead[reason].update((device, seq) for seq in range(first, last + 1))
    (ack,) = commit_acks(HOME, T, outcome)
    return ack


def test_a_message_leaves_the_queue_at_its_commit_acknowledgement_not_its_puback(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    tracker = CommitTracker(queue, events_timeout_s=10, readings_timeout_s=60)
    first = _put(queue, READINGS, "temp-1", 5)  # seqs 0-4
    second = _put(queue, READINGS, "temp-1", 5)  # seqs 5-9
    for message_id in (first, second):
        message = queue.get(message_id)
        assert message is not None
        tracker.sending(message)
        tracker.pubacked(message_id)
    assert queue.depth == 2
    assert len(tracker) == 2
    settled = tracker.apply(_ack(committed=[("temp-1", 0, 3)]))  # part of the first: nothing settles
    assert settled.committed == 0
    assert queue.depth == 2
    settled = tracker.apply(_ack(committed=[("temp-1", 0, 9)]))  # both, in one range
    assert settled.committed == 2
    assert queue.depth == 0
    assert len(tracker) == 0
    assert tracker.apply(_ack(committed=[("temp-1", 0, 9)])).committed == 0  # a second copy's ack: harmless


def test_a_dead_lettered_message_leaves_the_queue_and_is_counted_by_its_reason(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    tracker = CommitTracker(queue, events_timeout_s=10, readings_timeout_s=60)
    old = _put(queue, READINGS, "temp-1", 3)
    kept = _put(queue, READINGS, "temp-1", 3)
    for message_id in (old, kept):
        tracker.sending(queue.get(message_id))  # type: ignore[arg-type]
    settled = tracker.apply(_ack(dead=[("temp-1", 0, 2, "ts_too_old")]))
    assert settled.dead_lettered == {"ts_too_old": 1}
    assert settled.committed == 0
    assert [m.id for m in queue.peek(0, 10)] == [kept]
    assert tracker.dead_lettered == {"ts_too_old": 1}
    assert tracker.committed == 0


def test_an_sos_is_sent_again_until_committed_across_hours_and_sooner_than_readings(tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    clock = FakeMonotonic()
    tracker = CommitTracker(queue, events_timeout_s=10, readings_timeout_s=60, monotonic=clock)
    readings = _put(queue, READINGS, "temp-1", 10)
    sos = _put(queue, MessageKind.EVENTS.value, "sos-1")
    for message_id in (readings, sos):
        tracker.sending(queue.get(message_id))  # type: ignore[arg-type]
        tracker.pubacked(message_id)
    clock.now += 10
    assert tracker.overdue() == [sos]
    clock.now += 50
    assert tracker.overdue() == [sos, readings]  # events first
    # Three hours of a platform that commits nothing: the SOS goes again every 10 s (no backoff: someone
    # may be waiting for help), and never leaves the queue; the readings back off to 8 x 60 s.
    gaps: dict[int, list[float]] = {sos: [], readings: []}
    last = dict.fromkeys(gaps, clock.now)
    while clock.now < 1000 + 3 * 3600:
        clock.now += 1
        for message_id in tracker.overdue():
            tracker.sending(queue.get(message_id))  # type: ignore[arg-type]
            tracker.pubacked(message_id)
            gaps[message_id].append(clock.now - last[message_id])
            last[message_id] = clock.now
    assert max(gaps[sos]) == 10
    assert len(gaps[sos]) >= 3 * 3600 / 10 - 10
    assert gaps[readings][1:4] == [120, 240, 480]  # (the first send was already due when the loop began)
    assert max(gaps[readings]) == 480
    assert queue.get(sos) is not None
    assert tracker.oldest_age_s() >= 3 * 3600
    tracker.apply(_ack(committed=[("sos-1", 0, 0)]))
    assert queue.get(sos) is None
    assert sos not in tracker
    assert readings in tracker


def test_what_awaits_its_acknowledgement_survives_kill_9(tmp_path: Path) -> None:
    """The queue is the acknowledgement state: a process killed with messages PUBACKed and not
    acknowledged finds every one of them queued again (the new session sends them all)."""
    queue = _queue(tmp_path)
    tracker = CommitTracker(queue, events_timeout_s=10, readings_timeout_s=60)
    ids = [_put(queue, READINGS, "temp-1", 4) for _ in range(5)] + [_put(queue, MessageKind.EVENTS.value, "sos-1")]
    for message_id in ids:
        tracker.sending(queue.get(message_id))  # type: ignore[arg-type]
        tracker.pubacked(message_id)
    tracker.apply(_ack(committed=[("temp-1", 0, 7)]))  # the first two committed
    del tracker, queue  # no close, no clean stop: as after kill -9
    reopened = _queue(tmp_path)
    assert [m.id for m in reopened.peek(0, 100)] == ids[2:]
    assert reopened.next_seqs() == {"temp-1": 20, "sos-1": 1}


def test_the_queue_bound_still_drops_only_readings_while_messages_await_acknowledgement(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=3, sync="normal")
    tracker = CommitTracker(queue, events_timeout_s=10, readings_timeout_s=60)
    sos = [_put(queue, MessageKind.EVENTS.value, "sos-1") for _ in range(2)]
    oldest = _put(queue, READINGS, "temp-1")
    for message_id in [*sos, oldest]:
        tracker.sending(queue.get(message_id))  # type: ignore[arg-type]
        tracker.pubacked(message_id)
    newer = [_put(queue, READINGS, "temp-1") for _ in range(3)]
    kept = [m.id for m in queue.peek(0, 10)]
    assert kept[:2] == sos
    assert oldest not in kept
    assert queue.dropped_messages == 3
    assert newer[-1] in kept
    assert queue.get(oldest) is None  # the uplink then forgets it (edge/uplink.py _resend_overdue)
    tracker.forget(oldest)
    assert len(tracker) == 2


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=12),
    data=st.data(),
)
def test_acknowledgements_in_any_order_split_and_repeated_settle_each_message_once(sizes: list[int], data: st.DataObject) -> None:
    """Two ingest copies: each acknowledges its own batches, in any order, some twice, merged or not."""
    awaiting = Awaiting()
    messages: dict[int, list[tuple[str, int]]] = {}
    seqs = {"a": 0, "b": 0}
    for key, size in enumerate(sizes):
        numbers = []
        for _ in range(size):
            device = data.draw(st.sampled_from(["a", "b"]))
            numbers.append((device, seqs[device]))
            seqs[device] += 1
        messages[key] = numbers
        awaiting.add(key, numbers)
    # Batches: random groups of whole messages (ingest acknowledges a message whole), shuffled, repeated.
    order = data.draw(st.permutations(list(messages)))
    cut = sorted(data.draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=4)))
    groups = [order[a:b] for a, b in zip([0, *cut], [*cut, len(order)], strict=True) if order[a:b]]
    acks = []
    for group in groups:
        outcome = HomeOutcome()
        for key in group:
            outcome.committed.update(messages[key])
        acks += commit_acks(HOME, T, outcome)
    acks += data.draw(st.lists(st.sampled_from(acks), max_size=3))
    random.Random(data.draw(st.integers(0, 1000))).shuffle(acks)
    settled = [key for ack in acks for key, _ in awaiting.apply(ack)]
    assert sorted(settled) == sorted(messages)
    assert len(awaiting) == 0


def test_a_long_outcome_is_split_into_acknowledgements_within_the_limit() -> None:
    outcome = HomeOutcome()
    outcome.committed.update(("temp-1", seq) for seq in range(0, 2 * (MAX_ACK_RANGES + 10), 2))  # no two adjacent
    acks = commit_acks(HOME, T, outcome)
    assert [len(ack.committed) for ack in acks] == [MAX_ACK_RANGES, 10]


async def test_readings_wait_for_room_in_the_commit_window_and_an_sos_never_does(
    edge_settings: Callable[..., Settings], home_id: str, tmp_path: Path
) -> None:
    """No ingest acknowledges here: after ``max_awaiting_commit`` readings messages the gateway holds the
    rest on disk, and an SOS pressed then goes out at once."""
    settings = edge_settings()
    driver = SimulatedDriver(home_id)
    config = agent_config(
        settings, home_id, tmp_path / "q.sqlite3", commit_ack=True, max_awaiting_commit=2, batch_max_readings=1,
        commit_timeout_readings_s=600,
    )  # fmt: skip
    agent = make_agent(config, driver)
    async with Collector(settings, home_id) as collector, running(agent):
        await driver.attached()
        await wait_until(lambda: agent.stats.connected)
        for value in range(6):
            await driver.temperature(20 + value, name="temp-1")
        await wait_until(lambda: agent.stats.awaiting_commit == 2 and agent.queue.depth == 6)
        await driver.sos(name="sos-1")
        await collector.wait_for(lambda: len(collector.events()) == 1)
        assert agent.stats.awaiting_commit == 3
        assert agent.queue.depth == 7
        assert len(collector.readings()) == 2  # the other four wait on disk for room
        assert agent.stats.oldest_awaiting_s > 0
