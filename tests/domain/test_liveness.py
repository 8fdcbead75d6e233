"""The detection bound of a dead device, per kind and once learned (eldercare.domain.liveness)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eldercare.domain import liveness

FLOOR = 7_200.0  # rule settings devices.offline_after_s, default
DAYS_3 = 3 * 86_400.0


def test_the_stated_bounds_per_kind() -> None:
    hours = {kind: liveness.silence_limit_s(kind, None, 0, 0, floor_s=FLOOR) / 3600 for kind in ("plug", "motion", "smoke")}
    assert hours == {"plug": 2.25, "motion": 26.083333333333332, "smoke": 26.083333333333332}
    # Learned: an hourly Aqara heartbeat, an 8.3 h silence, an hourly one under the floor.
    assert liveness.silence_limit_s("motion", 3_600, 12, DAYS_3, floor_s=FLOOR) == 8_100
    assert liveness.silence_limit_s("motion", 30_000, 12, DAYS_3, floor_s=FLOOR) == 2 * 30_000 + 900
    assert liveness.silence_limit_s("motion", 2_000, 12, DAYS_3, floor_s=FLOOR) == FLOOR
    assert liveness.silence_limit_s("motion", 30_000, 11, DAYS_3, floor_s=FLOOR) == liveness.CAP_S, "too few gaps yet"
    assert liveness.silence_limit_s("motion", 30_000, 99, 86_400, floor_s=FLOOR) == liveness.CAP_S, "not a night yet"
    assert liveness.silence_limit_s("motion", 500_000, 50, DAYS_3, floor_s=FLOOR) == liveness.CAP_S


gaps = st.lists(st.floats(min_value=-100, max_value=200_000, allow_nan=False), max_size=60)


@given(gaps)
def test_learning_never_takes_an_outage_or_a_gap_no_device_has(values: list[float]) -> None:
    learned: float | None = None
    count, history = 0, 0.0
    for gap in values:
        before = (learned, count)
        learned, count = liveness.learn_gap(learned, count, history, gap)
        history += max(gap, 0)
        if gap <= 0 or gap > liveness.LONGEST_LEARNED_GAP_S:
            assert (learned, count) == before
        elif (learned, count) != before:
            assert learned is not None
            assert learned >= gap
    assert learned is None or learned <= liveness.LONGEST_LEARNED_GAP_S
