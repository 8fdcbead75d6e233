"""On-device fall detection from a waist-worn 3-axis accelerometer.

What a fall is, physically, and how each part is measured (all in seconds, g and degrees, so the
same configuration works at 50 Hz and 200 Hz):

* **An impact.** A short burst of acceleration well above 1 g, measured on a 0.1-s moving average
  of the magnitude (a raw spike of a few milliseconds is seen at 200 Hz but averaged away at
  50 Hz). Every local maximum at or above ``candidate_g`` is a candidate.
* **A different, still posture afterwards.** The gravity vector after the impact points elsewhere
  than before it (``min_orientation_change_deg``) and the wearer hardly moves
  (``max_stillness_g``).
* **The trunk was upright before.** A fall takes the body's long axis from near vertical
  (standing, walking, sitting) towards horizontal. Turning over in bed does not: it rotates the
  body *about* its long axis, which stays horizontal throughout (gravity moves from the back to
  the side, through about 90 degrees, exactly like a fall seen without a reference). The trunk
  tilt is the angle between the low-passed gravity vector (0.5-s means) and
  ``upright_reading``, what the accelerometer reads when its wearer stands. If no 0.5-s posture
  of the ``upright_lookback_s`` before the impact came within ``max_upright_tilt_deg`` of
  upright, the wearer was already lying and it is not a fall of the wearer's own (a fall out of
  bed is the home's to tell: the bed reports empty and nothing moves elsewhere).
  On SisFall at 50 Hz: every candidate of turning over in bed (D14) that passes the other gates
  was at least 73 degrees from upright throughout; before the impact of every fall trial the
  trunk came within 48 degrees of upright (``python -m bench.falls`` prints both).
* **The trunk ends at least as tilted as it started** (``min_tilt_gain_deg``): a fall never leaves
  its wearer more upright than before. Sitting up from lying, and straightening up in a chair
  after a quick sit, are turned down by this.

Among the candidates that pass those gates, two patterns make a fall:

* ``IMPACT``: a small linear score over the impact's explainable measurements
  (:class:`ImpactEvidence`: its height, its violence, the posture change), squashed by a
  logistic function into the confidence, at or above ``min_confidence``. The weights and
  threshold are fitted by ``python -m bench.falls`` (ridge logistic regression, the penalty
  chosen by leave-one-subject-out validation).
* ``UPRIGHT_TO_LYING``: a soft fall that the impact score misses (a faint from a chair, a
  controlled fall of an elderly person: impacts of 1.5 to 2 g, as soft as sitting down): the
  trunk went from upright to horizontal (``lying_tilt_deg`` or more) right after a loss of
  support (``min_support_lost_mps``: the speed that the acceleration missing below 1 g adds up
  to over the last second, as in a drop). Lying down on a bed also ends horizontal, but the body
  is supported all the way (0.21 m/s for the one SisFall trial that comes this far, against 0.75
  or more for the soft falls). These thresholds are set by hand, not fitted.

Nothing uses how long the wearer then stays down: in SisFall that is set by the protocol (the
daily activities sit up again within seconds), and lying down to rest and staying there is not a
fall. Measurements stop ``post_end_s`` (2 s) after the impact.

The batch function :func:`detect_falls` runs the streaming detector over the whole array, so the
two cannot diverge. The streaming detector keeps a fixed-size window of recent samples (constant
memory) and reports a fall as soon as the post-impact window has been observed, that is
:attr:`FallDetectorConfig.latency_s` after the impact.

Held out (leave one subject out, the 8 SisFall subjects we hold, 935 trials, 50 Hz, everything
fitted inside the folds): 374 of 375 falls and 559 of 560 daily activities right (details,
ablations and the statistical bounds in ``bench/falls.py``). The defaults below are the same
procedure fitted on all 8 subjects.

Cost: one pass over each pushed chunk; the costlier search runs only when a sample at or above
``candidate_g`` is within reach, and the full measurement only for candidates that can pass the
posture-change and stillness gates (see :class:`ImpactScanner`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_RATE_HZ",
    "MIN_RATE_HZ",
    "FallDetection",
    "FallDetectorConfig",
    "FallPattern",
    "ImpactEvidence",
    "ImpactScanner",
    "ScoreWeights",
    "StreamingFallDetector",
    "classify",
    "confidence_of",
    "detect_falls",
    "magnitudes",
    "passes_gates",
    "scan_impacts",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MIN_RATE_HZ = 10.0
MAX_RATE_HZ = 1000.0
_EPS = 1e-9
_MICRO = 1e6  # micro-g per g, for exact integer moving sums
STANDARD_GRAVITY = 9.80665  # m/s^2 per g


class FallPattern(StrEnum):
    """Why a candidate is a fall (see the module docstring)."""

    IMPACT = "impact"  # the impact score reached the threshold
    UPRIGHT_TO_LYING = "upright_to_lying"  # from upright to horizontal after a loss of support


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the linear score; the confidence is ``1 / (1 + exp(-score))``.

    Each term is a plain feature in its natural unit, so a weight reads as "how much one
    more g (or one more right angle) of this evidence moves the log-odds of a fall".
    The free-fall dip is measured and published, not scored: fitted, its weight came out
    positive (once the impact and the posture change are known, a deeper dip did not make a
    fall likelier), and the held-out figures are the same without it.
    """

    bias: float = -5.817
    impact_g: float = 0.712
    impact_activity_g: float = 3.339
    orientation_change_rt: float = 5.044  # per right angle (90 degrees)


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
    # What the accelerometer reads (a unit vector, in g) while its wearer stands upright: the
    # mounting of the device. SisFall's waist logger (and the simulator) read -1 g on y.
    upright_reading: tuple[float, float, float] = (0.0, -1.0, 0.0)
    # Postures are means over this span (a low-pass gravity estimate).
    posture_step_s: float = 0.5
    # Gate: some posture in [impact - lookback, impact - pre_end] came within this tilt of
    # upright (standing about 0-20 degrees, sitting 20-50, lying 75-115).
    upright_lookback_s: float = 5.0
    max_upright_tilt_deg: float = 60.0
    # Gate: tilt after minus tilt before (the pre and post windows above) is at least this.
    min_tilt_gain_deg: float = 0.0
    # The IMPACT pattern: confidence at or above this.
    min_confidence: float = 0.5
    # The UPRIGHT_TO_LYING pattern: the tilt after at least this (horizontal), and the support
    # lost over the last ``support_window_s`` before the impact at least this.
    lying_tilt_deg: float = 85.0
    support_window_s: float = 1.0
    min_support_lost_mps: float = 0.5
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
    tilt_before_deg: float  # trunk tilt from upright over the pre-impact window
    tilt_after_deg: float  # trunk tilt from upright over the post-impact window
    upright_before_deg: float  # the smallest tilt of the postures in the lookback
    support_lost_mps: float  # g x integral of max(0, 1 g - |a|) over the support window


