"""A wearable's accelerometer stream: streaming fall detection and the periodic activity_g reading."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.falls import FallDetection, StreamingFallDetector
from eldercare.contracts.payloads import FallEvidence

_MAX_G = 64.0  # the contract's ceiling for every g value
_sum = np.add.reduce  # skips ndarray.sum's Python wrapper: it runs on every packet


@dataclass(frozen=True, slots=True)
class Activity:
    """RMS of (|a| - 1 g) over one window, and how long before the newest sample the window ended."""

    rms_g: float
    ago_s: float


@dataclass(frozen=True, slots=True)
class Fall:
    detection: FallDetection
    ago_s: float  # how long before the newest sample the impact happened

    @property
    def evidence(self) -> FallEvidence:
        d = self.detection
        return FallEvidence(
            peak_g=min(d.peak_g, _MAX_G),
            orientation_change_deg=min(max(d.orientation_change_deg, 0.0), 180.0),
            stillness_g=min(d.stillness_g, _MAX_G),
            free_fall_min_g=min(d.free_fall_g, _MAX_G),
        )


# Samples are handed to the detector in blocks of at least this long. A push costs the detector
# about the same whatever its length, and wearables deliver a few dozen samples at a time (the
# replay driver 0.25 s): blocks of 2 s keep a day of signal well under a CPU second
# (bench/falls.py) for at most 2 s more before a fall is reported (its own wait is 2 s).
MIN_BLOCK_S = 2.0


class WearableMonitor:
    """Constant memory per wearable: the detector's window, at most one block, two running sums."""

    def __init__(self, rate_hz: float, activity_interval_s: float, min_block_s: float = MIN_BLOCK_S) -> None:
        self.rate_hz = rate_hz
        self._detector = StreamingFallDetector(rate_hz)
        self._window = max(1, round(activity_interval_s * rate_hz))
        self._min_block = max(1, round(min_block_s * rate_hz))
        self._pending: list[npt.NDArray[np.float64]] = []
        self._pending_n = 0
        self._samples = 0  # samples seen since the stream started
        self._sq_sum = 0.0
        self._in_window = 0

    def push(self, samples: npt.ArrayLike, *, detect: bool) -> tuple[list[Fall], list[Activity]]:
        array = np.asarray(samples, dtype=np.float64)
        # One reduction is the cheapest finiteness check: NaN and infinities survive a sum (and a
        # sum that overflows means values far beyond any accelerometer's range).
        if array.ndim != 2 or array.shape[1] != 3 or not math.isfinite(_sum(array, axis=None)):
            raise ValueError(f"accelerometer samples must be finite, shape (n, 3) in g; got shape {array.shape}")
        self._pending.append(array)
        self._pending_n += len(array)
        if self._pending_n < self._min_block:
            return [], []
        array = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._pending, self._pending_n = [], 0
        # The detector always sees the stream (its windows must stay continuous); "detect" only
        # decides whether a detection is reported, so switching detection on mid-stream is safe.
        detections = self._detector.push(array)
        end_s = (self._samples + len(array)) / self.rate_hz
        falls = [Fall(d, max(0.0, end_s - d.time_s)) for d in detections] if detect else []
        activity = self._activity(array)
        self._samples += len(array)
        return falls, activity

    def _activity(self, array: npt.NDArray[np.float64]) -> list[Activity]:
        deviation = np.sqrt((array * array).sum(axis=1)) - 1.0
        found: list[Activity] = []
        start = 0
        while start < len(deviation):
            take = min(self._window - self._in_window, len(deviation) - start)
            chunk = deviation[start : start + take]
            self._sq_sum += float((chunk * chunk).sum())
            self._in_window += take
            start += take
            if self._in_window == self._window:
                rms = min(math.sqrt(self._sq_sum / self._window), _MAX_G)
                found.append(Activity(rms, (len(deviation) - start) / self.rate_hz))
                self._sq_sum, self._in_window = 0.0, 0
        return found
