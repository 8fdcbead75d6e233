"""Fall detector benchmark on SisFall, with leave-one-subject-out tuning.

    python -m bench.falls --dataset ../shared/datasets/sisfall

For every subject in turn, everything that is fitted is fitted on the *other* subjects
only, and the detector is then run on the held-out subject's recordings; the figures
printed are those held-out results, at 200 Hz and after downsampling to 50 Hz (mean of
blocks of 4). Fitted inside each fold, in this order:

* the ridge penalty, from a small grid, by an inner leave-one-subject-out run over the
  training subjects (the gain below; ties go to the firmer penalty);
* the score weights: ridge logistic regression on the candidates that pass the
  detector's gates (the fall of a fall trial is its most violent gated candidate);
* the decision threshold that maximises detected falls - 4 x false alarms, placed
  halfway to the next score. The 4 is not tuned: it is the ratio of the issue's allowed
  miss rate (2 %) to its allowed false-alarm rate (0.5 %). (With the earlier hand-picked
  cost of 5, one fold keeps a firmer penalty and the 50 Hz false alarm on D10_SA02
  disappears; we keep the cost derived from the targets rather than the one that looks
  better held out. The figures are that sensitive to such choices.)

The same procedure on all subjects gives the defaults that ``edge/falls.py`` ships with
(printed at the end and compared with the current defaults).

Fixed by hand, while looking at these same held-out figures (so the figures are
optimistic about them): the four features, the windows, the gates, the candidate
threshold and the penalty grid. Tried and dropped because they did not help held out
(they added false alarms or lost a young subject's fall, and never recovered a miss):
a vertical velocity from the integrated magnitude before the impact, the magnitude's
spread before the impact, and the posture change over the last second before it. The two
falls missed (soft falls, about 1.5 g, by the only elderly subject who fell) lie among the
daily activities on all of these, so they are reported as missed rather than tuned for.

Tried later against those two misses, and dropped (held-out figures at 200 / 50 Hz; the
current ones are 73/75 with 111/111 and 110/111):

* the posture change against *any* 0.5-s posture held in the 5 s before the impact (no
  upright axis assumed), instead of the orientation change or next to it: a false alarm
  on D14_SA02 (rolling over while lying) at both rates, next to it F14_SE06 lost as well,
  no miss recovered;
* the trunk tilt gained from the most upright posture of those 5 s (the y axis taken as
  upright): 71/75 at both rates, it loses F12_SE06 and F14_SE06 too (falls from sitting
  start already tilted), no miss recovered;
* the trunk tilt after the impact (how close to lying), as a score feature: false alarms
  on D12_SE08 (lying down slowly) and D14_SE08, no miss recovered;
* stillness and posture measured over a longer post-impact window (3, 4, 5 or 6 s
  instead of 2 s): 71/75 down to 64/75; it loses falls near the end of the 15-s
  recordings and recovers none;
* a lower candidate threshold: moot, both misses are already candidates (1.64 and 1.53 g
  smoothed) and pass the gates; the score turns them down (confidence 0.16 and 0.13 in
  their fold, at either rate);
* a posture-outcome path that needs no impact: trunk more than 60 deg from upright, every
  0.5-s magnitude spread below 0.1 g, entered within 5 s of a posture within 45 deg of
  upright, kept for H seconds. On this subset it catches both misses with no false alarm
  for 6 <= H <= 8 s, but only because the daily activities that lie down (D12, D13) sit
  up again after at most 5.5 s (D12_SA01), as the protocol tells them to, while F13_SE06
  is still lying at the end, 8.5 s later. Lying down to rest and staying there would
  raise an alarm every time, and no trial here measures that. Requiring an impact
  candidate as well does not save it: D12_SE08 (an elderly woman lying down slowly)
  already reaches 1.65 g smoothed. Not shipped.

Checked on the candidates only (not run held out), since nothing separated: the shape of
the impact (raw peak, largest sample-to-sample change, time above 1.2 g, dynamic
acceleration along and across the final gravity). The two misses are the lowest falls
on each, inside the daily activities' range (e.g. raw peak 1.65 and 1.89 g at 50 Hz
against up to 2.56 g for D08_SE08).

An upright reference learned from the wearer's own walking, instead of the y axis, was
tried held out as well, the reference computed beforehand from unlabelled recordings:
per subject, the mean gravity direction of the 2-s windows of all their recordings that
look like gait (magnitude spread 0.1 to 0.4 g, periodic at 0.35 to 1.2 s), as a device
would learn it over days (SE01 36 deg off the y axis, SE06 21 deg, SE02 20 deg, SA17
15 deg, the others under 8 deg). With it, the tilt after the impact gives false alarms on
D12_SE08 and D14_SE08 (and D10_SE08 at 50 Hz); the tilt gained from the most upright
posture, in place of the orientation change, gives the current figures (73/75; 111/111
and 110/111, with D10_SE08 in place of D10_SA02). No miss recovered: relative to SE06's
own upright, the two misses end *less* tilted (84 and 83 deg) than D12_SE08 lying down
(103 deg). The section
"Missed falls against the daily activities that came closest" prints, for every run,
the misses next to the closest daily activities with these tilt measurements: the
misses differ from the lying-down trials only by how long the lying lasts.

With 8 subjects and 111 daily activities the figures are a floor check, not a
guarantee: zero false alarms in 111 trials still allows a false-alarm rate of about
2.7 % (95 % bound), far from the 0.5 % target.

The benchmark also streams every recording in random chunks and checks that the
detections equal the batch run's, and measures CPU per 24 h of signal for 1-s, 2-s and 10-s
chunks (``--skip-cpu`` to skip).

Data: SisFall (Sucerquia, Lopez, Vargas-Bonilla, Sensors 17(1):198, 2017). The ADXL345
columns are used (+/-16 g, 13 bit, so g = counts / 256): it clips far less than the
+/-8 g MMA8451Q on hard impacts. The data set is never copied into the repository.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.falls import (
    FallDetectorConfig,
    ImpactEvidence,
    ScoreWeights,
    StreamingFallDetector,
    classify,
    confidence_of,
    detect_falls,
    passes_gates,
    scan_impacts,
)
from edge.wearable import MIN_BLOCK_S, WearableMonitor

FloatArray = npt.NDArray[np.float64]

SOURCE_RATE_HZ = 200.0
RATES = ((200.0, 1), (50.0, 4))  # (rate, decimation factor from 200 Hz)
ADXL345_COUNTS_PER_G = 256.0
_NAME = re.compile(r"^(?P<activity>[DF]\d\d)_(?P<subject>S[AE]\d\d)_R\d\d\.txt$")
# The issue's targets allow 2 % of falls to be missed and 0.5 % of daily activities to raise
# an alarm, so a false alarm weighs as much as (1 - 0.98) / (1 - 0.995) = 4 missed falls.
_FP_COST = (1 - 0.98) / (1 - 0.995)
# Ridge penalties on standardised features tried inside each training fold; the one with
# the best inner leave-one-subject-out result is used (ties go to the firmer penalty).
_L2_GRID = (10.0, 3.0, 1.0, 0.3)
_STREAM_SEED = 20170101


@dataclass(frozen=True, slots=True)
class Trial:
    activity: str
    subject: str
    samples: FloatArray  # (n, 3) in g at 200 Hz

    @property
    def is_fall(self) -> bool:
        return self.activity.startswith("F")

    @property
    def group(self) -> str:
        return "young (SA)" if self.subject.startswith("SA") else "elderly (SE)"


# ---------------------------------------------------------------- data


def load_trial(path: Path) -> FloatArray:
    """Parse one SisFall file into (n, 3) ADXL345 accelerations in g."""
    text = path.read_text().replace(";", ",")
    values = np.array([v for v in text.split(",") if v.strip()], dtype=np.float64)
    rows = values[: len(values) // 9 * 9].reshape(-1, 9)
    return rows[:, 0:3] / ADXL345_COUNTS_PER_G


def load_dataset(root: Path) -> list[Trial]:
    trials = []
    for path in sorted(root.glob("S[AE][0-9][0-9]/*.txt")):
        match = _NAME.match(path.name)
        if match is not None:
            trials.append(Trial(match["activity"], match["subject"], load_trial(path)))
    return trials


def downsample(samples: FloatArray, factor: int) -> FloatArray:
    """Average consecutive blocks of ``factor`` samples (a boxcar anti-alias + decimate)."""
    if factor == 1:
        return samples
    usable = len(samples) // factor * factor
    averaged: FloatArray = samples[:usable].reshape(-1, factor, 3).mean(axis=1)
    return averaged


# ---------------------------------------------------------------- fitting


def feature_row(evidence: ImpactEvidence) -> list[float]:
    return [
        evidence.impact_g,
        evidence.impact_activity_g,
        evidence.orientation_change_deg / 90.0,
        evidence.free_fall_g,
    ]


def gated(evidence: Iterable[ImpactEvidence], config: FallDetectorConfig) -> list[ImpactEvidence]:
    """Candidates that pass the detector's hard gates; only these are scored."""
    return [e for e in evidence if passes_gates(e, config)]