@dataclass(frozen=True, slots=True)
class FallDetection:
    """A detected fall: when, how sure (the impact score, whatever the pattern), why, and the
    measurements behind it."""

    time_s: float
    confidence: float
    pattern: FallPattern
    evidence: ImpactEvidence


def confidence_of(evidence: ImpactEvidence, weights: ScoreWeights) -> float:
    """Logistic of the linear score: 0.5 is the decision boundary of the default config."""
    score = (
        weights.bias
        + weights.impact_g * evidence.impact_g
        + weights.impact_activity_g * evidence.impact_activity_g
        + weights.orientation_change_rt * evidence.orientation_change_deg / 90.0
    )
    # Clamp to keep exp() finite; beyond +/-40 the confidence is 0 or 1 anyway.
    return 1.0 / (1.0 + math.exp(-min(max(score, -40.0), 40.0)))


def passes_gates(evidence: ImpactEvidence, config: FallDetectorConfig) -> bool:
    """Necessary, not sufficient, for a fall: the posture changed, the wearer is still, the
    trunk was upright shortly before, and it did not end more upright than it started."""
    return (
        evidence.orientation_change_deg >= config.min_orientation_change_deg
        and evidence.stillness_g <= config.max_stillness_g
        and evidence.upright_before_deg <= config.max_upright_tilt_deg
        and evidence.tilt_after_deg - evidence.tilt_before_deg >= config.min_tilt_gain_deg
    )


