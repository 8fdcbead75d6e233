"""On-device fall detection from a waist-worn 3-axis accelerometer.

A fall is recognised as an *impact* (a short burst of acceleration well above 1 g) that
is followed by a *different, still posture*: the gravity vector after the impact points
elsewhere than before it, and the wearer hardly moves. Each impact candidate is described
by a handful of explainable measurements (:class:`ImpactEvidence`); a small linear score
over them, squashed by a logistic function, gives the confidence.

Everything is expressed in seconds and g so that the same configuration works at 50 Hz and
200 Hz. The impact is measured on a short moving average of the magnitude, because a raw
spike of a few milliseconds is seen at 200 Hz but averaged away at 50 Hz.

The batch function :func:`detect_falls` runs the streaming detector over the whole array,
so the two cannot diverge. The streaming detector keeps a fixed-size window of recent
samples (constant memory) and reports a fall as soon as the post-impact window has been
observed, that is :attr:`FallDetectorConfig.latency_s` after the impact.

The score weights are the ones ``python -m bench.falls --dataset DIR`` fits on all
SisFall subjects of the local evaluation subset (ADXL345, 200 Hz and 50 Hz pooled), with
the ridge penalty that the same benchmark picks by leave-one-subject-out validation.
The windows, gates, candidate threshold and the feature set are fixed by hand (and were
chosen while looking at the benchmark's held-out figures). Held-out figures of that
benchmark (leave one subject out, everything fitted inside the folds; 75 falls, 111
daily activities): sensitivity 97.3 % at 200 Hz and 50 Hz, specificity 100 % at 200 Hz
and 99.1 % at 50 Hz (one quick sit on a low chair, where the fold picked a weak penalty).
The two missed falls are soft, controlled falls (impacts of about 1.5 g) by the one
elderly subject who performed falls, a judo expert; on every measured feature they lie
among the daily activities, so no fold trained on the other subjects can accept them.
That includes the trunk tilt before and after the impact: an elderly woman lying down
slowly on a bed looks the same (1.65 g, lying at 102 degrees). Only the time spent
lying afterwards tells them apart, and in SisFall that is set by the protocol (the daily
activities sit up again), so the detector does not use it: lying down to rest and
staying there is not a fall.

Cost: one pass over each pushed chunk; the costlier search runs only when a sample at or
above ``candidate_g`` is within reach, and the full measurement only for candidates that
can pass the gates. Streaming 24 h of 50 Hz signal in 1-s chunks takes about 0.75 s of
CPU on a busy day and 0.3 s on a quiet one (see the benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_RATE_HZ",
    "MIN_RATE_HZ",
    "FallDetection",
    "FallDetectorConfig",
    "ImpactEvidence",
    "ImpactScanner",
    "ScoreWeights",
    "StreamingFallDetector",
    "classify",
    "confidence_of",
    "detect_falls",
    "passes_gates",
    "scan_impacts",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MIN_RATE_HZ = 10.0
MAX_RATE_HZ = 1000.0
_EPS = 1e-9
_MICRO = 1e6  # micro-g per g, for exact integer moving sums


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the linear score; the confidence is ``1 / (1 + exp(-score))``.

    Each term is a plain feature in its natural unit, so a weight reads as "how much one
    more g (or one more right angle) of this evidence moves the log-odds of a fall".
    """

    bias: float = -2.901
    impact_g: float = 0.719
    impact_activity_g: float = 2.957
    orientation_change_rt: float = 3.205  # per right angle (90 degrees)
    free_fall_g: float = -3.056