def fit_logistic(x: FloatArray, y: FloatArray, l2: float) -> FloatArray:
    """Ridge logistic regression by Newton steps; returns [bias, weights...]."""
    design = np.hstack([np.ones((len(x), 1)), x])
    theta = np.zeros(design.shape[1])
    penalty = np.diag([0.0] + [l2] * x.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ theta))
        gradient = design.T @ (p - y) + penalty @ theta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta


def choose_offset(fall_scores: FloatArray, adl_scores: FloatArray) -> float:
    """Decision threshold on the score: best TP - cost * FP, centred in its gap."""
    candidates = np.unique(np.concatenate([fall_scores, adl_scores, [np.inf]]))
    best, best_gain = float(candidates[-1]), -np.inf
    for threshold in candidates:
        gain = (fall_scores >= threshold).sum() - _FP_COST * (adl_scores >= threshold).sum()
        if gain > best_gain:
            best, best_gain = float(threshold), float(gain)
    below = np.concatenate([fall_scores, adl_scores])
    below = below[below < best]
    # Halfway to the next lower score gives margin to both sides.
    return (best + float(below.max())) / 2 if below.size and np.isfinite(best) else best


Labelled = tuple[Trial, list[ImpactEvidence]]


def fit_config(train: Sequence[Labelled], base: FallDetectorConfig, l2: float) -> FallDetectorConfig:
    """Fit the score on the training trials' gated candidates."""
    rows: list[list[float]] = []
    labels: list[float] = []
    for trial, evidence in train:
        passing = gated(evidence, base)
        if trial.is_fall and passing:
            # The fall is the gated candidate with the most violent impact; other
            # candidates of a fall trial (bounces, the jog before) are left out.
            impact = max(passing, key=lambda e: e.impact_activity_g)
            rows.append(feature_row(impact))
            labels.append(1.0)
        elif not trial.is_fall:
            rows.extend(feature_row(e) for e in passing)
            labels.extend(0.0 for _ in passing)
    x, y = np.array(rows), np.array(labels)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    theta = fit_logistic((x - mean) / scale, y, l2)
    weights = theta[1:] / scale
    bias = theta[0] - float(weights @ mean)
    trial_scores = _trial_scores(train, base, bias, weights)
    falls = np.array([s for (t, _), s in zip(train, trial_scores, strict=True) if t.is_fall])
    adls = np.array([s for (t, _), s in zip(train, trial_scores, strict=True) if not t.is_fall])
    bias -= choose_offset(falls, adls)
    w_impact, w_activity, w_orientation, w_free_fall = map(float, weights)
    return replace(
        base,
        weights=ScoreWeights(
            bias=float(bias),
            impact_g=w_impact,
            impact_activity_g=w_activity,
            orientation_change_rt=w_orientation,
            free_fall_g=w_free_fall,
        ),
    )