def pattern_of(evidence: ImpactEvidence, config: FallDetectorConfig) -> FallPattern | None:
    """Which pattern makes this gated candidate a fall, if any (the impact score first)."""
    if confidence_of(evidence, config.weights) >= config.min_confidence:
        return FallPattern.IMPACT
    if evidence.tilt_after_deg >= config.lying_tilt_deg and evidence.support_lost_mps >= config.min_support_lost_mps:
        return FallPattern.UPRIGHT_TO_LYING
    return None


def classify(evidence: ImpactEvidence, config: FallDetectorConfig) -> FallDetection | None:
    """Apply the gates and the patterns to one candidate; None when it is not a fall."""
    if not passes_gates(evidence, config):
        return None
    pattern = pattern_of(evidence, config)
    if pattern is None:
        return None
    return FallDetection(evidence.time_s, confidence_of(evidence, config.weights), pattern, evidence)


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
    posture_step: int
    lookback: int  # whole posture steps before pre_end
    support: int
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
            posture_step=n(config.posture_step_s),
            lookback=max(1, round((config.upright_lookback_s - config.pre_end_s) / config.posture_step_s))
            * n(config.posture_step_s),
            support=n(config.support_window_s),
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
        return (
            max(
                self.pre_start, self.pre_end + self.lookback, self.peak + half, self.free_fall + half, self.activity, self.support
            )
            + 1
        )

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

    Cost per push, cheapest first (the agent pushes blocks of a few seconds); every step
    is a handful of numpy operations over the whole push, whatever its length:

    * every push: the magnitude and loudest sample of the new samples, and a copy into
      the ring buffer;
    * only when a sample at or above ``candidate_g`` lies within reach of the rows that
      have just become measurable: the smoothed magnitude of those rows (exact integer
      moving sums) and a search for its local maxima;
    * only for such maxima: two cheap necessary checks (stillness afterwards, posture
      change), and the full measurement of those that pass both.
    """

    # Longest stretch processed at once; bounds the buffer (and so the memory) whatever
    # chunk size the caller pushes. Longer than the wearable monitor's blocks (14 s, completed
    # by whatever packet crosses them): a block cut in two costs two pushes.
    _BLOCK_S = 15.0
    # Relative margins of the necessary checks: they may let a hopeless candidate through
    # to the exact gate, never reject one that the exact gate would accept.
    _LOUD_MARGIN = 1e-9
    _STILL_MARGIN = 1.01
    _ANGLE_MARGIN_DEG = 1.0

    def __init__(self, rate_hz: float, config: FallDetectorConfig | None = None) -> None:
        self._rate_hz = validate_rate(rate_hz)
        self._config = config if config is not None else FallDetectorConfig()
        self._win = _Windows.at(self._config, self._rate_hz)
        self._past, self._future, self._reach = self._win.past, self._win.future, self._win.reach
        self._block = max(1, round(self._BLOCK_S * self._rate_hz))
        capacity = self._past + self._future + 2 * self._block
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
        self._loud_g = cand * (1.0 - self._LOUD_MARGIN)
        # The smallest window sum (integer micro-g) whose mean reaches candidate_g.
        self._candidate_sum = math.ceil(round(cand * self._win.smooth * _MICRO, 3))
        post = self._win.post_end - self._win.post_start
        still = self._STILL_MARGIN * self._config.max_stillness_g + 1e-6
        self._max_post_var = still * still
        self._post_n = post
        win = self._win
        self._post_offsets = np.arange(win.post_start, win.post_end)
        self._pre_offsets = np.arange(-win.pre_start, -win.pre_end)
        self._offsets_1_to_peak = np.arange(1, win.peak + 1)
        self._min_cosine = math.cos(math.radians(max(0.0, self._config.min_orientation_change_deg - self._ANGLE_MARGIN_DEG)))
        self._upright = _unit(np.array(self._config.upright_reading, dtype=np.float64))

    def push(self, samples: npt.ArrayLike, magnitude: FloatArray | None = None) -> list[ImpactEvidence]:
        """Add samples (shape (n, 3), in g); return the candidates completed by them.

        ``magnitude`` may pass ``magnitudes(samples)`` when the caller has computed it already.
        """
        array = np.asarray(samples, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 3:
            raise ValueError(f"samples must have shape (n, 3) in g, got shape {array.shape}")
        if magnitude is None:
            magnitude = magnitudes(array)
        elif magnitude.shape != (len(array),):
            raise ValueError(f"magnitude must have shape ({len(array)},), got {magnitude.shape}")
        if not float(_max(magnitude, initial=0.0)) < math.inf:
            raise ValueError("samples contain NaN or infinite values (or values too large to square)")
        found: list[ImpactEvidence] = []
        for begin in range(0, len(array), self._block):
            found.extend(self._push_block(array[begin : begin + self._block], magnitude[begin : begin + self._block]))
        return found

    def _push_block(self, chunk: FloatArray, magnitude: FloatArray) -> list[ImpactEvidence]:
        self._append(chunk, magnitude)
        if _max(magnitude) >= self._loud_g:
            loud = (magnitude >= self._loud_g).nonzero()[0]
            offset = self._end - len(chunk)
            self._loud.append((offset + int(loud[0]), offset + int(loud[-1])))
        return self._examine()

    def _append(self, chunk: FloatArray, magnitude: FloatArray) -> None:
        if not self._started:
            # Before the first sample the wearer is assumed to hold the first posture; this
            # lets the first seconds be examined the same way by batch and stream.
            self._started = True
            past = self._past
            self._start, self._end = -past, 0
            self._acc[:past] = chunk[0]
            self._mag[:past] = magnitude[0]
            if magnitude[0] >= self._loud_g:
                self._loud.append((-past, -1))
        used = self._end - self._start
        if used + len(chunk) > len(self._acc):
            keep = self._past + self._future
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
        rows = self._may_pass(self._candidate_rows(first - self._start, stop - self._start))
        return [self._measure(row) for row in rows.tolist()]

    def _loud_within(self, lo: int, hi: int) -> bool:
        """Whether a push's loud span meets the absolute range [lo, hi]; forgets older spans."""
        spans = self._loud
        drop = 0
        while drop < len(spans) and spans[drop][1] < lo:
            drop += 1
        if drop:
            del spans[:drop]
        return bool(spans) and spans[0][0] <= hi

    def _window_sums(self, lo: int, hi: int) -> IntArray:
        """Sums of the magnitude over the smoothing window centred on buffer rows [lo, hi), in
        integer micro-g.

        Integer sums are exact: a value never depends on which stretch it was computed with,
        so chunking cannot change a decision.
        """
        half, width = self._win.smooth // 2, self._win.smooth
        cumulative = np.rint(self._mag[lo - half - 1 : hi + half] * _MICRO).astype(np.int64).cumsum()
        sums: IntArray = cumulative[width:] - cumulative[:-width]
        return sums

    def _smoothed(self, lo: int, hi: int) -> FloatArray:
        """Centred moving average of the magnitude for buffer rows [lo, hi), in g."""
        means: FloatArray = self._window_sums(lo, hi) / (self._win.smooth * _MICRO)
        return means

    def _candidate_rows(self, lo: int, hi: int) -> IntArray:
        """Rows in [lo, hi) where the smoothed magnitude reaches ``candidate_g`` and has its
        first maximum within +/- the peak window: strictly above every earlier value, at least
        every later one (compared as window sums, which order the rows as the means do)."""
        peak = self._win.peak
        sums = self._window_sums(lo - peak, hi + peak)  # row lo + i is at sums[i + peak]
        rows = (sums[peak : peak + hi - lo] >= self._candidate_sum).nonzero()[0] + peak
        if rows.size:
            centre = sums[rows]
            earlier = sums[rows[:, None] - self._offsets_1_to_peak].max(axis=1)
            later = sums[rows[:, None] + self._offsets_1_to_peak].max(axis=1)
            rows = rows[(earlier < centre) & (centre >= later)]
        found: IntArray = rows + (lo - peak)
        return found

    def _may_pass(self, rows: IntArray) -> IntArray:
        """The rows that meet necessary conditions of the gates, checked cheaply (with margins)
        before measuring: stillness after, then a posture change.

        Most candidates of walking and jogging fail the stillness check, many of sitting
        down the posture check; the exact gates are applied later, in :func:`classify`.
        """
        if rows.size:
            after = self._mag[rows[:, None] + self._post_offsets]
            mean = after.sum(axis=1) / self._post_n
            rows = rows[(after * after).sum(axis=1) / self._post_n - mean * mean <= self._max_post_var]
        if rows.size:
            before = self._acc[rows[:, None] + self._pre_offsets].sum(axis=1)
            later = self._acc[rows[:, None] + self._post_offsets].sum(axis=1)
            norms = np.sqrt((before * before).sum(axis=1) * (later * later).sum(axis=1))
            rows = rows[(norms < _EPS) | ((before * later).sum(axis=1) <= self._min_cosine * norms)]
        return rows

    def _measure(self, row: int) -> ImpactEvidence:
        """Measure the evidence around the candidate at buffer row ``row``."""
        win, mag = self._win, self._mag
        before = self._acc[row - win.pre_start : row - win.pre_end].mean(axis=0)
        after_rows = slice(row + win.post_start, row + win.post_end)
        after = self._acc[after_rows].mean(axis=0)
        half = win.smooth // 2
        # Postures of the lookback, one mean per step, ending where the pre window ends.
        lookback = self._acc[row - win.pre_end - win.lookback : row - win.pre_end]
        postures = lookback.reshape(-1, win.posture_step, 3).mean(axis=1)
        missing = np.clip(1.0 - mag[row - win.support : row], 0.0, None)
        return ImpactEvidence(
            time_s=(row + self._start) / self._rate_hz,
            peak_g=float(mag[row - half : row + half + 1].max()),
            impact_g=float(self._smoothed(row, row + 1)[0]),
            impact_activity_g=float(np.abs(mag[row - win.activity : row + win.activity] - 1.0).mean()),
            free_fall_g=float(self._smoothed(row - win.free_fall, row).min()),
            orientation_change_deg=_angle_deg(before, after),
            stillness_g=float(mag[after_rows].std()),
            tilt_before_deg=_angle_deg(before, self._upright),
            tilt_after_deg=_angle_deg(after, self._upright),
            upright_before_deg=min(_angle_deg(posture, self._upright) for posture in postures),
            support_lost_mps=STANDARD_GRAVITY * float(missing.sum()) / self._rate_hz,
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

    def push(self, samples: npt.ArrayLike, magnitude: FloatArray | None = None) -> list[FallDetection]:
        """Add samples (shape (n, 3), in g) and return the falls completed by them.

        ``magnitude`` may pass ``magnitudes(samples)`` when the caller has computed it already.
        """
        found: list[FallDetection] = []
        for evidence in self._scanner.push(samples, magnitude):
            if evidence.time_s < self._quiet_until_s:
                continue  # a bounce or the struggle after a fall already reported
            detection = classify(evidence, self._config)
            if detection is not None:
                found.append(detection)
                self._quiet_until_s = evidence.time_s + self._config.refractory_s
        return found


_max = np.maximum.reduce  # skips the Python wrapper of ndarray.max: it runs on every push


def magnitudes(samples: FloatArray) -> FloatArray:
    """Euclidean norm per row, element-wise (x^2 + y^2 + z^2 in that order, then the square
    root) so that a sample's value cannot depend on the chunk it arrived in."""
    squares = samples * samples
    total: FloatArray = squares[:, 0] + squares[:, 1]
    total += squares[:, 2]
    return np.sqrt(total, out=total)


def _unit(vector: FloatArray) -> FloatArray:
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm < _EPS:
        raise ValueError(f"upright_reading must be a finite non-zero vector, got {vector.tolist()}")
    unit: FloatArray = vector / norm
    return unit


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