@dataclass(frozen=True, slots=True)
class FallDetectorConfig:
    """Every knob of the detector, in seconds and g (never in samples)."""

    # The magnitude is averaged over this span before looking for impacts; it makes the
    # impact height comparable between sampling rates.
    smoothing_s: float = 0.1
    # Impacts below this smoothed magnitude are not even considered.
    candidate_g: float = 1.4
    # An impact is the largest smoothed magnitude within +/- this span.
    peak_window_s: float = 0.5
    # The free-fall dip is the lowest smoothed magnitude in this span before the impact.
    free_fall_window_s: float = 1.0
    # Mean |magnitude - 1 g| over +/- this span around the impact: how violent it was.
    activity_window_s: float = 0.5
    # Posture before the impact: mean acceleration over [impact - start, impact - end].
    pre_start_s: float = 3.0
    pre_end_s: float = 1.0
    # Posture and stillness after the impact: over [impact + start, impact + end].
    post_start_s: float = 0.8
    post_end_s: float = 2.0
    # Hard gates: without a posture change and stillness there is no fall, whatever the
    # score says. They keep the detector explainable ("the wearer did not end up still").
    min_orientation_change_deg: float = 35.0
    max_stillness_g: float = 0.25
    min_confidence: float = 0.5
    # One fall produces several bounces; only the first is reported.
    refractory_s: float = 10.0
    weights: ScoreWeights = field(default_factory=ScoreWeights)

    @property
    def latency_s(self) -> float:
        """Delay between the impact and the moment its detection can be reported."""
        return max(self.post_end_s, self.peak_window_s + self.smoothing_s, self.activity_window_s)


@dataclass(frozen=True, slots=True)
class ImpactEvidence:
    """Measurements around one impact candidate; published as the fall's evidence."""

    time_s: float
    peak_g: float  # highest raw magnitude near the impact (may be clipped by the sensor)
    impact_g: float  # smoothed magnitude at the impact
    impact_activity_g: float  # mean |magnitude - 1 g| around the impact
    free_fall_g: float  # lowest smoothed magnitude just before the impact
    orientation_change_deg: float  # angle between gravity before and after
    stillness_g: float  # standard deviation of the magnitude after the impact


@dataclass(frozen=True, slots=True)
class FallDetection:
    """A detected fall: when, how sure, and why."""

    time_s: float
    confidence: float
    peak_g: float
    impact_g: float
    impact_activity_g: float
    free_fall_g: float
    orientation_change_deg: float
    stillness_g: float


def confidence_of(evidence: ImpactEvidence, weights: ScoreWeights) -> float:
    """Logistic of the linear score: 0.5 is the decision boundary of the default config."""
    score = (
        weights.bias
        + weights.impact_g * evidence.impact_g
        + weights.impact_activity_g * evidence.impact_activity_g
        + weights.orientation_change_rt * evidence.orientation_change_deg / 90.0
        + weights.free_fall_g * evidence.free_fall_g
    )
    # Clamp to keep exp() finite; beyond +/-40 the confidence is 0 or 1 anyway.
    return 1.0 / (1.0 + math.exp(-min(max(score, -40.0), 40.0)))


def passes_gates(evidence: ImpactEvidence, config: FallDetectorConfig) -> bool:
    """The posture changed and the wearer is still: necessary, not sufficient, for a fall."""
    return evidence.orientation_change_deg >= config.min_orientation_change_deg and evidence.stillness_g <= config.max_stillness_g


def classify(evidence: ImpactEvidence, config: FallDetectorConfig) -> FallDetection | None:
    """Apply the gates and the score to one candidate; None when it is not a fall."""
    if not passes_gates(evidence, config):
        return None
    confidence = confidence_of(evidence, config.weights)
    if confidence < config.min_confidence:
        return None
    return FallDetection(
        time_s=evidence.time_s,
        confidence=confidence,
        peak_g=evidence.peak_g,
        impact_g=evidence.impact_g,
        impact_activity_g=evidence.impact_activity_g,
        free_fall_g=evidence.free_fall_g,
        orientation_change_deg=evidence.orientation_change_deg,
        stillness_g=evidence.stillness_g,
    )


def validate_rate(rate_hz: float) -> float:
    """Reject rates the windows were not designed for (and NaN, which compares false)."""
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise ValueError(f"rate_hz must be between {MIN_RATE_HZ:g} and {MAX_RATE_HZ:g} Hz, got {rate_hz!r}")
    return float(rate_hz)