def choose_l2(train: Sequence[Labelled], base: FallDetectorConfig) -> float:
    """The ridge penalty with the best inner leave-one-subject-out gain on ``train``.

    The gain is the one the threshold is placed with: falls detected minus the cost of
    each daily activity with an alarm.
    """
    subjects = sorted({trial.subject for trial, _ in train})
    best, best_gain = _L2_GRID[0], -np.inf
    for l2 in _L2_GRID:
        gain = 0.0
        for subject in subjects:
            config = fit_config([s for s in train if s[0].subject != subject], base, l2)
            for trial, evidence in train:
                if trial.subject == subject:
                    alarm = any(classify(e, config) is not None for e in evidence)
                    gain += float(alarm) if trial.is_fall else -_FP_COST * alarm
        if gain > best_gain:
            best, best_gain = l2, gain
    return best


def _trial_scores(
    trials: Sequence[Labelled],
    base: FallDetectorConfig,
    bias: float,
    weights: FloatArray,
) -> list[float]:
    scores = []
    for _, evidence in trials:
        passing = gated(evidence, base)
        values = [bias + float(weights @ np.array(feature_row(e))) for e in passing]
        scores.append(max(values, default=-np.inf))
    return scores


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Outcome:
    trial: Trial
    detected: bool
    # First detection minus the time of the trial's largest magnitude (the impact in
    # most falls; SisFall does not annotate it).
    offset_s: float | None = None


