"""Fall detector on synthetic accelerometer signals (no real data in CI)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.falls import (
    FallDetection,
    FallDetectorConfig,
    FallPattern,
    ImpactScanner,
    StreamingFallDetector,
    classify,
    confidence_of,
    detect_falls,
    passes_gates,
    scan_impacts,
)

FloatArray = npt.NDArray[np.float64]
RATES = (50.0, 200.0)
UP = np.array([0.0, -1.0, 0.0])  # reading while upright: gravity on the y axis
LYING = np.array([0.0, 0.0, 1.0])  # lying on the back: gravity on the z axis
NOISE_G = 0.01
# Gates wide open: the scanner then measures every impact candidate.
OPEN_GATES = FallDetectorConfig(min_orientation_change_deg=0.0, max_stillness_g=100.0)


def hold(direction: FloatArray, seconds: float, rate: float) -> FloatArray:
    """A still posture: gravity along ``direction``."""
    return np.tile(direction / np.linalg.norm(direction), (round(seconds * rate), 1))


def rotate(start: FloatArray, end: FloatArray, seconds: float, rate: float) -> FloatArray:
    """Gravity turning smoothly from ``start`` to ``end`` at 1 g (a slow posture change)."""
    n = round(seconds * rate)
    weights = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n)))[:, None]
    path = (1 - weights) * start + weights * end
    unit: FloatArray = path / np.linalg.norm(path, axis=1, keepdims=True)
    return unit


def spike(direction: FloatArray, peak_g: float, rate: float, width_s: float = 0.06) -> FloatArray:
    """An impact: a short bump of acceleration on top of gravity along ``direction``."""
    t = np.arange(-3 * width_s, 3 * width_s, 1.0 / rate)
    bump = (peak_g - 1.0) * np.exp(-0.5 * (t / (width_s / 2)) ** 2)
    signal: FloatArray = (1.0 + bump)[:, None] * (direction / np.linalg.norm(direction))
    return signal


def noisy(signal: FloatArray, seed: int = 0) -> FloatArray:
    return signal + np.random.default_rng(seed).normal(0.0, NOISE_G, signal.shape)


def walking(seconds: float, rate: float, amplitude_g: float = 0.35) -> FloatArray:
    """Upright gait: a 1.2 Hz vertical bounce with a sharper heel-strike harmonic."""
    t = np.arange(round(seconds * rate)) / rate
    vertical = amplitude_g * np.sin(2 * np.pi * 1.2 * t) + 0.15 * np.sin(2 * np.pi * 2.4 * t)
    sway = 0.1 * np.sin(2 * np.pi * 0.6 * t)
    return np.column_stack([sway, -1.0 - vertical, 0.05 * np.cos(2 * np.pi * 1.2 * t)])


def fall(rate: float, peak_g: float = 4.0, end: FloatArray = LYING, *, rebound: bool = False) -> tuple[FloatArray, float]:
    """Stand, walk, drop (free fall while tipping over), hit the floor, lie still.

    With ``rebound`` the body bounces and lands a second time 0.6 s later. Returns the
    signal and the (first) impact time in seconds.
    """
    before = np.vstack([hold(UP, 2.0, rate), walking(3.0, rate)])
    drop = 0.3 * rotate(UP, end, 0.4, rate)
    impact = spike(end, peak_g, rate)
    impact_s = (len(before) + len(drop) + len(impact) // 2) / rate
    bounce = [hold(end, 0.6 - len(impact) / rate, rate), spike(end, 2.5, rate)] if rebound else []
    after = hold(end, 6.0, rate)
    return noisy(np.vstack([before, drop, impact, *bounce, after])), impact_s


def sit_down_hard(rate: float) -> FloatArray:
    """Drop onto a chair: a real impact, but the trunk stays nearly upright."""
    seated = np.array([0.0, -0.94, 0.34])  # leaning back by 20 degrees
    parts = [hold(UP, 4.0, rate), 0.6 * rotate(UP, seated, 0.4, rate)]
    parts += [spike(seated, 3.0, rate), hold(seated, 6.0, rate)]
    return noisy(np.vstack(parts), seed=1)


def jump_or_stumble(rate: float) -> FloatArray:
    """Jump, land hard, stand; stumble, catch oneself, stand: impacts, no posture change."""
    parts = [walking(3.0, rate), hold(UP, 0.5, rate) * 1.8, hold(UP, 0.3, rate) * 0.05]
    parts += [spike(UP, 5.0, rate), hold(UP, 3.0, rate), walking(2.0, rate)]
    parts += [hold(UP, 0.3, rate) * 0.5, spike(np.array([0.3, -1.0, 0.0]), 3.5, rate), hold(UP, 4.0, rate)]
    return noisy(np.vstack(parts), seed=2)


def lie_down_on_bed(rate: float) -> FloatArray:
    """Sit on the bed edge and lie back over three seconds: a posture change, no impact."""
    parts = [hold(UP, 4.0, rate), rotate(UP, LYING, 3.0, rate), hold(LYING, 6.0, rate)]
    return noisy(np.vstack(parts), seed=3)


SITTING = np.array([0.0, -0.94, 0.34])  # trunk leaning back 20 degrees
SLUMPED = np.array([0.0, -0.87, -0.5])  # trunk bent forward 30 degrees, as when dozing off in a chair
ON_THE_SIDE = np.array([1.0, 0.0, 0.0])
PRONE = np.array([0.0, 0.17, -0.98])  # face down, hips a little higher than the chest (100 degrees)


def flop_onto_bed(rate: float) -> FloatArray:
    """Sit on the bed edge and let oneself fall back onto the mattress. The pelvis stays on the
    bed (no drop), and the back lands at 1.35 g at the waist: the quick lie-downs of SisFall
    (D13, 25 trials) reach at most 1.45 g smoothed, median 1.24 g."""
    parts = [hold(SITTING, 4.0, rate), rotate(SITTING, LYING, 0.6, rate)]
    parts += [spike(LYING, 1.35, rate, width_s=0.15), hold(LYING, 6.0, rate)]
    return noisy(np.vstack(parts), seed=5)


def drop_from_standing_onto_bed(rate: float) -> FloatArray:
    """Let oneself drop from standing straight back onto a bed: the waist drops (0.85 g for
    0.6 s) and lands at 1.7 g. To a waist accelerometer this is a fall; see the test."""
    parts = [hold(UP, 4.0, rate), 0.85 * rotate(UP, LYING, 0.6, rate)]
    parts += [spike(LYING, 1.7, rate, width_s=0.15), hold(LYING, 6.0, rate)]
    return noisy(np.vstack(parts), seed=5)


def turn_over_in_bed(rate: float) -> FloatArray:
    """Asleep on the back, roll onto the side, lie still, roll back. As in SisFall's D14 trials
    of an elderly woman (SE08), the hip lifts and drops back onto the mattress: a dip to 0.6 g,
    then a landing at 2 g."""

    def roll(start: FloatArray, end: FloatArray) -> list[FloatArray]:
        turning = rotate(start, end, 0.5, rate)
        turning[-round(0.25 * rate) :] *= 0.6
        return [turning, spike(end, 2.0, rate)]

    parts = [hold(LYING, 8.0, rate), *roll(LYING, ON_THE_SIDE), hold(ON_THE_SIDE, 8.0, rate), *roll(ON_THE_SIDE, LYING)]
    return noisy(np.vstack([*parts, hold(LYING, 8.0, rate)]), seed=8)


def sit_up_quickly(rate: float) -> FloatArray:
    """Lying on the back, sit up in one go and land on the seat (1.9 g), then sit still."""
    parts = [hold(LYING, 8.0, rate), rotate(LYING, SITTING, 0.6, rate), spike(SITTING, 1.9, rate)]
    return noisy(np.vstack([*parts, hold(SITTING, 6.0, rate)]), seed=9)


def faint_from_chair(rate: float) -> FloatArray:
    """Dozing in a chair, slump forward and slide to the floor: the seat gives way under the
    pelvis (0.5 g for 0.3 s), a soft landing (1.6 g), lying face down and still. The impact is
    as soft as sitting down; what marks the fall is upright to lying after a drop."""
    slide = rotate(SLUMPED, PRONE, 0.6, rate)
    slide[-round(0.3 * rate) :] *= 0.5
    parts = [hold(SITTING, 3.0, rate), rotate(SITTING, SLUMPED, 1.5, rate), hold(SLUMPED, 3.0, rate), slide]
    parts += [spike(PRONE, 1.6, rate, width_s=0.12), hold(PRONE, 8.0, rate)]
    return noisy(np.vstack(parts), seed=10)


def drop_back_onto_the_mattress(rate: float) -> FloatArray:
    """Half-lying in bed, propped on the elbows (trunk 50 degrees from upright), drop back flat
    onto the mattress: it lands at 1.65 g (as hard as SisFall's hardest lie-down, D12_SE08_R01)
    and ends lying, but the pelvis was supported all the way."""
    propped = np.array([0.0, -0.64, 0.77])
    parts = [hold(SITTING, 3.0, rate), rotate(SITTING, propped, 1.0, rate), hold(propped, 3.0, rate)]
    parts += [rotate(propped, LYING, 0.5, rate), spike(LYING, 1.65, rate, width_s=0.12), hold(LYING, 8.0, rate)]
    return noisy(np.vstack(parts), seed=11)


def slump_into_armchair(rate: float) -> FloatArray:
    """Drop into a deep armchair and lean back 45 degrees."""
    reclined = np.array([0.0, -0.71, 0.71])
    parts = [hold(UP, 4.0, rate), 0.6 * rotate(UP, reclined, 0.4, rate)]
    parts += [spike(reclined, 2.2, rate), hold(reclined, 6.0, rate)]
    return noisy(np.vstack(parts), seed=6)


def long_walk(rate: float) -> FloatArray:
    return noisy(walking(60.0, rate, amplitude_g=0.6), seed=4)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("peak_g", [3.0, 4.5, 6.0])
def test_fall_is_detected_at_the_impact(rate: float, peak_g: float) -> None:
    signal, impact_s = fall(rate, peak_g)

    detections = detect_falls(signal, rate)

    assert len(detections) == 1
    detection = detections[0]
    assert detection.time_s == pytest.approx(impact_s, abs=0.1)
    assert 0.5 <= detection.confidence <= 1.0
    assert detection.evidence.peak_g > 2.0
    assert detection.evidence.orientation_change_deg == pytest.approx(90.0, abs=10.0)
    assert detection.evidence.stillness_g < 0.05
    assert detection.evidence.free_fall_g < 0.6


@pytest.mark.parametrize("rate", RATES)
def test_fall_onto_the_side_is_detected(rate: float) -> None:
    signal, impact_s = fall(rate, 4.0, end=np.array([1.0, 0.0, 0.0]))

    assert [round(d.time_s, 1) for d in detect_falls(signal, rate)] == [round(impact_s, 1)]


ACTIVITIES: list[Callable[[float], FloatArray]] = [
    sit_down_hard,
    jump_or_stumble,
    lie_down_on_bed,
    flop_onto_bed,
    slump_into_armchair,
    long_walk,
    turn_over_in_bed,
    sit_up_quickly,
    drop_back_onto_the_mattress,
]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("activity", ACTIVITIES, ids=lambda f: f.__name__)
def test_daily_activities_are_not_falls(rate: float, activity: Callable[[float], FloatArray]) -> None:
    assert detect_falls(activity(rate), rate) == []


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("lie_down", [lie_down_on_bed, flop_onto_bed], ids=lambda f: f.__name__)
def test_lying_down_to_rest_and_staying_down_is_not_a_fall(rate: float, lie_down: Callable[[float], FloatArray]) -> None:
    """Upright, then lying and still for ten minutes: the outcome of a fall, but also of
    going to bed. How long someone stays lying must not turn a lie-down into a fall (in
    SisFall only the protocol, which has the daily activities sit up again, separates
    the two)."""
    signal = np.vstack([lie_down(rate), noisy(hold(LYING, 600.0, rate), seed=7)])
    detector = StreamingFallDetector(rate)
    second = round(rate)

    found = [d for start in range(0, len(signal), second) for d in detector.push(signal[start : start + second])]

    assert found == []
    assert detect_falls(signal, rate) == []


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("activity", [slump_into_armchair, drop_back_onto_the_mattress], ids=lambda f: f.__name__)
def test_score_not_gates_rejects_soft_landings(rate: float, activity: Callable[[float], FloatArray]) -> None:
    """Guards the test above: these candidates pass the gates and are scored below 0.5, and
    the second one ends lying but was supported all the way (no UPRIGHT_TO_LYING)."""
    config = FallDetectorConfig()
    candidates = [c for c in scan_impacts(activity(rate), rate) if passes_gates(c, config)]

    assert candidates
    assert all(0.0 < confidence_of(c, config.weights) < 0.5 for c in candidates)
    assert all(c.support_lost_mps < config.min_support_lost_mps for c in candidates if c.tilt_after_deg >= config.lying_tilt_deg)


@pytest.mark.parametrize("rate", RATES)
def test_turning_over_in_bed_is_rejected_because_the_trunk_was_never_upright(rate: float) -> None:
    """Rolling from the back onto the side turns gravity by 90 degrees, with a bump and
    stillness after, exactly like a fall seen without a reference; the impact score alone
    would call it a fall. The body's long axis stayed horizontal: the upright gate says no."""
    config = FallDetectorConfig()
    candidates = scan_impacts(turn_over_in_bed(rate), rate)

    assert len(candidates) == 2
    assert all(c.orientation_change_deg > 80 and confidence_of(c, config.weights) >= 0.5 for c in candidates)
    assert all(c.upright_before_deg > 80 for c in candidates)
    assert detect_falls(turn_over_in_bed(rate), rate) == []


@pytest.mark.parametrize("rate", RATES)
def test_sitting_up_quickly_is_rejected_because_the_trunk_ends_more_upright(rate: float) -> None:
    config = FallDetectorConfig()
    candidates = scan_impacts(sit_up_quickly(rate), rate)

    assert candidates
    assert all(c.tilt_after_deg < c.tilt_before_deg for c in candidates)
    assert not any(passes_gates(c, config) for c in candidates)


@pytest.mark.parametrize("rate", RATES)
def test_a_soft_fall_from_a_chair_is_found_by_the_upright_to_lying_pattern(rate: float) -> None:
    config = FallDetectorConfig()

    detections = detect_falls(faint_from_chair(rate), rate)

    assert len(detections) == 1
    found = detections[0]
    assert found.pattern is FallPattern.UPRIGHT_TO_LYING
    assert found.confidence < config.min_confidence  # the impact score alone would miss it
    assert found.evidence.upright_before_deg < 40
    assert found.evidence.tilt_after_deg >= config.lying_tilt_deg
    assert found.evidence.support_lost_mps >= config.min_support_lost_mps


@pytest.mark.parametrize("rate", RATES)
def test_a_drop_from_standing_onto_a_bed_is_a_fall_to_the_wearable(rate: float) -> None:
    """The limit of a waist accelerometer: it cannot see the mattress. Upright, a drop, a
    landing and lying still is reported; the platform's cancel window (the resident's "I'm
    OK") and the bed sensor are the answer, not the detector."""
    assert len(detect_falls(drop_from_standing_onto_bed(rate), rate)) == 1


@pytest.mark.parametrize("rate", RATES)
def test_the_upright_reading_follows_the_mounting(rate: float) -> None:
    """A device mounted with x pointing down reads (1, 0, 0) upright: rotate every signal the
    same way and configure that reading; every detection and rejection is the same."""
    to_x_down = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # maps (0, -1, 0) to (1, 0, 0)
    mounted = FallDetectorConfig(upright_reading=(1.0, 0.0, 0.0))
    for signal in (fall(rate)[0], turn_over_in_bed(rate), faint_from_chair(rate), sit_up_quickly(rate)):
        expected = [(round(d.time_s, 6), d.pattern) for d in detect_falls(signal, rate)]
        assert [(round(d.time_s, 6), d.pattern) for d in detect_falls(signal @ to_x_down.T, rate, mounted)] == expected


def test_an_upright_reading_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="upright_reading"):
        StreamingFallDetector(50.0, FallDetectorConfig(upright_reading=(0.0, 0.0, 0.0)))


