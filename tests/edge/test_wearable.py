"""The agent's wearable monitor: small packets are gathered into blocks for the detector without
changing what it finds or when the agent says the fall happened."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edge.devices import DeviceRegistry
from edge.intake import Intake, Tuning
from edge.model import DeviceRef
from edge.queue import DiskQueue
from edge.wearable import MIN_BLOCK_S, Fall, WearableMonitor
from eldercare.clock import FixedClock
from eldercare.contracts.payloads import DeviceKind
from tests.edge import signals

RATE = 50.0
T0 = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
WEARABLE = DeviceRef("h1:wearable", DeviceKind.WEARABLE)


def _stream() -> np.ndarray:
    return np.vstack([signals.walking(6.0, RATE), signals.fall(RATE), signals.hold(np.array([1.0, 0.0, 0.0]), 5.0, RATE)])


def _push_all(monitor: WearableMonitor, samples: np.ndarray, packet: int) -> list[tuple[float, float, float]]:
    """(impact time from the start of the stream, confidence, newest sample time) per reported fall."""
    found, seen = [], 0
    for start in range(0, len(samples), packet):
        piece = samples[start : start + packet]
        seen += len(piece)
        pushed = monitor.push(piece, True)
        found += [(seen / RATE - f.ago_s, f.detection.confidence, seen / RATE) for f in (pushed.falls if pushed else ())]
    return found


def test_packets_are_gathered_into_blocks_and_find_the_same_fall_at_the_same_moment() -> None:
    samples = _stream()
    whole = _push_all(WearableMonitor(RATE, 60.0), samples, len(samples))
    packets = _push_all(WearableMonitor(RATE, 60.0), samples, 5)  # 0.1 s packets
    assert len(whole) == 1
    assert len(packets) == 1
    (impact_whole, conf_whole, _), (impact_packets, conf_packets, reported_at) = whole[0], packets[0]
    assert math.isclose(impact_whole, impact_packets, abs_tol=1e-9)
    assert conf_whole == conf_packets
    # Reported once a block holds the detector's 2-s wait after the impact: never more than one block later.
    assert impact_packets + 2.0 <= reported_at <= impact_packets + 2.0 + MIN_BLOCK_S + 0.1


def test_activity_readings_do_not_depend_on_packet_size() -> None:
    # 20 s to judge, then a block more: the last packets wait for a block to fill before they count.
    samples = np.vstack([signals.walking(10.0, RATE), signals.hold(np.array([0.0, -1.0, 0.0]), 10.0 + MIN_BLOCK_S, RATE)])

    def readings(packet: int) -> list[tuple[float, float]]:
        monitor, seen, out = WearableMonitor(RATE, activity_interval_s=4.0), 0, []
        for start in range(0, len(samples), packet):
            piece = samples[start : start + packet]
            seen += len(piece)
            pushed = monitor.push(piece, True)
            out += [(round(seen / RATE - a.ago_s, 6), a.rms_g) for a in (pushed.activity if pushed else ())]
        return [(end, rms) for end, rms in out if end <= 20.0]

    whole = readings(len(samples))
    assert [end for end, _ in whole] == [4.0, 8.0, 12.0, 16.0, 20.0]
    small = readings(7)
    assert [end for end, _ in small] == [end for end, _ in whole]
    assert [rms for _, rms in small] == pytest.approx([rms for _, rms in whole])


def test_a_bad_packet_is_refused_alone_and_the_stream_goes_on() -> None:
    """A wrong shape is refused at once; bad values when their block is checked, that packet
    alone (its samples counted), and the fall after it is still found."""
    monitor = WearableMonitor(RATE, 60.0)
    samples = _stream()
    assert monitor.push(samples[:10], True) is None
    broken = samples[10:20].copy()
    broken[3, 1] = np.nan
    too_large = samples[20:25] * 1e6  # finite, but no accelerometer reads a million g
    with pytest.raises(ValueError, match="shape"):
        monitor.push(np.zeros((4, 2)), True)
    assert monitor.push(broken, True) is None
    assert monitor.push(too_large, True) is None
    refused, falls = 0, list[Fall]()
    for start in range(25, len(samples), 25):
        pushed = monitor.push(samples[start : start + 25], True)
        if pushed is not None:
            refused += pushed.refused
            falls += pushed.falls
    assert refused == len(broken) + len(too_large)
    assert len(falls) == 1


def test_a_block_of_nothing_but_bad_packets_is_refused_whole() -> None:
    monitor = WearableMonitor(RATE, 60.0, min_block_s=0.2)
    bad = np.full((10, 3), np.inf)

    pushed = monitor.push(bad, True)

    assert pushed is not None
    assert (pushed.refused, pushed.falls, pushed.activity) == (10, (), ())


def test_lists_are_accepted_packet_by_packet() -> None:
    monitor = WearableMonitor(RATE, activity_interval_s=1.0, min_block_s=1.0)
    results = [monitor.push([[0.0, -1.0, 0.0]] * 10, True) for _ in range(5)]

    assert results[:4] == [None] * 4
    assert results[4] is not None
    assert [a.rms_g for a in results[4].activity] == [0.0]


def test_the_agent_queues_what_good_packets_gave_and_then_reports_the_refused_ones(tmp_path: Path) -> None:
    """Intake.accelerometer raises ValueError (what a driver logs and counts) for a bad packet
    once its block is checked, after queuing the readings of the good packets."""
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=100, sync="normal")
    tuning = Tuning(batch_max_readings=100, batch_max_delay_s=60.0, heartbeat_interval_s=60.0, activity_interval_s=1.0)
    intake = Intake(
        home_id="h1",
        topic_root="t",
        queue=queue,
        registry=DeviceRegistry(),
        clock=FixedClock(T0),
        tuning=tuning,
        on_queued=lambda: None,
    )
    still = signals.hold(np.array([0.0, -1.0, 0.0]), MIN_BLOCK_S, RATE)
    broken = still[:10].copy()
    broken[0, 0] = np.inf
    try:
        intake.accelerometer(WEARABLE, broken, RATE)  # kept until its block is complete
        with pytest.raises(ValueError, match="10 accelerometer samples refused"):
            intake.accelerometer(WEARABLE, still, RATE)
        assert queue.staged == round(MIN_BLOCK_S)  # one activity reading per second of good samples
    finally:
        queue.close()


def test_a_paused_stream_is_judged_without_waiting_for_its_block() -> None:
    """A recording that ends (or a link that drops) 6 s after a fall: the block is not full, the
    fall is found when the stream pauses."""
    fall = signals.fall(RATE)  # impact at about 5.6 s, 11.76 s long
    monitor = WearableMonitor(RATE, 60.0, min_block_s=30.0)

    assert all(monitor.push(fall[start : start + 12], True) is None for start in range(0, len(fall), 12))
    pushed = monitor.flush(True)

    assert pushed is not None
    assert len(pushed.falls) == 1
    assert monitor.flush(True) is None  # nothing waits any more


def test_a_button_press_queues_the_fall_it_may_answer_first(tmp_path: Path) -> None:
    """The resident presses "I'm OK" a few seconds after a fall whose samples still wait for their
    block: the fall must reach the platform with or before the press, or the press would find no
    fall to cancel."""
    queue = DiskQueue(tmp_path / "q.sqlite3", max_messages=100, sync="normal")
    tuning = Tuning(batch_max_readings=100, batch_max_delay_s=60.0, heartbeat_interval_s=60.0)
    intake = Intake(
        home_id="h1",
        topic_root="t",
        queue=queue,
        registry=DeviceRegistry(),
        clock=FixedClock(T0),
        tuning=tuning,
        on_queued=lambda: None,
    )
    stream = signals.fall(RATE)  # 11.8 s, shorter than a block: nothing is judged by the packets alone
    assert len(stream) < MIN_BLOCK_S * RATE
    try:
        for start in range(0, len(stream), 12):
            intake.accelerometer(WEARABLE, stream[start : start + 12], RATE)
        assert queue.depth == 0
        intake.event(DeviceRef("h1:sos", DeviceKind.SOS_BUTTON), {"type": "sos", "press": "single"})
        # One message, the fall first: ingest's parallel lanes may store separate messages in either order.
        (message,) = queue.peek(0, 10)
        assert [e["type"] for e in json.loads(message.payload)["events"]] == ["fall", "sos"]
    finally:
        queue.close()