@dataclass(frozen=True, slots=True)
class Scanned:
    """Every trial at every rate, downsampled and scanned once."""

    trials: Sequence[Trial]
    signals: dict[float, list[FloatArray]]
    evidence: dict[float, list[list[ImpactEvidence]]]

    @classmethod
    def of(cls, trials: Sequence[Trial], base: FallDetectorConfig) -> Scanned:
        signals = {rate: [downsample(t.samples, f) for t in trials] for rate, f in RATES}
        evidence = {rate: [scan_impacts(s, rate, base) for s in signals[rate]] for rate, _ in RATES}
        return cls(trials, signals, evidence)

    def training(self, subject: str) -> list[Labelled]:
        """Both rates of every trial of the other subjects."""
        return [(t, self.evidence[rate][i]) for rate, _ in RATES for i, t in enumerate(self.trials) if t.subject != subject]

    @property
    def subjects(self) -> list[str]:
        return sorted({t.subject for t in self.trials})


@dataclass(frozen=True, slots=True)
class Folds:
    """Held-out outcomes per rate (the detector itself run on the held-out recordings), and
    per held-out subject the ridge penalty chosen and the configuration fitted without it."""

    outcomes: dict[float, list[Outcome]]
    chosen: dict[str, float]
    configs: dict[str, FallDetectorConfig]


def leave_one_subject_out(scanned: Scanned, base: FallDetectorConfig) -> Folds:
    """Everything fitted (penalty, weights, threshold) is fitted on both rates of the
    other subjects only."""
    outcomes: dict[float, list[Outcome]] = defaultdict(list)
    chosen: dict[str, float] = {}
    configs: dict[str, FallDetectorConfig] = {}
    for subject in scanned.subjects:
        train = scanned.training(subject)
        chosen[subject] = choose_l2(train, base)
        config = configs[subject] = fit_config(train, base, chosen[subject])
        for rate, _ in RATES:
            for t, signal in zip(scanned.trials, scanned.signals[rate], strict=True):
                if t.subject == subject:
                    found = detect_falls(signal, rate, config)
                    offset = found[0].time_s - _loudest_s(signal, rate) if found else None
                    outcomes[rate].append(Outcome(t, bool(found), offset))
    return Folds(dict(outcomes), chosen, configs)


def fixed_penalty_errors(scanned: Scanned, base: FallDetectorConfig, l2: float) -> dict[float, tuple[int, int]]:
    """(missed falls, false alarms) per rate, held out, with the penalty fixed at ``l2``."""
    errors = {rate: [0, 0] for rate, _ in RATES}
    for subject in scanned.subjects:
        config = fit_config(scanned.training(subject), base, l2)
        for rate, _ in RATES:
            for t, evidence in zip(scanned.trials, scanned.evidence[rate], strict=True):
                if t.subject == subject:
                    alarm = any(classify(e, config) is not None for e in evidence)
                    errors[rate][0 if t.is_fall else 1] += alarm != t.is_fall
    return {rate: (missed, alarms) for rate, (missed, alarms) in errors.items()}


