"""Wearable signals go through the edge's own fall detector: falls are found, everyday movement is not."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from edge.wearable import WearableMonitor
from simulator.signals import ADXL345_COUNTS_PER_G, SisFallLibrary, everyday, resample, synthetic_fall

RATE = 50.0


def falls_in(*chunks: np.ndarray) -> int:
    monitor = WearableMonitor(RATE, 60.0)
    pushed = [monitor.push(chunk, True) for chunk in chunks]
    return sum(len(p.falls) for p in pushed if p is not None)


def test_synthetic_falls_are_detected_and_everyday_movement_is_not() -> None:
    rng = np.random.default_rng(3)
    for _ in range(10):
        signal, impact_s = synthetic_fall(RATE, rng)
        assert 3.0 < impact_s < len(signal) / RATE
        assert falls_in(everyday("sitting", 60, RATE, rng), signal, everyday("lying", 60, RATE, rng)) == 1
    day = [everyday(kind, 60, RATE, rng) for kind in ("walking", "sitting", "walking", "lying", "sitting") * 6]
    assert falls_in(*day) == 0


def test_sisfall_recordings_are_read_in_g_and_resampled(tmp_path: Path) -> None:
    # A SisFall-format trial (9 comma-separated columns, ';' line ends, ADXL345 counts first):
    # upright, an impact of about 4 g, then lying on the back.
    rng = np.random.default_rng(4)
    signal, _ = synthetic_fall(200.0, rng)
    counts = np.round(signal * ADXL345_COUNTS_PER_G).astype(int)
    rows = [f"{x},{y},{z},0,0,0,0,0,0;" for x, y, z in counts]
    trial = tmp_path / "SA01" / "F05_SA01_R01.txt"
    trial.parent.mkdir()
    trial.write_text("\n".join(rows) + "\n")
    (tmp_path / "SA01" / "D01_SA01_R01.txt").write_text(trial.read_text())  # an activity, not a fall
    library = SisFallLibrary(tmp_path)
    assert library.files == [trial]
    fall = library.fall(RATE, random.Random(0))
    assert fall.shape == (len(signal) // 4, 3)
    assert np.allclose(fall[:50].mean(axis=0), resample(signal, 200.0, RATE)[:50].mean(axis=0), atol=0.01)
    assert falls_in(everyday("sitting", 60, RATE, rng), fall, everyday("lying", 60, RATE, rng)) == 1
