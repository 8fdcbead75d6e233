"""The agent's wearable monitor: small packets are gathered into blocks for the detector without
changing what it finds or when the agent says the fall happened."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.wearable import MIN_BLOCK_S, WearableMonitor
from tests.edge import signals

RATE = 50.0


def _stream() -> np.ndarray:
    return np.vstack([signals.walking(6.0, RATE), signals.fall(RATE), signals.hold(np.array([1.0, 0.0, 0.0]), 5.0, RATE)])


def _push_all(monitor: WearableMonitor, samples: np.ndarray, packet: int) -> list[tuple[float, float, float]]:
    """(impact time from the start of the stream, confidence, newest sample time) per reported fall."""
    found, seen = [], 0
    for start in range(0, len(samples), packet):
        piece = samples[start : start + packet]
        seen += len(piece)
        falls, _ = monitor.push(piece, detect=True)
        found += [(seen / RATE - f.ago_s, f.detection.confidence, seen / RATE) for f in falls]
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
    # 20 s to judge, then 2 s more: the last packets wait for a block to fill before they count.
    samples = np.vstack([signals.walking(10.0, RATE), signals.hold(np.array([0.0, -1.0, 0.0]), 12.0, RATE)])

    def readings(packet: int) -> list[tuple[float, float]]:
        monitor, seen, out = WearableMonitor(RATE, activity_interval_s=4.0), 0, []
        for start in range(0, len(samples), packet):
            piece = samples[start : start + packet]
            seen += len(piece)
            out += [(round(seen / RATE - a.ago_s, 6), a.rms_g) for a in monitor.push(piece, detect=True)[1]]
        return [(end, rms) for end, rms in out if end <= 20.0]

    whole = readings(len(samples))
    assert [end for end, _ in whole] == [4.0, 8.0, 12.0, 16.0, 20.0]
    small = readings(7)
    assert [end for end, _ in small] == [end for end, _ in whole]
    assert [rms for _, rms in small] == pytest.approx([rms for _, rms in whole])


def test_a_bad_packet_is_refused_alone_and_the_stream_goes_on() -> None:
    monitor = WearableMonitor(RATE, 60.0)
    samples = _stream()
    monitor.push(samples[:10], detect=True)
    broken = samples[10:20].copy()
    broken[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        monitor.push(broken, detect=True)
    with pytest.raises(ValueError, match="shape"):
        monitor.push(np.zeros((4, 2)), detect=True)
    falls = []
    for start in range(20, len(samples), 25):
        falls += monitor.push(samples[start : start + 25], detect=True)[0]
    assert len(falls) == 1