def final_config(scanned: Scanned, base: FallDetectorConfig) -> tuple[FallDetectorConfig, float]:
    """The defaults to ship: the same procedure (penalty, then score) on every subject."""
    train = scanned.training("")  # no subject is held out
    l2 = choose_l2(train, base)
    return fit_config(train, base, l2), l2


def streaming_mismatches(trials: Sequence[Trial], config: FallDetectorConfig) -> tuple[int, int]:
    """Stream every recording in random chunks (1 sample to 3 s); count those whose
    detections differ from the batch run. Returns (mismatches, recordings)."""
    rng = np.random.default_rng(_STREAM_SEED)
    mismatches = recordings = 0
    for rate, factor in RATES:
        for trial in trials:
            signal = downsample(trial.samples, factor)
            detector = StreamingFallDetector(rate, config)
            streamed, start = [], 0
            while start < len(signal):
                size = int(rng.integers(1, round(3 * rate) + 1))
                streamed += detector.push(signal[start : start + size])
                start += size
            mismatches += streamed != detect_falls(signal, rate, config)
            recordings += 1
    return mismatches, recordings


def _loudest_s(signal: FloatArray, rate: float) -> float:
    return float(np.argmax(np.linalg.norm(signal, axis=1))) / rate


def cpu_per_day(daily: FloatArray, rate: float, chunk_s: float) -> float:
    """CPU seconds to stream 24 h of ``daily`` (repeated as needed) in chunks through the detector,
    net of the harness (cutting the chunks, measured alone)."""
    detector = StreamingFallDetector(rate)
    return _net_cpu(daily, rate, chunk_s, detector.push)


def cpu_per_day_agent(daily: FloatArray, rate: float, packet_s: float) -> float:
    """The same for the agent's path: packets of ``packet_s`` through WearableMonitor (which checks
    each packet, hands the detector blocks of at least MIN_BLOCK_S and computes the activity reading)."""
    monitor = WearableMonitor(rate, activity_interval_s=60.0)
    return _net_cpu(daily, rate, packet_s, lambda piece: monitor.push(piece, detect=True))


def _net_cpu(daily: FloatArray, rate: float, chunk_s: float, push: Callable[[FloatArray], object]) -> float:
    chunk, total = max(1, round(chunk_s * rate)), round(24 * 3600 * rate)
    started = time.process_time()
    for piece in _chunks(daily, chunk, total):
        push(piece)
    spent = time.process_time() - started
    started = time.process_time()
    for _ in _chunks(daily, chunk, total):
        pass
    return spent - (time.process_time() - started)


def _chunks(signal: FloatArray, chunk: int, total: int) -> Iterator[FloatArray]:
    """``total`` samples of ``signal`` repeated, cut into chunks of ``chunk`` samples."""
    tiled = np.concatenate([signal, signal[:chunk]])
    position = 0
    for start in range(0, total, chunk):
        yield tiled[position : position + min(chunk, total - start)]
        position = (position + chunk) % len(signal)


def baseline_detects(samples: FloatArray, rate: float) -> bool:
    """The dataset README's threshold baseline: peak > 2.5 g, still 1-3 s later, tilt > 45 deg."""
    magnitude = np.linalg.norm(samples, axis=1)
    for peak in np.flatnonzero(magnitude > 2.5):
        after = slice(peak + round(1 * rate), peak + round(3 * rate))
        before = samples[max(0, peak - round(1 * rate)) : peak].mean(axis=0) if peak else samples[0]
        if magnitude[after].size < round(2 * rate) or magnitude[after].std() >= 0.1:
            continue
        late = samples[after].mean(axis=0)
        cosine = before @ late / (np.linalg.norm(before) * np.linalg.norm(late) + 1e-12)
        if np.degrees(np.arccos(np.clip(cosine, -1, 1))) > 45:
            return True
    return False


# ---------------------------------------------------------------- report


def rates_of(outcomes: Sequence[Outcome]) -> tuple[str, str]:
    falls = [o.detected for o in outcomes if o.trial.is_fall]
    adls = [not o.detected for o in outcomes if not o.trial.is_fall]
    return _ratio(falls), _ratio(adls)


def _ratio(flags: Sequence[bool]) -> str:
    if not flags:
        return "      -      "
    return f"{sum(flags):3d}/{len(flags):3d} {100 * sum(flags) / len(flags):5.1f}%"


