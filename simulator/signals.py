"""Wearable accelerometer signals, (n, 3) in g: everyday movement and falls.

Falls are synthetic (stand, walk, tip over in a brief free fall, hit the floor, lie still), or,
when a SisFall directory is given, real recorded falls of that dataset (its ADXL345 channel,
200 Hz, resampled to the wearable's rate). Either way they go through the edge agent's own
streaming fall detector: the simulator never tells the platform "a fall happened".
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simulator.routine import Activity

FloatArray = npt.NDArray[np.float64]
UP = np.array([0.0, -1.0, 0.0])  # upright: gravity along -y of the sensor
LYING = np.array([0.0, 0.0, 1.0])  # on the back
SISFALL_RATE_HZ = 200.0
ADXL345_COUNTS_PER_G = 256.0


def _noise(rng: np.random.Generator, n: int, sigma: float) -> FloatArray:
    noise: FloatArray = rng.normal(0.0, sigma, (n, 3))
    return noise


def everyday(activity: Activity, seconds: float, rate_hz: float, rng: np.random.Generator) -> FloatArray:
    """Sitting (upright, nearly still), walking (a 1.2 Hz gait) or lying (on the back, still)."""
    n = max(1, round(seconds * rate_hz))
    if activity == "lying":
        return np.tile(LYING, (n, 1)) + _noise(rng, n, 0.01)
    if activity == "sitting":
        return np.tile(UP, (n, 1)) + _noise(rng, n, 0.02)
    t = np.arange(n) / rate_hz
    vertical = 0.3 * np.sin(2 * np.pi * 1.2 * t) + 0.12 * np.sin(2 * np.pi * 2.4 * t)
    sway = 0.1 * np.sin(2 * np.pi * 0.6 * t)
    walk: FloatArray = np.column_stack([sway, -1.0 - vertical, 0.05 * np.cos(2 * np.pi * 1.2 * t)])
    return walk + _noise(rng, n, 0.03)


def _rotate(start: FloatArray, end: FloatArray, seconds: float, rate_hz: float) -> FloatArray:
    n = max(2, round(seconds * rate_hz))
    weights = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n)))[:, None]
    path = (1 - weights) * start + weights * end
    unit: FloatArray = path / np.linalg.norm(path, axis=1, keepdims=True)
    return unit


def _impact(direction: FloatArray, peak_g: float, rate_hz: float, width_s: float = 0.06) -> FloatArray:
    t = np.arange(-3 * width_s, 3 * width_s, 1.0 / rate_hz)
    bump = (peak_g - 1.0) * np.exp(-0.5 * (t / (width_s / 2)) ** 2)
    spike: FloatArray = (1.0 + bump)[:, None] * direction
    return spike


def synthetic_fall(rate_hz: float, rng: np.random.Generator, lie_s: float = 8.0) -> tuple[FloatArray, float]:
    """Walk, tip over in a short free fall, hit the floor (3-6 g), lie still. Returns (signal, impact_s)."""
    peak = float(rng.uniform(3.0, 6.0))
    before = np.vstack([everyday("walking", 4.0, rate_hz, rng)])
    drop = 0.3 * _rotate(UP, LYING, 0.4, rate_hz)
    impact = _impact(LYING, peak, rate_hz)
    after = np.tile(LYING, (round(lie_s * rate_hz), 1))
    signal = np.vstack([before, drop, impact, after])
    impact_s = (len(before) + len(drop) + len(impact) / 2) / rate_hz
    return signal + _noise(rng, len(signal), 0.01), impact_s


class SisFallLibrary:
    """Recorded falls (files ``F*.txt``) of a local SisFall copy, resampled on demand."""

    def __init__(self, root: Path) -> None:
        self.files = sorted(root.glob("S[AE][0-9][0-9]/F[0-9][0-9]_*.txt"))
        if not self.files:
            raise FileNotFoundError(f"no SisFall fall recordings (SXnn/Fnn_*.txt) under {root}")

    def fall(self, rate_hz: float, rng: random.Random) -> FloatArray:
        path = self.files[rng.randrange(len(self.files))]
        return resample(load_sisfall(path), SISFALL_RATE_HZ, rate_hz)


def load_sisfall(path: Path) -> FloatArray:
    """The ADXL345 columns of one SisFall trial, in g (200 Hz)."""
    text = path.read_text().replace(";", ",")
    values = np.array([v for v in text.split(",") if v.strip()], dtype=np.float64)
    rows = values[: len(values) // 9 * 9].reshape(-1, 9)
    samples: FloatArray = rows[:, 0:3] / ADXL345_COUNTS_PER_G
    return samples


def resample(samples: FloatArray, from_hz: float, to_hz: float) -> FloatArray:
    """Block-average down (anti-alias) when the factor is whole; linear interpolation otherwise."""
    if from_hz == to_hz:
        return samples
    factor = from_hz / to_hz
    if factor >= 1 and factor.is_integer():
        k = int(factor)
        usable = len(samples) // k * k
        averaged: FloatArray = samples[:usable].reshape(-1, k, 3).mean(axis=1)
        return averaged
    t_src = np.arange(len(samples)) / from_hz
    t_dst = np.arange(0.0, t_src[-1], 1.0 / to_hz)
    return np.column_stack([np.interp(t_dst, t_src, samples[:, axis]) for axis in range(3)])


def _hold(direction: FloatArray, seconds: float, rate_hz: float) -> FloatArray:
    return np.tile(direction, (round(seconds * rate_hz), 1))


def _leaning(degrees: float) -> FloatArray:
    """Upright tilted back towards lying by ``degrees`` (sitting back in a chair)."""
    angle = np.radians(degrees)
    leaning: FloatArray = np.cos(angle) * UP + np.sin(angle) * LYING
    return leaning


SIDE = np.array([1.0, 0.0, 0.0])  # lying on the side


def soft_fall(rate_hz: float, rng: np.random.Generator, lie_s: float = 8.0) -> tuple[FloatArray, float]:
    """A faint from a chair: sitting back 30 degrees, the body slumps (support lost) to lying
    and lands softly (1.6 g): the detector's UPRIGHT_TO_LYING pattern, below the alarm confidence."""
    sitting = _hold(_leaning(30.0), 6.0, rate_hz)
    slump = 0.6 * _rotate(_leaning(30.0), LYING, 0.8, rate_hz)
    landing = _impact(LYING, 1.6, rate_hz, width_s=0.1)
    signal = np.vstack([sitting, slump, landing, _hold(LYING, lie_s, rate_hz)])
    impact_s = (len(sitting) + len(slump) + len(landing) / 2) / rate_hz
    return signal + _noise(rng, len(signal), 0.01), impact_s