@dataclass(frozen=True, slots=True)
class _Windows:
    """The configuration's spans converted to sample counts for one sampling rate."""

    smooth: int  # odd length of the moving average
    peak: int
    free_fall: int
    activity: int
    pre_start: int
    pre_end: int
    post_start: int
    post_end: int
    refractory: int

    @classmethod
    def at(cls, config: FallDetectorConfig, rate_hz: float) -> _Windows:
        def n(seconds: float) -> int:
            return max(1, round(seconds * rate_hz))

        return cls(
            smooth=2 * (n(config.smoothing_s) // 2) + 1,
            peak=n(config.peak_window_s),
            free_fall=n(config.free_fall_window_s),
            activity=n(config.activity_window_s),
            pre_start=n(config.pre_start_s),
            pre_end=min(n(config.pre_end_s), n(config.pre_start_s) - 1),
            post_start=n(config.post_start_s),
            post_end=max(n(config.post_end_s), n(config.post_start_s) + 2),
            refractory=n(config.refractory_s),
        )

    @property
    def reach(self) -> int:
        """A candidate depends on raw magnitudes up to this many samples either side."""
        return self.peak + self.smooth // 2

    @property
    def past(self) -> int:
        """Samples needed before a candidate to measure it."""
        half = self.smooth // 2
        return max(self.pre_start, self.peak + half, self.free_fall + half, self.activity) + 1

    @property
    def future(self) -> int:
        """Samples needed after a candidate (inclusive of it) to measure it."""
        half = self.smooth // 2
        return max(self.post_end, self.peak + half + 1, self.activity)


class ImpactScanner:
    """Finds impact candidates in a stream and measures them, with constant memory.

    ``push`` accepts chunks of any length (even one sample) and returns the evidence of
    every candidate whose post-impact window has just been completed and that could pass
    the gates of :func:`passes_gates` (the others are dropped before being measured). The
    result does not depend on how the stream is chunked: each measurement reads exactly
    the same samples, and each shortcut only skips work whose outcome is certain.

    Cost per push, cheapest first (a push is typically one second of signal):

    * every push: one pass over the new samples (magnitude, loudest sample) and a copy
      into the ring buffer;
    * only when a sample at or above ``candidate_g`` lies within reach of the rows that
      have just become measurable: the smoothed magnitude of those rows (exact integer
      moving sums) and a search for its local maxima;
    * only for such a maximum: two cheap necessary checks (stillness afterwards, posture
      change) before the full measurement.
    """

    # Longest stretch processed at once; bounds the buffer (and so the memory) whatever
    # chunk size the caller pushes.
    _BLOCK_S = 10.0
    # Relative margins of the necessary checks: they may let a hopeless candidate through
    # to the exact gate, never reject one that the exact gate would accept.
    _LOUD_MARGIN = 1e-9
    _STILL_MARGIN = 1.01
    _ANGLE_MARGIN_DEG = 1.0

    def __init__(self, rate_hz: float, config: FallDetectorConfig | None = None) -> None:
        self._rate_hz = validate_rate(rate_hz)
        self._config = config if config is not None else FallDetectorConfig()
        self._win = _Windows.at(self._config, self._rate_hz)
        self._future, self._reach = self._win.future, self._win.reach
        self._block = max(1, round(self._BLOCK_S * self._rate_hz))
        capacity = self._win.past + self._win.future + 2 * self._block
        self._acc = np.empty((capacity, 3), dtype=np.float64)
        self._mag = np.empty(capacity, dtype=np.float64)
        self._start = 0  # absolute sample index of buffer row 0
        self._end = 0  # absolute index one past the newest sample
        self._next_candidate = 0  # first absolute index not examined yet
        # Absolute (first, last) indices of the samples >= candidate_g of each push, oldest
        # first; spans out of reach are dropped, so the list stays short.
        self._loud: list[tuple[int, int]] = []
        self._started = False
        cand = self._config.candidate_g
        self._loud_square = cand * cand * (1.0 - self._LOUD_MARGIN)
        post = self._win.post_end - self._win.post_start
        still = self._STILL_MARGIN * self._config.max_stillness_g + 1e-6
        self._max_post_var = still * still
        self._post_n = post
        self._min_cosine = math.cos(math.radians(max(0.0, self._config.min_orientation_change_deg - self._ANGLE_MARGIN_DEG)))

    def push(self, samples: npt.ArrayLike) -> list[ImpactEvidence]:
        """Add samples (shape (n, 3), in g); return the candidates completed by them."""
        array = np.asarray(samples, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 3:
            raise ValueError(f"samples must have shape (n, 3) in g, got shape {array.shape}")
        if len(array) <= self._block:
            return self._push_block(array) if len(array) else []
        found: list[ImpactEvidence] = []
        for begin in range(0, len(array), self._block):
            found.extend(self._push_block(array[begin : begin + self._block]))
        return found

    def _push_block(self, chunk: FloatArray) -> list[ImpactEvidence]:
        square = _square_norm(chunk)
        top = float(_max(square))
        if not top < math.inf:
            raise ValueError("samples contain NaN or infinite values (or values too large to square)")
        self._append(chunk, np.sqrt(square))
        if top >= self._loud_square:
            loud = (square >= self._loud_square).nonzero()[0]
            offset = self._end - len(chunk)
            self._loud.append((offset + int(loud[0]), offset + int(loud[-1])))
        return self._examine()

    def _append(self, chunk: FloatArray, magnitude: FloatArray) -> None:
        if not self._started:
            # Before the first sample the wearer is assumed to hold the first posture; this
            # lets the first seconds be examined the same way by batch and stream.
            self._started = True
            past = self._win.past
            self._start, self._end = -past, 0
            self._acc[:past] = chunk[0]
            self._mag[:past] = magnitude[0]
            if magnitude[0] * magnitude[0] >= self._loud_square:
                self._loud.append((-past, -1))
        used = self._end - self._start
        if used + len(chunk) > len(self._acc):
            keep = self._win.past + self._win.future
            drop = used - keep
            self._acc[:keep] = self._acc[drop:used]
            self._mag[:keep] = self._mag[drop:used]
            self._start += drop
            used = keep
        self._acc[used : used + len(chunk)] = chunk
        self._mag[used : used + len(chunk)] = magnitude
        self._end += len(chunk)

    def _examine(self) -> list[ImpactEvidence]:
        """Measure every candidate whose post-impact window is now complete."""
        first, stop = self._next_candidate, self._end - self._future + 1
        if stop <= first:
            return []
        self._next_candidate = stop
        if not self._loud_within(first - self._reach, stop - 1 + self._reach):
            # A moving average never exceeds its inputs: no loud sample, no candidate.
            return []
        lo, hi = first - self._start, stop - self._start
        return [self._measure(row) for row in self._candidate_rows(lo, hi) if self._may_pass(row)]

    def _loud_within(self, lo: int, hi: int) -> bool:
        """Whether a push's loud span meets the absolute range [lo, hi]; forgets older spans."""
        spans = self._loud
        drop = 0
        while drop < len(spans) and spans[drop][1] < lo:
            drop += 1
        if drop:
            del spans[:drop]
        return bool(spans) and spans[0][0] <= hi

    def _smoothed(self, lo: int, hi: int) -> FloatArray:
        """Centred moving average of the magnitude for buffer rows [lo, hi).

        The sums are taken over integer micro-g, which are exact: a value never depends on
        which stretch it was computed with, so chunking cannot change a decision.
        """
        half, width = self._win.smooth // 2, self._win.smooth
        sums = np.rint(self._mag[lo - half - 1 : hi + half] * _MICRO).astype(np.int64).cumsum()
        means: FloatArray = (sums[width:] - sums[:-width]) / (width * _MICRO)
        return means

    def _candidate_rows(self, lo: int, hi: int) -> list[int]:
        """Rows in [lo, hi) where the smoothed magnitude reaches ``candidate_g`` and has
        its first maximum within +/- the peak window."""
        peak = self._win.peak
        smooth = self._smoothed(lo - peak, hi + peak)
        above = (smooth[peak : peak + hi - lo] >= self._config.candidate_g).nonzero()[0]
        if not above.size:
            return []
        values: list[float] = smooth.tolist()
        rows = []
        for i in above.tolist():
            centre = values[i + peak]
            # Cheap local-maximum test first; most rows above the threshold fail it.
            if values[i + peak - 1] < centre >= values[i + peak + 1] and (
                max(values[i : i + peak]) < centre >= max(values[i + peak + 1 : i + 2 * peak + 1])
            ):
                rows.append(lo + i)
        return rows

    def _may_pass(self, row: int) -> bool:
        """Necessary conditions of the gates, checked cheaply (with margins) before measuring.

        Most candidates of walking and jogging fail the stillness check, many of sitting
        down the posture check; the exact gates are applied later, in :func:`classify`.
        """
        win = self._win
        after = self._mag[row + win.post_start : row + win.post_end]
        mean = float(after.sum()) / self._post_n
        if float(after @ after) / self._post_n - mean * mean > self._max_post_var:
            return False
        before = self._acc[row - win.pre_start : row - win.pre_end].sum(axis=0)
        later = self._acc[row + win.post_start : row + win.post_end].sum(axis=0)
        norms = float(np.linalg.norm(before) * np.linalg.norm(later))
        return norms < _EPS or float(before @ later) <= self._min_cosine * norms

    def _measure(self, row: int) -> ImpactEvidence:
        """Measure the evidence around the candidate at buffer row ``row``."""
        win, mag = self._win, self._mag
        before = self._acc[row - win.pre_start : row - win.pre_end].mean(axis=0)
        after_rows = slice(row + win.post_start, row + win.post_end)
        after = self._acc[after_rows].mean(axis=0)
        half = win.smooth // 2
        return ImpactEvidence(
            time_s=(row + self._start) / self._rate_hz,
            peak_g=float(mag[row - half : row + half + 1].max()),
            impact_g=float(self._smoothed(row, row + 1)[0]),
            impact_activity_g=float(np.abs(mag[row - win.activity : row + win.activity] - 1.0).mean()),
            free_fall_g=float(self._smoothed(row - win.free_fall, row).min()),
            orientation_change_deg=_angle_deg(before, after),
            stillness_g=float(mag[after_rows].std()),
        )


class StreamingFallDetector:
    """Incremental fall detector with constant memory.

    ``push`` accepts chunks of any length (even one sample) and returns the falls whose
    post-impact window has just been completed, :attr:`FallDetectorConfig.latency_s`
    after the impact. Chunking never changes the detections.
    """

    def __init__(self, rate_hz: float, config: FallDetectorConfig | None = None) -> None:
        self._config = config if config is not None else FallDetectorConfig()
        self._scanner = ImpactScanner(rate_hz, self._config)
        self._quiet_until_s = -math.inf

    @property
    def config(self) -> FallDetectorConfig:
        return self._config

    def push(self, samples: npt.ArrayLike) -> list[FallDetection]:
        """Add samples (shape (n, 3), in g) and return the falls completed by them."""
        found: list[FallDetection] = []
        for evidence in self._scanner.push(samples):
            if evidence.time_s < self._quiet_until_s:
                continue  # a bounce or the struggle after a fall already reported
            detection = classify(evidence, self._config)
            if detection is not None:
                found.append(detection)
                self._quiet_until_s = evidence.time_s + self._config.refractory_s
        return found


_max = np.maximum.reduce  # skips the Python wrapper of ndarray.max: it runs on every push


def _square_norm(samples: FloatArray) -> FloatArray:
    """Squared Euclidean norm per row, element-wise (x^2 + y^2 + z^2 in that order) so
    that a sample's value cannot depend on the chunk it arrived in."""
    squares = samples * samples
    total: FloatArray = squares[:, 0] + squares[:, 1]
    total += squares[:, 2]
    return total


def _angle_deg(u: FloatArray, v: FloatArray) -> float:
    """Angle between two mean acceleration vectors (gravity directions), in degrees."""
    norms = float(np.linalg.norm(u) * np.linalg.norm(v))
    if norms < _EPS:
        return 0.0
    cosine = float(np.dot(u, v)) / norms
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def detect_falls(samples: npt.ArrayLike, rate_hz: float, config: FallDetectorConfig | None = None) -> list[FallDetection]:
    """Detect falls in a whole recording (shape (n, 3), in g, sampled at ``rate_hz``).

    ``time_s`` counts from the first sample to the impact. This is the streaming detector
    fed the whole array, so batch and stream always agree.
    """
    return StreamingFallDetector(rate_hz, config).push(samples)


def scan_impacts(samples: npt.ArrayLike, rate_hz: float, config: FallDetectorConfig | None = None) -> list[ImpactEvidence]:
    """Evidence for every impact candidate that could pass the gates, before the exact
    gates, the score and the refractory period.

    The scanner drops candidates that certainly fail a gate without measuring them; pass
    a config with the gates opened (``min_orientation_change_deg=0``, a large
    ``max_stillness_g``) to see every candidate. For tuning: the benchmark measures
    candidates once, then fits the score offline and decides with :func:`classify`, the
    detector's own rule.
    """
    return ImpactScanner(rate_hz, config).push(samples)
