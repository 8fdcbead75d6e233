"""A wearable's accelerometer stream: streaming fall detection and the periodic activity_g reading."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.falls import FallDetection, StreamingFallDetector, magnitudes
from eldercare.contracts.payloads import FallEvidence

_MAX_G = 64.0  # the contract's ceiling for every g value
_max = np.maximum.reduce  # skips ndarray.max's Python wrapper


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
        d = self.detection.evidence
        return FallEvidence(
            peak_g=min(d.peak_g, _MAX_G),
            orientation_change_deg=min(max(d.orientation_change_deg, 0.0), 180.0),
            stillness_g=min(d.stillness_g, _MAX_G),
            free_fall_min_g=min(d.free_fall_g, _MAX_G),
        )


# Samples are handed to the detector in blocks of at least this long. A push costs the detector
# about the same whatever its length (up to its own 15-s stretch), and wearables deliver a few
# dozen samples at a time (the replay driver 0.25 s); the blocks also carry the checks of the
# samples' values, so that a packet costs a shape check and a list append. A fall is reported at
# most one block later than the detector's own wait (2 s after the impact): up to 16 s after it.
# That no longer delays an alarm: the platform's cancel window (30 s by default) counts from the
# impact's time and the alarm goes out when it ends, and a button press first flushes the blocks
# (Intake.event), so a fall that the press answers is always queued before the press.
# bench/falls.py measures 14-s blocks against the previous 6-s ones in the same run.
MIN_BLOCK_S = 14.0
# Beyond any wearable accelerometer's range (and the contract's ceiling for every g value).
_MAX_MAGNITUDE_G = _MAX_G


@dataclass(frozen=True, slots=True)
class Pushed:
    """What one push completed: falls, activity windows, and samples refused for bad values."""

    falls: tuple[Fall, ...] = ()
    activity: tuple[Activity, ...] = ()
    refused: int = 0  # samples of packets refused (not finite, or a magnitude beyond 64 g)


class WearableMonitor:
    """Constant memory per wearable: the detector's window, at most one block, two running sums."""

    def __init__(self, rate_hz: float, activity_interval_s: float, min_block_s: float = MIN_BLOCK_S) -> None:
        self.rate_hz = rate_hz
        self._detector = StreamingFallDetector(rate_hz)
        self._window = max(1, round(activity_interval_s * rate_hz))
        self._min_block = max(1, round(min_block_s * rate_hz))
        self._pending: list[npt.NDArray[np.float64]] = []
        self._pending_n = 0
        self._samples = 0  # samples given to the detector since the stream started
        self._sq_sum = 0.0
        self._in_window = 0

    def push(self, samples: npt.ArrayLike, detect: bool) -> Pushed | None:
        """Take one packet, shape (n, 3) in g; None until it completes a block.

        This runs several times a second per wearable, so it only checks the shape (a wrong
        one raises ValueError at once) and keeps the packet. The values are checked once per
        block, where a packet holding a bad value is refused on its own (counted in
        :attr:`Pushed.refused`) and the others go on.
        """
        try:  # an ndarray, the common case: one attribute read
            rows, width = samples.shape  # type: ignore[union-attr]
        except (AttributeError, ValueError):  # a list, or not two-dimensional
            samples = np.asarray(samples, dtype=np.float64)
            rows, width = samples.shape if samples.ndim == 2 else (0, 0)
        if width != 3:
            raise ValueError(f"accelerometer samples must have shape (n, 3) in g; got shape {np.shape(samples)}")
        self._pending.append(samples)  # type: ignore[arg-type]
        self._pending_n += rows
        if self._pending_n < self._min_block:
            return None
        packets, self._pending, self._pending_n = self._pending, [], 0
        return self._push_block(packets, detect)

    def flush(self, detect: bool) -> Pushed | None:
        """Judge the packets waiting for their block now (the stream ended or paused); None
        when none wait. The detector still needs its 2-s wait after an impact."""
        if not self._pending:
            return None
        packets, self._pending, self._pending_n = self._pending, [], 0
        return self._push_block(packets, detect)

    def _push_block(self, packets: list[npt.NDArray[np.float64]], detect: bool) -> Pushed:
        block = np.asarray(packets[0] if len(packets) == 1 else np.concatenate(packets), dtype=np.float64)
        magnitude = magnitudes(block)
        refused = 0
        # NaN compares false: a NaN, an infinity or an absurd value all fail this one test.
        if not _max(magnitude) <= _MAX_MAGNITUDE_G:  # rare: find the packets to refuse
            good = [p for p in packets if _max(magnitudes(np.asarray(p, dtype=np.float64))) <= _MAX_MAGNITUDE_G]
            refused = len(block) - sum(len(p) for p in good)
            if not good:
                return Pushed(refused=refused)
            block = np.asarray(np.concatenate(good), dtype=np.float64)
            magnitude = magnitudes(block)
        # The detector always sees the stream (its windows must stay continuous); "detect" only
        # decides whether a detection is reported, so switching detection on mid-stream is safe.
        detections = self._detector.push(block, magnitude)
        end_s = (self._samples + len(block)) / self.rate_hz
        falls = tuple(Fall(d, max(0.0, end_s - d.time_s)) for d in detections) if detect else ()
        activity = self._activity(magnitude)
        self._samples += len(block)
        return Pushed(falls, activity, refused)

    def _activity(self, magnitude: npt.NDArray[np.float64]) -> tuple[Activity, ...]:
        deviation = magnitude - 1.0
        found: list[Activity] = []
        start = 0
        while start < len(deviation):
            take = min(self._window - self._in_window, len(deviation) - start)
            chunk = deviation[start : start + take]
            self._sq_sum += float(chunk @ chunk)
            self._in_window += take
            start += take
            if self._in_window == self._window:
                rms = min(math.sqrt(self._sq_sum / self._window), _MAX_G)
                found.append(Activity(rms, (len(deviation) - start) / self.rate_hz))
                self._sq_sum, self._in_window = 0.0, 0
        return tuple(found)