def restless_turn(rate_hz: float, rng: np.random.Generator) -> tuple[FloatArray, float]:
    """Turning over in bed: from the back onto the side and back (the detector never sees an
    upright trunk: no candidate), then sitting up and dropping back onto the mattress (2.2 g):
    a candidate, which only the bed mat tells from a fall. Returns (signal, drop_s)."""
    roll = [_hold(LYING, 4.0, rate_hz), _rotate(LYING, SIDE, 1.5, rate_hz), _hold(SIDE, 5.0, rate_hz)]
    roll += [_rotate(SIDE, LYING, 1.5, rate_hz), _hold(LYING, 3.0, rate_hz)]
    sit_up = [_rotate(LYING, UP, 1.0, rate_hz), _hold(UP, 3.0, rate_hz), 0.5 * _rotate(UP, LYING, 0.35, rate_hz)]
    drop = _impact(LYING, 2.2, rate_hz)
    signal = np.vstack([*roll, *sit_up, drop, _hold(LYING, 8.0, rate_hz)])
    drop_s = (sum(len(p) for p in roll + sit_up) + len(drop) / 2) / rate_hz
    return signal + _noise(rng, len(signal), 0.01), drop_s


def fall_from_bed(rate_hz: float, rng: np.random.Generator, lie_s: float = 8.0) -> tuple[FloatArray, float]:
    """Sitting up on the edge of the bed at night, then falling to the floor (4 g)."""
    parts = [_hold(LYING, 3.0, rate_hz), _rotate(LYING, UP, 1.5, rate_hz), _hold(UP, 4.0, rate_hz)]
    parts.append(0.3 * _rotate(UP, LYING, 0.4, rate_hz))
    landing = _impact(LYING, 4.0, rate_hz)
    signal = np.vstack([*parts, landing, _hold(LYING, lie_s, rate_hz)])
    impact_s = (sum(len(p) for p in parts) + len(landing) / 2) / rate_hz
    return signal + _noise(rng, len(signal), 0.01), impact_s


def lie_down_to_rest(rate_hz: float, rng: np.random.Generator, lie_s: float = 8.0) -> tuple[FloatArray, float]:
    """Walking to the sofa, sitting, then lying down on it over 3 s. Returns (signal, lying_s)."""
    parts = [everyday("walking", 4.0, rate_hz, rng), _hold(UP, 5.0, rate_hz), _rotate(UP, LYING, 3.0, rate_hz)]
    signal = np.vstack([*parts, _hold(LYING, lie_s, rate_hz)])
    return signal + _noise(rng, len(signal), 0.01), sum(len(p) for p in parts) / rate_hz
