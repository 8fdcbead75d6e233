"""Synthetic wearable signals (no real data in CI): gravity on y when upright, on z when lying."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
UP = np.array([0.0, -1.0, 0.0])
LYING = np.array([0.0, 0.0, 1.0])


def hold(direction: FloatArray, seconds: float, rate: float) -> FloatArray:
    return np.tile(direction, (round(seconds * rate), 1))


def walking(seconds: float, rate: float) -> FloatArray:
    t = np.arange(round(seconds * rate)) / rate
    vertical = 0.35 * np.sin(2 * np.pi * 1.2 * t) + 0.15 * np.sin(2 * np.pi * 2.4 * t)
    return np.column_stack([0.1 * np.sin(2 * np.pi * 0.6 * t), -1.0 - vertical, 0.05 * np.cos(2 * np.pi * 1.2 * t)])


def fall(rate: float, peak_g: float = 4.0) -> FloatArray:
    """Stand, walk, tip over in near free fall, hit the floor, lie still (impact at about 5.5 s)."""
    n = round(0.4 * rate)
    w = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n)))[:, None]
    path = (1 - w) * UP + w * LYING
    drop = 0.3 * path / np.linalg.norm(path, axis=1, keepdims=True)
    t = np.arange(-0.18, 0.18, 1.0 / rate)
    impact = (1.0 + (peak_g - 1.0) * np.exp(-0.5 * (t / 0.03) ** 2))[:, None] * LYING
    signal = np.vstack([hold(UP, 2.0, rate), walking(3.0, rate), drop, impact, hold(LYING, 6.0, rate)])
    noisy: FloatArray = signal + np.random.default_rng(1).normal(0.0, 0.01, signal.shape)
    return noisy


def daily_activity(rate: float, seconds: float = 12.0) -> FloatArray:
    """Walking about: no fall."""
    return walking(seconds, rate) + np.random.default_rng(2).normal(0.0, 0.01, (round(seconds * rate), 3))