def print_summary(outcomes: dict[float, list[Outcome]], baseline: dict[float, list[Outcome]]) -> None:
    print("\nHeld-out (leave-one-subject-out) results, penalty, weights and threshold fitted inside each")
    print("fold; sensitivity = falls detected, specificity = ADL trials without any detection.\n")
    print(f"{'rate':>6}  {'set':<14} {'sensitivity':>14}  {'specificity':>14}")
    for rate, results in outcomes.items():
        for label, subset in (("all", results), *_groups(results)):
            sens, spec = rates_of(subset)
            print(f"{rate:4.0f}Hz  {label:<14} {sens:>14}  {spec:>14}")
        sens, spec = rates_of(baseline[rate])
        print(f"{rate:4.0f}Hz  {'README baseline':<14} {sens:>14}  {spec:>14}")


def _groups(results: Sequence[Outcome]) -> list[tuple[str, list[Outcome]]]:
    by_group: dict[str, list[Outcome]] = defaultdict(list)
    for o in results:
        by_group[o.trial.group].append(o)
    return sorted(by_group.items(), reverse=True)


def print_errors(outcomes: dict[float, list[Outcome]]) -> None:
    for rate, results in outcomes.items():
        missed = [f"{o.trial.activity}_{o.trial.subject}" for o in results if o.trial.is_fall and not o.detected]
        alarms = [f"{o.trial.activity}_{o.trial.subject}" for o in results if not o.trial.is_fall and o.detected]
        print(f"  {rate:4.0f} Hz missed falls: {', '.join(missed) or 'none'}; false alarms: {', '.join(alarms) or 'none'}")


def print_penalties(scanned: Scanned, base: FallDetectorConfig, chosen: dict[str, float]) -> None:
    print("\nRidge penalty chosen inside each fold (inner leave-one-subject-out on the training subjects):")
    print("  " + "  ".join(f"{subject} {l2:g}" for subject, l2 in chosen.items()))
    print("For comparison only (not a choice: picking the best row would tune on the held-out")
    print("subjects), held-out missed falls / false alarms with the penalty fixed in every fold:")
    for l2 in _L2_GRID:
        errors = fixed_penalty_errors(scanned, base, l2)
        cells = "   ".join(f"{rate:4.0f} Hz {missed} / {alarms}" for rate, (missed, alarms) in errors.items())
        print(f"  penalty {l2:4g}: {cells}")


def print_per_activity(outcomes: dict[float, list[Outcome]]) -> None:
    print("\nPer activity (held out): detected / trials; for D codes any detection is a false alarm.\n")
    header = "  ".join(f"{rate:4.0f}Hz" for rate in outcomes)
    print(f"{'code':<5} {header}")
    codes = sorted({o.trial.activity for o in next(iter(outcomes.values()))})
    for code in codes:
        cells = []
        for results in outcomes.values():
            subset = [o.detected for o in results if o.trial.activity == code]
            cells.append(f"{sum(subset):2d}/{len(subset):<2d}")
        print(f"{code:<5} {'  '.join(f'{c:>6}' for c in cells)}")


def print_offsets(outcomes: dict[float, list[Outcome]]) -> None:
    print("\nDetected falls: first detection minus the trial's largest magnitude sample")
    for rate, results in outcomes.items():
        offsets = np.array([o.offset_s for o in results if o.trial.is_fall and o.offset_s is not None])
        near = np.abs(offsets) <= 0.5
        print(
            f"  {rate:4.0f} Hz: within 0.5 s in {near.sum()}/{len(offsets)}, "
            f"median {np.median(offsets):+.2f} s, largest {offsets[np.argmax(np.abs(offsets))]:+.2f} s"
        )


@dataclass(frozen=True, slots=True)
class PostureOutcome:
    """Trunk tilt around a candidate, for the report only (the detector does not use it).

    The tilt is the angle to the y axis, which is vertical when a SisFall wearer stands.
    """

    tilt_before_deg: float  # most upright 0.5-s posture over [impact - 5 s, impact - 1 s]
    tilt_after_deg: float  # the detector's post-impact posture, [impact + 0.8 s, impact + 2 s]
    kept_s: float  # how long, from impact + 0.8 s, every 0.5-s posture stays within 25 deg of it
    censored: bool  # the recording ended while the posture was still kept


