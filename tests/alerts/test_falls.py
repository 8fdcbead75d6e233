"""The fall candidate's judgement, on both sides of each boundary (pure functions, no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts import falls
from alerts.event_rules import InboxItem
from alerts.inactivity import ActivityEvent
from eldercare.domain.rule_settings import DEFAULT_RULES, RuleSettings

ZONE = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 14:00:00 in Shanghai
CJK = re.compile(r"[\u3400-\u9fff]")
HARD = {"confidence": 0.9, "evidence": {"peak_g": 3.2, "orientation_change_deg": 84.0, "stillness_g": 0.02}}
SOFT = {"confidence": 0.3, "evidence": {"peak_g": 1.4, "orientation_change_deg": 88.0, "stillness_g": 0.01}}


def fall(data: dict[str, object]) -> InboxItem:
    return InboxItem(1, "h1", "w1", 7, AT, "fall", None, dict(data))


def seen(seconds: float, kind: str = "motion", room: str | None = "kitchen") -> ActivityEvent:
    return ActivityEvent(AT + timedelta(seconds=seconds), kind, room)  # type: ignore[arg-type]


def judged(data: dict[str, object], events: list[ActivityEvent], *, rules: RuleSettings = DEFAULT_RULES) -> falls.Verdict:
    c = falls.candidate(fall(data), rules.fall, events)
    return falls.judge(c, events, c.decide_at, ZONE)


def test_a_hard_candidate_waits_the_cancel_window_and_says_how_to_cancel() -> None:
    c = falls.candidate(fall(HARD), DEFAULT_RULES.fall, [seen(-60, room="bathroom")])
    assert (c.soft, c.in_bed, c.room, c.decide_at) == (False, False, "bathroom", AT + timedelta(seconds=30))
    step = falls.opening(fall(HARD), c, ZONE)
    assert "14:00:00 possible fall" in step.en
    assert "3.2 g" in step.en
    assert "90%" in step.en
    assert "I'm OK" in step.en
    assert "疑似跌倒" in step.zh
    assert "我没事" in step.zh
    assert falls.Candidate.from_json(c.as_json()) == c


def test_without_a_window_a_hard_candidate_is_raised_at_once_but_a_soft_one_still_waits() -> None:
    rules = RuleSettings.model_validate({"fall": {"cancel_window_s": 0}})
    assert falls.candidate(fall(HARD), rules.fall, []).immediate
    soft = falls.candidate(fall(SOFT), rules.fall, [])
    assert not soft.immediate
    assert soft.decide_at == AT + timedelta(seconds=120)


def test_nothing_in_another_room_raises_it_and_movement_there_downgrades_it() -> None:
    before = [seen(-60, room="bathroom")]
    same = judged(HARD, [*before, seen(20, room="bathroom")])  # the fallen resident, not someone walking away
    assert (same.severity, same.outcome) == ("critical", None)
    raised = judged(HARD, before)
    assert (raised.severity, raised.outcome) == ("critical", None)
    assert "no answer within 30 s" in raised.step.en
    assert "确认为跌倒" in raised.step.zh
    walked = judged(HARD, [*before, seen(20, room="kitchen")])
    assert (walked.severity, walked.outcome) == ("medium", None)
    assert "kitchen 20 s after" in walked.step.en
    assert "厨房" in walked.step.zh


def test_one_press_cancels_and_any_other_press_asks_for_help() -> None:
    c = falls.candidate(fall(HARD), DEFAULT_RULES.fall, [])
    ok = falls.answer(c, "single", AT + timedelta(seconds=12), ZONE)
    assert ok.outcome == "cancelled_by_resident"
    assert "I'm OK" in ok.step.en
    assert "nobody was called" in ok.step.en
    assert "未通知任何人" in ok.step.zh
    for press in ("double", "long"):
        help_ = falls.answer(c, press, AT + timedelta(seconds=12), ZONE)
        assert (help_.outcome, help_.severity) == (None, "critical")
        assert "asked for help" in help_.step.en
        assert "求助" in help_.step.zh


def test_a_soft_candidate_alarms_only_when_nothing_in_the_home_moves() -> None:
    assert falls.candidate(fall(SOFT), DEFAULT_RULES.fall, []).soft
    still = judged(SOFT, [seen(-30, room="living_room")])
    assert (still.outcome, still.severity) == (None, "critical")
    assert "no sign of life anywhere in the home for 120 s" in still.step.en
    # Any sign of life, even in the same room, once the fall itself has settled.
    up = judged(SOFT, [seen(-30, room="living_room"), seen(falls.SETTLE_S + 1, room="living_room")])
    assert up.outcome == "resident_got_up"
    at_impact = judged(SOFT, [seen(-30, room="living_room"), seen(falls.SETTLE_S, room="living_room")])
    assert at_impact.outcome is None


@pytest.mark.parametrize(
    ("after", "outcome", "severity"),
    [
        ([], "rolled_over_in_bed", "critical"),
        ([seen(1, "bed_out", "bedroom"), seen(15, "bed_in", "bedroom")], "rolled_over_in_bed", "critical"),
        ([seen(1, "bed_out", "bedroom")], None, "critical"),  # out of bed, nothing anywhere else: a fall
        ([seen(-2, "bed_out", "bedroom")], None, "critical"),  # the mat said so just before the impact
        ([seen(1, "bed_out", "bedroom"), seen(12, "motion", "bedroom")], None, "critical"),
        ([seen(1, "bed_out", "bedroom"), seen(20, "motion", "bathroom")], "resident_got_up", "critical"),
    ],
)
def test_in_bed_a_candidate_is_turning_over_unless_the_bed_empties(
    after: list[ActivityEvent], outcome: str | None, severity: str
) -> None:
    events = [seen(-3 * 3600, "bed_in", "bedroom"), *after]
    c = falls.candidate(fall(HARD), DEFAULT_RULES.fall, events)
    assert c.in_bed
    assert "in bed" in falls.opening(fall(HARD), c, ZONE).en
    verdict = falls.judge(c, events, c.decide_at, ZONE)
    assert (verdict.outcome, verdict.severity) == (outcome, severity)
    if outcome is None:
        assert "fall out of bed" in verdict.step.en
        assert "坠床" in verdict.step.zh


def test_every_step_is_written_in_both_languages() -> None:
    c = falls.candidate(fall(SOFT), DEFAULT_RULES.fall, [])
    steps = [falls.opening(fall(SOFT), c, ZONE), falls.judge(c, [], c.decide_at, ZONE).step]
    found = falls.as_finding(fall(SOFT), c, steps, "critical")
    for step in steps:
        assert step.en
        assert not CJK.search(step.en)
        assert CJK.search(step.zh)
    assert found.explanation_en.startswith("14:00:00 possible soft fall")
    assert [s["en"] for s in found.evidence["steps"]] == [s.en for s in steps]