@pytest.mark.parametrize("rate", RATES)
def test_jump_does_produce_impact_candidates(rate: float) -> None:
    """Guards the test above: the jump is rejected by the rules, not by being too soft.

    With the posture gate off, the scanner measures the jump's landings; with it on, it
    drops them before measuring (its cheap necessary check).
    """
    assert scan_impacts(jump_or_stumble(rate), rate) == []
    candidates = scan_impacts(jump_or_stumble(rate), rate, OPEN_GATES)

    assert max(c.impact_g for c in candidates) > 2.0
    assert all(c.orientation_change_deg < 20 for c in candidates)


@pytest.mark.parametrize("rate", RATES)
def test_shortcuts_drop_only_candidates_that_fail_the_gates(rate: float) -> None:
    """The scanner's cheap checks skip measuring hopeless candidates and nothing else."""
    config = FallDetectorConfig()
    signal = np.vstack([long_walk(rate), _MIXED[rate], long_walk(rate)])

    everything = scan_impacts(signal, rate, OPEN_GATES)
    kept = scan_impacts(signal, rate, config)

    assert len(everything) > len(kept) > 0  # the day has both kinds
    assert set(kept) <= set(everything)
    assert [c for c in everything if passes_gates(c, config)] == [c for c in kept if passes_gates(c, config)]


