"""Calibration and coverage of the inactivity rule on synthetic silences (alerts/inactivity/calibration.py, coverage.py)."""

from __future__ import annotations

import random

from alerts.inactivity.calibration import Choices, Silences, calibrate
from alerts.inactivity.coverage import note_slow_places

DAYS = 20


def _silences(rows: list[tuple[list[str], int, float]]) -> Silences:
    return Silences(
        keys=[keys for keys, _, _ in rows],
        day=[day for _, day, _ in rows],
        length_s=[length for _, _, length in rows],
        weight=[1.0] * len(rows),
        judged=[True] * len(rows),
        period=[0] * len(rows),
    )


def _choices() -> Choices:
    return Choices((3, 4), (0.5, 1.0, 2.0, 4.0, 8.0), (3,), (60, 600), 12 * 3600, 0.05)


def _kitchen_and_tv(rng: random.Random) -> list[tuple[list[str], int, float]]:
    """Kitchen pauses of 1-8 min all day; in the living room TV pauses of 20-50 min in the evening
    band and busy pauses of 1-8 min in the morning band."""
    rows = []
    for day in range(DAYS):
        for _ in range(30):
            rows.append((["*", "up|day", "up|day|kitchen", "up|day|kitchen|3"], day, rng.uniform(60, 480)))
            rows.append((["*", "up|day", "up|day|living", "up|day|living|3"], day, rng.uniform(60, 480)))
        for _ in range(4):
            rows.append((["*", "up|day", "up|day|living", "up|day|living|6"], day, rng.uniform(1200, 3000)))
    return rows


def test_the_clock_levels_carry_their_own_uncertainty() -> None:
    calibration, limits = calibrate(_silences(_kitchen_and_tv(random.Random(3))), _choices())
    assert calibration.place_levels == 3
    assert calibration.depth == 4  # the band tells the busy morning living room from the TV
    morning = limits["up|day|living|3"]
    place = limits["up|day|living"]
    # usual_max_s is the longest silence rounded up: the limit is within a second of it x (1 + u / days).
    assert abs(morning.threshold_s - morning.usual_max_s * (1 + calibration.clock_uncertainty / morning.days)) <= 1
    assert abs(place.threshold_s - place.usual_max_s * (1 + calibration.uncertainty / place.days)) <= 1
    assert morning.threshold_s < 30 * 60 < place.threshold_s


def test_a_clock_kept_loosely_gets_a_wider_clock_uncertainty_than_the_places() -> None:
    rng = random.Random(5)
    kitchen = ["*", "up|day", "up|day|kitchen"]
    rows = []
    for day in range(DAYS):
        for band in (3, 4):
            rows += [([*kitchen, f"up|day|kitchen|{band}"], day, rng.uniform(60, 480)) for _ in range(30)]
        rows += [([*kitchen, "up|day|kitchen|6"], day, rng.uniform(1200, 1500)) for _ in range(3)]
    # Once in each of two bands a pause much longer than that band's others: held out, each is a
    # false alarm under its band's limit with a small uncertainty (one is all 20 days allow).
    rows += [([*kitchen, "up|day|kitchen|3"], 5, 650.0), ([*kitchen, "up|day|kitchen|4"], 15, 650.0)]
    calibration, limits = calibrate(_silences(rows), _choices())
    assert calibration.depth == 4
    assert calibration.loo_false_alarms <= 1
    assert calibration.clock_uncertainty > calibration.uncertainty
    assert limits["up|day|kitchen|3"].threshold_s >= 650
    assert limits["up|day|kitchen|3"].threshold_s < limits["up|day|kitchen"].threshold_s


def test_rooms_where_the_resident_sits_still_for_hours_are_named() -> None:
    en: list[str] = []
    zh: list[str] = []
    places = {
        "kitchen": [(900, 1.0)] * 50,
        "living_room": [(4 * 3600, 1.0)] * 12 + [(1200, 1.0)] * 8,
        "bathroom": [(3 * 3600, 1.0)] * 2,  # long, but too rare to matter
    }
    note_slow_places(places, en, zh)
    assert en == [
        "By day, after the resident is seen in the living room an alarm waits 4 h: they often sit still "
        "there for hours, which the sensors cannot tell from a collapse."
    ]
    assert zh == ["白天在客厅活动后，报警需等待 4 小时：住户常在那里久坐不动，传感器无法将其与跌倒区分。"]
    en.clear()
    note_slow_places({"kitchen": [(900, 1.0)] * 50}, en, zh)
    assert en == []