_UPRIGHT = np.array([0.0, -1.0, 0.0])
_STEP_S, _LOOKBACK_S, _SAME_POSTURE_DEG, _LYING_DEG = 0.5, 5.0, 25.0, 60.0


def posture_outcome(signal: FloatArray, rate: float, evidence: ImpactEvidence, config: FallDetectorConfig) -> PostureOutcome:
    step = round(_STEP_S * rate)
    impact = round(evidence.time_s * rate)
    post_start, post_end = impact + round(config.post_start_s * rate), impact + round(config.post_end_s * rate)
    after = signal[post_start:post_end].mean(axis=0)
    first, last = max(0, impact - round(_LOOKBACK_S * rate)), max(1, impact - round(config.pre_end_s * rate))
    held = [signal[i : i + step].mean(axis=0) for i in range(first, max(first + 1, last - step + 1), step)]
    kept, start = 0.0, post_start
    while start + step <= len(signal) and _angle(signal[start : start + step].mean(axis=0), after) <= _SAME_POSTURE_DEG:
        kept, start = kept + _STEP_S, start + step
    return PostureOutcome(
        tilt_before_deg=min(_angle(h, _UPRIGHT) for h in held),
        tilt_after_deg=_angle(after, _UPRIGHT),
        kept_s=kept,
        censored=start + step > len(signal),
    )


def _angle(u: FloatArray, v: FloatArray) -> float:
    cosine = float(u @ v) / (float(np.linalg.norm(u) * np.linalg.norm(v)) + 1e-12)
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def print_closest(scanned: Scanned, folds: Folds, adls_shown: int = 5) -> None:
    """Each missed fall's best candidate next to the daily activities that came closest.

    Every row is scored by its own subject's fold (the configuration fitted without that
    subject), so a confidence of 0.5 is that fold's threshold.
    """
    print("\nMissed falls against the daily activities that came closest (held out, gated candidates,")
    print("each scored by its own fold; 0.5 is the fold's threshold). Tilt = angle of the trunk to the y")
    print("axis (vertical when standing): most upright posture in the 5 s before, posture after; kept =")
    print("seconds that posture is then held (+ : until the recording ends). Report only, not a feature.\n")
    header = f"{'trial':<9} {'Hz':>4} {'t s':>5} {'impact':>6} {'activ':>5} {'ffall':>5} {'orient':>6}"
    print(f"  {header} {'tilt bef':>8} {'aft':>5} {'kept':>5} {'conf':>5}")
    for rate, results in folds.outcomes.items():
        rows: list[tuple[float, bool, float, str]] = []  # confidence, fall, tilt after, line
        for trial, signal, evidence in zip(scanned.trials, scanned.signals[rate], scanned.evidence[rate], strict=True):
            config = folds.configs[trial.subject]
            scored = [(confidence_of(e, config.weights), e) for e in gated(evidence, config)]
            name = f"{trial.activity}_{trial.subject}"
            if not scored:
                rows.append((-1.0, trial.is_fall, 0.0, f"{name:<9} {rate:4.0f}  no candidate passes the gates"))
                continue
            confidence, best = max(scored, key=lambda pair: pair[0])
            posture = posture_outcome(signal, rate, best, config)
            kept = f"{posture.kept_s:4.1f}{'+' if posture.censored else ' '}"
            rows.append(
                (
                    confidence,
                    trial.is_fall,
                    posture.tilt_after_deg,
                    f"{name:<9} {rate:4.0f} {best.time_s:5.2f} {best.impact_g:6.2f} {best.impact_activity_g:5.3f} "
                    f"{best.free_fall_g:5.2f} {best.orientation_change_deg:6.1f} {posture.tilt_before_deg:8.1f} "
                    f"{posture.tilt_after_deg:5.1f} {kept:>5} {confidence:5.3f}",
                )
            )
        missed = {f"{o.trial.activity}_{o.trial.subject}" for o in results if o.trial.is_fall and not o.detected}
        adls = sorted((row for row in rows if not row[1]), key=lambda row: -row[0])
        # The closest by score, then every other one that ended lying (tilt after >= 60 deg).
        shown = [row for row in rows if row[1] and row[3][:8] in missed] + adls[:adls_shown]
        shown += [row for row in adls[adls_shown:] if row[2] >= _LYING_DEG]
        for _, is_fall, _, line in shown:
            print(f"{'F' if is_fall else 'D'} {line}")