@pytest.mark.parametrize("rate", RATES)
def test_a_fall_after_hours_of_small_chunks_is_found(rate: float) -> None:
    """Long quiet and busy stretches first: the ring buffer wraps many times."""
    signal, impact_s = fall(rate)
    before = np.vstack([hold(LYING, 600.0, rate), long_walk(rate), hold(UP, 300.0, rate)])
    detector = StreamingFallDetector(rate)
    second = round(rate)

    quiet = [d for start in range(0, len(before), second) for d in detector.push(before[start : start + second])]
    found = [d for start in range(0, len(signal), second) for d in detector.push(signal[start : start + second])]

    assert quiet == []
    assert [d.time_s for d in found] == pytest.approx([len(before) / rate + impact_s], abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_a_rebound_is_not_a_second_fall(rate: float) -> None:
    signal, impact_s = fall(rate, rebound=True)
    config = FallDetectorConfig()
    candidates = [c for c in scan_impacts(signal, rate) if classify(c, config) is not None]

    assert len(candidates) == 2  # both landings look like falls on their own
    assert [d.time_s for d in detect_falls(signal, rate)] == pytest.approx([impact_s], abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_two_falls_are_reported_once_each(rate: float) -> None:
    first, first_s = fall(rate)
    get_up = rotate(LYING, UP, 2.0, rate)
    second, second_s = fall(rate, 5.0)
    offset_s = (len(first) + len(get_up)) / rate
    signal = np.vstack([first, get_up, second])

    times = [d.time_s for d in detect_falls(signal, rate)]

    assert times == pytest.approx([first_s, offset_s + second_s], abs=0.1)


def push_in_chunks(signal: FloatArray, rate: float, sizes: list[int]) -> list[FallDetection]:
    detector = StreamingFallDetector(rate)
    found: list[FallDetection] = []
    start, turn = 0, 0
    while start < len(signal):
        size = sizes[turn % len(sizes)]
        found += detector.push(signal[start : start + size])
        start, turn = start + size, turn + 1
    return found


def mixed_day(rate: float) -> FloatArray:
    fallen, _ = fall(rate, rebound=True)
    activities = [jump_or_stumble, flop_onto_bed, slump_into_armchair, lie_down_on_bed]
    return np.vstack([fallen, *(activity(rate) for activity in activities)])


_MIXED = {rate: mixed_day(rate) for rate in RATES}
_MIXED_BATCH = {rate: detect_falls(signal, rate) for rate, signal in _MIXED.items()}


@settings(max_examples=25, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12),
)
def test_streaming_in_any_chunks_equals_batch(rate: float, sizes: list[int]) -> None:
    assert len(_MIXED_BATCH[rate]) == 1  # the property is only meaningful with a detection

    assert push_in_chunks(_MIXED[rate], rate, sizes) == _MIXED_BATCH[rate]


_MIXED_EVIDENCE = {rate: scan_impacts(signal, rate, OPEN_GATES) for rate, signal in _MIXED.items()}


@settings(max_examples=25, deadline=None)
@given(
    rate=st.sampled_from(RATES),
    sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12),
)
def test_every_candidate_is_measured_the_same_in_any_chunks(rate: float, sizes: list[int]) -> None:
    """Stronger than equal detections: every measurement, before gates and score."""
    scanner = ImpactScanner(rate, OPEN_GATES)
    signal, found, start, turn = _MIXED[rate], [], 0, 0
    while start < len(signal):
        found += scanner.push(signal[start : start + sizes[turn % len(sizes)]])
        start, turn = start + sizes[turn % len(sizes)], turn + 1

    assert len(_MIXED_EVIDENCE[rate]) > 5
    assert found == _MIXED_EVIDENCE[rate]


