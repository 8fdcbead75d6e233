"""The disk queue: sequence numbers that survive restarts, and the bound policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from edge.devices import DeviceRegistry
from edge.intake import Intake, Tuning
from edge.model import DeviceRef
from edge.queue import READINGS, DiskQueue
from eldercare.clock import FixedClock
from eldercare.contracts.payloads import DeviceKind, Metric

T0 = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
PIR = DeviceRef("h1:pir", DeviceKind.MOTION)
SOS = DeviceRef("h1:sos", DeviceKind.SOS_BUTTON)


def _intake(queue: DiskQueue, clock: FixedClock, batch: int = 1) -> Intake:
    tuning = Tuning(batch_max_readings=batch, batch_max_delay_s=1.0, heartbeat_interval_s=60.0)
    return Intake(
        home_id="h1", topic_root="t", queue=queue, registry=DeviceRegistry(), clock=clock, tuning=tuning, on_queued=lambda: None
    )


def _seqs(queue: DiskQueue) -> list[tuple[str, int]]:
    """(device, seq) of every queued reading and event, in queue order."""
    found = []
    for message in queue.peek(0, 10_000):
        document = json.loads(message.payload)
        for item in document.get("readings", []) + document.get("events", []):
            found.append((item["device"], item["seq"]))
    return found


def test_sequence_numbers_survive_reopening_and_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    queue = DiskQueue(path, max_messages=1000, sync="normal")
    intake = _intake(queue, FixedClock(T0), batch=3)
    for value in (1, 0, 1):
        intake.reading(PIR, Metric.MOTION, value)
    intake.event(SOS, {"type": "sos"})
    queue.delete([m.id for m in queue.peek(0, 10)])  # acknowledged and gone: numbers must not come back
    queue.close()

    reopened = DiskQueue(path, max_messages=1000, sync="normal")
    assert reopened.depth == 0
    assert reopened.next_seq(PIR.id) == 3
    assert reopened.next_seq(SOS.id) == 1
    intake = _intake(reopened, FixedClock(T0), batch=2)
    intake.reading(PIR, Metric.MOTION, 0)
    intake.reading(PIR, Metric.MOTION, 1)
    intake.event(SOS, {"type": "sos", "press": "long"})
    assert _seqs(reopened) == [(PIR.id, 3), (PIR.id, 4), (SOS.id, 1)]
    reopened.close()


def test_a_failed_enqueue_uses_no_number(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=100, sync="normal")

    def broken(seqs: list[int]) -> bytes:
        raise ValueError("cannot render")

    with pytest.raises(ValueError, match="cannot render"):
        queue.put(READINGS, "t", [PIR.id, PIR.id], broken)
    assert queue.next_seq(PIR.id) == 0
    assert queue.depth == 0
    assert queue.put(READINGS, "t", [PIR.id], lambda seqs: b"x") == [0]
    queue.close()


def test_invalid_values_are_refused_before_they_take_a_number(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=100, sync="normal")
    intake = _intake(queue, FixedClock(T0))
    with pytest.raises(ValueError, match="out of range"):
        intake.reading(PIR, Metric.TEMPERATURE_C, 500)
    with pytest.raises(ValueError, match="0 or 1"):
        intake.reading(PIR, Metric.MOTION, 0.5)
    with pytest.raises(ValueError):
        intake.event(SOS, {"type": "sos", "press": "triple"})
    with pytest.raises(ValueError, match="invalid device id"):
        intake.reading(DeviceRef("kitchen pir!", DeviceKind.MOTION), Metric.MOTION, 1)
    with pytest.raises(ValueError, match="invalid device id"):
        intake.health(DeviceRef("x" * 65, DeviceKind.MOTION), battery_pct=50)
    assert queue.depth == 0
    assert queue.next_seq(SOS.id) == 0
    queue.close()


def test_when_full_the_oldest_readings_go_first_and_events_are_kept(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=5, sync="normal")
    intake = _intake(queue, clock, batch=1)  # one reading per message
    with capture_logs() as logged:
        intake.event(SOS, {"type": "sos"})  # oldest message of all: an event, must survive
        for value in range(8):
            intake.reading(PIR, Metric.MOTION, value % 2)
        intake.event(SOS, {"type": "sos", "press": "double"})
    assert queue.depth == 5
    assert queue.dropped_messages == 5
    # Kept: both events, and the NEWEST readings (seqs 5, 6, 7); readings 0-4 were dropped oldest first.
    assert _seqs(queue) == [(SOS.id, 0), (PIR.id, 5), (PIR.id, 6), (PIR.id, 7), (SOS.id, 1)]
    warnings = [e for e in logged if e["event"] == "edge_queue_full_dropped_oldest_readings"]
    assert warnings, logged
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["dropped_messages"] == 1
    assert warnings[0]["queue_max"] == 5
    assert len(warnings) == 1, "later drops within a minute are summed into the next warning, not logged each"

    clock.advance(timedelta(minutes=2))
    with capture_logs() as logged:
        intake.reading(PIR, Metric.MOTION, 1)
    later = [e for e in logged if e["event"] == "edge_queue_full_dropped_oldest_readings"]
    assert later
    assert later[0]["dropped_messages"] == 5
    assert later[0]["dropped_total"] == 6
    queue.close()


def test_a_queue_of_nothing_but_events_grows_past_the_bound_rather_than_lose_one(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=3, sync="normal")
    intake = _intake(queue, FixedClock(T0))
    for _ in range(5):
        intake.event(SOS, {"type": "sos"})
    assert queue.depth == 5
    assert queue.dropped_messages == 0
    assert [seq for _, seq in _seqs(queue)] == [0, 1, 2, 3, 4]
    queue.close()


def test_depth_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    queue = DiskQueue(path, max_messages=100, sync="full")
    for _ in range(7):
        queue.put(READINGS, "t", [PIR.id], lambda seqs: b"x")
    queue.close()
    reopened = DiskQueue(path, max_messages=100, sync="full")
    assert reopened.depth == 7
    assert [m.id for m in reopened.peek(3, 2)] == [4, 5]
    reopened.close()


def test_a_refused_device_id_does_not_spoil_the_batch_around_it(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=100, sync="normal")
    intake = _intake(queue, FixedClock(T0), batch=2)
    intake.reading(PIR, Metric.MOTION, 1)
    with pytest.raises(ValueError, match="invalid device id"):
        intake.reading(DeviceRef("bad id", DeviceKind.MOTION), Metric.MOTION, 1)
    intake.reading(PIR, Metric.MOTION, 0)
    assert _seqs(queue) == [(PIR.id, 0), (PIR.id, 1)]
    queue.close()


def test_readings_of_a_batch_still_filling_survive_a_crash_and_go_out_first(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    queue = DiskQueue(path, max_messages=100, sync="full")
    intake = _intake(queue, FixedClock(T0), batch=10)
    for value in (1, 0, 1):
        intake.reading(PIR, Metric.MOTION, value)
    assert (queue.depth, queue.staged) == (0, 3)  # accepted, waiting for the batch, already on disk
    queue.close()  # a crash: the intake never flushes; only what is on disk remains

    reopened = DiskQueue(path, max_messages=100, sync="full")
    assert reopened.staged == 3
    with capture_logs() as logs:
        intake = _intake(reopened, FixedClock(T0 + timedelta(minutes=5)), batch=10)
    assert [entry["readings"] for entry in logs if entry["event"] == "edge_staged_readings_recovered"] == [3]
    assert (reopened.depth, reopened.staged) == (1, 0)
    intake.reading(PIR, Metric.MOTION, 0)
    intake.flush()
    messages = [json.loads(m.payload) for m in reopened.peek(0, 10)]
    assert [[(r["seq"], r["value"], r["ts"]) for r in m["readings"]] for m in messages] == [
        [(0, 1.0, "2026-03-01T07:00:00Z"), (1, 0.0, "2026-03-01T07:00:00Z"), (2, 1.0, "2026-03-01T07:00:00Z")],
        [(3, 0.0, "2026-03-01T07:05:00Z")],
    ]
    reopened.close()


def test_a_long_stretch_of_staged_readings_is_sealed_into_messages_of_the_batch_size(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=100, sync="normal")
    intake = _intake(queue, FixedClock(T0), batch=1000)
    for i in range(25):
        intake.reading(PIR, Metric.MOTION, i % 2)
    intake.tuning.batch_max_readings = 10  # the platform shrank the batch while these waited
    intake.flush()
    sizes = [len(json.loads(m.payload)["readings"]) for m in queue.peek(0, 10)]
    assert sizes == [10, 10, 5]
    assert _seqs(queue) == [(PIR.id, i) for i in range(25)]
    queue.close()


def test_a_devices_readings_and_events_share_one_counter_from_zero(tmp_path: Path) -> None:
    """As docs/protocol.md says of our agent: one counter per device, readings and events alike."""
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=1000, sync="normal")
    intake = _intake(queue, FixedClock(T0), batch=1)
    intake.reading(SOS, Metric.BATTERY_PCT, 80.0)
    intake.event(SOS, {"type": "sos"})
    intake.reading(SOS, Metric.BATTERY_PCT, 79.0)
    assert _seqs(queue) == [(SOS.id, 0), (SOS.id, 1), (SOS.id, 2)]
    queue.close()