def print_cpu(trials: Sequence[Trial]) -> None:
    """CPU per 24 h for a pessimistic day (nothing but the ADL recordings) and a quiet one."""
    print("\nCPU seconds (time.process_time) per 24 h of signal, streamed in chunks:")
    print("  busy  = the 111 ADL recordings back to back, repeated (walking, jogging, stairs...)")
    print("  quiet = 24 h lying still (the fixed cost of each push)")
    print("  net of the benchmark's own loop (cutting the chunks, timed alone)")
    print(
        f"  agent path = 0.25-s packets (the replay driver's) through edge.wearable.WearableMonitor, which"
        f" gives the detector blocks of {MIN_BLOCK_S:g} s and computes the activity reading"
    )
    print("  target: at most 1 s per 24 h at 50 Hz")
    still = np.tile([0.0, 0.0, 1.0], (round(600 * SOURCE_RATE_HZ), 1))
    for rate, factor in RATES:
        busy = np.concatenate([downsample(t.samples, factor) for t in trials if not t.is_fall])
        quiet = downsample(still, factor)
        for chunk_s in (1.0, MIN_BLOCK_S, 10.0):
            cells = [f"{name} {cpu_per_day(day, rate, chunk_s):5.2f} s" for name, day in (("busy", busy), ("quiet", quiet))]
            print(f"  {rate:4.0f} Hz, {chunk_s:4.0f}-s chunks: {'   '.join(cells)}")
        cells = [f"{name} {cpu_per_day_agent(day, rate, 0.25):5.2f} s" for name, day in (("busy", busy), ("quiet", quiet))]
        print(f"  {rate:4.0f} Hz, agent path:     {'   '.join(cells)}")


def describe(config: FallDetectorConfig) -> str:
    w = config.weights
    return (
        f"bias={w.bias:.3f} impact_g={w.impact_g:.3f} impact_activity_g={w.impact_activity_g:.3f} "
        f"orientation_change_rt={w.orientation_change_rt:.3f} free_fall_g={w.free_fall_g:.3f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True, help="SisFall folder (SA01, ...)")
    parser.add_argument("--skip-cpu", action="store_true", help="do not measure CPU per 24 h")
    args = parser.parse_args(argv)
    if not args.dataset.is_dir():
        print(f"dataset not found, skipping ({args.dataset})")
        return 0
    trials = load_dataset(args.dataset)
    if not trials:
        print(f"dataset not found, skipping (no SisFall trials in {args.dataset})")
        return 0
    base = FallDetectorConfig()
    print(
        f"{len(trials)} trials: {sum(t.is_fall for t in trials)} falls, "
        f"{sum(not t.is_fall for t in trials)} ADLs, {len({t.subject for t in trials})} subjects"
    )
    scanned = Scanned.of(trials, base)
    folds = leave_one_subject_out(scanned, base)
    outcomes = folds.outcomes
    baseline = {rate: [Outcome(t, baseline_detects(downsample(t.samples, f), rate)) for t in trials] for rate, f in RATES}
    print_summary(outcomes, baseline)
    print_errors(outcomes)
    print_penalties(scanned, base, folds.chosen)
    print_per_activity(outcomes)
    print_offsets(outcomes)
    print_closest(scanned, folds)
    mismatches, recordings = streaming_mismatches(trials, base)
    print(f"\nStreaming in random chunks vs batch: {recordings - mismatches}/{recordings} recordings identical")
    if not args.skip_cpu:
        print_cpu(trials)
    final, l2 = final_config(scanned, base)
    print(f"\nWeights fitted on all subjects, ridge penalty {l2:g} (the shipped defaults should equal these):")
    print(f"  fitted : {describe(final)}")
    print(f"  shipped: {describe(base)}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