@pytest.mark.parametrize("rate", RATES)
def test_streaming_sample_by_sample_reports_once_the_post_window_is_seen(rate: float) -> None:
    signal, impact_s = fall(rate)
    config = FallDetectorConfig()
    detector = StreamingFallDetector(rate, config)

    reported_at = [i for i, row in enumerate(signal) if detector.push(row[None, :])]

    assert len(reported_at) == 1
    delay_s = (reported_at[0] + 1) / rate - impact_s
    assert config.post_end_s - 0.1 <= delay_s <= config.latency_s + 0.1


def test_empty_input_gives_no_detection() -> None:
    assert detect_falls(np.empty((0, 3)), 50.0) == []
    assert StreamingFallDetector(50.0).push(np.empty((0, 3))) == []


def test_lists_are_accepted() -> None:
    assert detect_falls([[0.0, -1.0, 0.0]] * 200, 50.0) == []


@pytest.mark.parametrize(
    "samples",
    [np.zeros((10, 2)), np.zeros(30), np.zeros((2, 5, 3)), np.zeros((10, 4))],
    ids=["two-axes", "flat", "3d", "four-columns"],
)
def test_wrong_shape_is_rejected(samples: FloatArray) -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        detect_falls(samples, 50.0)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        StreamingFallDetector(50.0).push(samples)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_samples_are_rejected(bad: float) -> None:
    samples = np.tile(UP, (100, 1))
    samples[42, 1] = bad

    with pytest.raises(ValueError, match="NaN or infinite"):
        detect_falls(samples, 50.0)


@pytest.mark.parametrize("rate", [0.0, 5.0, 9.99, 1000.5, 1e6, -50.0, math.nan, math.inf])
def test_rate_out_of_range_is_rejected(rate: float) -> None:
    with pytest.raises(ValueError, match="rate_hz must be between 10 and 1000 Hz"):
        detect_falls(np.tile(UP, (100, 1)), rate)
    with pytest.raises(ValueError, match="rate_hz"):
        StreamingFallDetector(rate)


@pytest.mark.parametrize("rate", [10.0, 1000.0])
def test_rates_at_the_limits_work(rate: float) -> None:
    signal, impact_s = fall(rate)

    assert [d.time_s for d in detect_falls(signal, rate)] == pytest.approx([impact_s], abs=0.15)
