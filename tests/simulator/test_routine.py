"""The routine, incident schedule and scorer as pure functions: determinism, ordering, matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from eldercare.errors import ConfigError
from simulator.incidents import IncidentKind, Scenario, load_scenario, parse_duration, schedule
from simulator.routine import Bed, Door, Motion, Profile, home_rng, routine, stays_from
from simulator.score import AlertRow, ClosedCandidate, match, percentiles, render
from simulator.truth import TruthRecord

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 6, 0, tzinfo=ZONE)


def profile(index: int = 0, seed: int = 1) -> Profile:
    return Profile.draw(home_rng(seed, index, None, "profile"))


def test_same_seed_same_week_and_other_seeds_differ() -> None:
    week = START + timedelta(days=7)

    def emissions(seed: int) -> list[tuple[datetime, object]]:
        return [e for e in islice(routine(profile(3, seed), seed, 3, START, ZONE), 5000) if e[0] < week]

    assert emissions(1) == emissions(1)
    assert emissions(1) != emissions(2)


def test_stays_are_contiguous_and_cover_every_day() -> None:
    stays = list(islice(stays_from(profile(), 1, 0, START, ZONE), 400))
    for before, after in pairwise(stays):
        assert before.end == after.start, f"a hole or an overlap between {before} and {after}"
    nights = [s for s in stays if s.place == "bed" and s.end - s.start > timedelta(hours=4)]
    assert len(nights) >= 10  # ~14 days of stays, one long night each


def test_a_night_ends_when_the_next_day_begins_so_no_morning_loses_its_breakfast() -> None:
    """Each day is drawn from its own RNG; the night before must end at that day's own wake-up, or a
    late night swallows the morning's bathroom visit and breakfast (62 of 1,850 home-days did, which
    the missed-meal rule rightly reported)."""
    end = START + timedelta(days=28)
    for home in range(50):
        stays = [s for s in islice(stays_from(profile(home), 1, home, START, ZONE), 2000) if s.start < end]
        breakfasts = {
            s.start.astimezone(ZONE).date() for s in stays if s.place == "kitchen" and s.start.astimezone(ZONE).hour < 11
        }
        days = {s.start.astimezone(ZONE).date() for s in stays} - {START.date(), end.date()}  # whole days only
        assert days <= breakfasts, f"home {home}: no breakfast on {sorted(days - breakfasts)}"


def test_emissions_are_time_ordered_and_look_like_a_day() -> None:
    day = [e for e in islice(routine(profile(), 1, 0, START, ZONE), 20_000) if e[0] < START + timedelta(days=1)]
    times = [at for at, _ in day]
    assert times == sorted(times)
    rooms = {e.room for _, e in day if isinstance(e, Motion) and e.on}
    assert len(rooms) >= 3
    assert any(isinstance(e, Bed) and e.occupied for _, e in day)
    assert all(at >= START for at in times)


def test_doors_open_and_close_in_pairs() -> None:
    doors = [e.open for at, e in islice(routine(profile(5), 1, 5, START, ZONE), 50_000) if isinstance(e, Door)]
    assert doors, "nobody ever went out in two weeks"
    assert doors[::2] == [True] * len(doors[::2])
    assert doors[1::2] == [False] * len(doors[1::2])


def test_durations_parse() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("5m") == 300
    assert parse_duration("+2h") == 7200
    assert parse_duration(12.5) == 12.5
    assert parse_duration("1d") == 86_400
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_scenario_schedule_resolves_offsets_instants_and_home_ids(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        '{"incidents": [{"kind": "sos", "home": "h-01", "at": "10m"},'
        ' {"kind": "fall", "home": 0, "at": "2026-03-02T06:05:00+08:00", "duration": 60}]}'
    )
    found = schedule(load_scenario(path), home_ids=["h-00", "h-01"], start=START, horizon_s=3600, seed=1)
    assert [(i.kind, i.home_index, i.start) for i in found] == [
        (IncidentKind.FALL, 0, START + timedelta(minutes=5)),
        (IncidentKind.SOS, 1, START + timedelta(minutes=10)),
    ]
    assert found[0].duration_s == 60


def test_scenario_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"incidents": [{"kind": "fall", "home": 7, "at": "5m"}, {"kind": "sos", "home": "nobody", "at": "x"}]}')
    with pytest.raises(ConfigError) as caught:
        schedule(load_scenario(path), home_ids=["h-00"], start=START, horizon_s=60, seed=1)
    assert len(caught.value.problems) == 2
    path.write_text('{"incidents": [{"kind": "meteor", "home": 0, "at": 1}]}')
    with pytest.raises(ConfigError):
        load_scenario(path)
    # A typo in the rule settings fails the scenario (the engine would quietly use the defaults).
    path.write_text('{"rule_settings": {"fall": {"long_lie": 300}}}')
    with pytest.raises(ConfigError, match=r"rule_settings\.fall\.long_lie"):
        load_scenario(path)


def test_random_incidents_are_reproducible_and_near_the_rate() -> None:
    scenario = Scenario.model_validate({"random": {"per_home_day": 0.5, "kinds": ["fall", "sos"]}})
    ids = [f"h-{i:03d}" for i in range(100)]
    first = schedule(scenario, home_ids=ids, start=START, horizon_s=86_400 * 4, seed=7)
    assert first == schedule(scenario, home_ids=ids, start=START, horizon_s=86_400 * 4, seed=7)
    assert 120 <= len(first) <= 280  # expected 200
    assert {i.kind for i in first} == {IncidentKind.FALL, IncidentKind.SOS}


def truth(kind: str, home: str, minute: int, detect: str | None, also: tuple[str, ...] = ()) -> TruthRecord:
    start = datetime(2026, 3, 2, 8, minute, tzinfo=UTC)
    return TruthRecord(f"{home}/{kind}/{minute}", kind, home, start, start + timedelta(minutes=2), 0.0, 60.0, detect, also, {})


def alert(id_: int, home: str, kind: str, minute: int, second: int = 0) -> AlertRow:
    return AlertRow(id_, home, kind, datetime(2026, 3, 2, 8, minute, second, tzinfo=UTC))


def test_match_counts_detected_missed_false_and_latency() -> None:
    records = [
        truth("fall", "h-1", 0, "fall"),
        truth("sos", "h-2", 5, "sos"),
        truth("long_lie", "h-3", 0, "long_lie", ("fall",)),
        truth("network_outage", "h-4", 0, None, ("gateway_offline",)),
    ]
    alerts = [
        alert(1, "h-1", "fall", 0, 12),
        alert(2, "h-3", "fall", 0, 9),  # related to the long lie, not false
        alert(3, "h-3", "long_lie", 10, 30),
        alert(4, "h-5", "inactivity", 30),  # nothing happened in h-5: false
        alert(5, "h-2", "sos", 2),  # before the SOS (beyond the early margin): false, and the SOS is missed
    ]
    score = match(records, alerts)
    assert score.kinds["fall"].detected == 1
    assert score.kinds["fall"].latencies_sim_s == [12.0]
    assert score.kinds["fall"].latencies_wall_s == [pytest.approx(0.2)]
    assert score.kinds["long_lie"].latencies_sim_s == [630.0]
    assert score.kinds["sos"].missed == ["h-2/sos/5"]
    assert score.false_alerts == {"inactivity": 1, "sos": 1}
    assert score.related_alerts == 1
    assert score.missed == 1


def test_percentiles_nearest_rank() -> None:
    assert percentiles([]) is None
    assert percentiles([5.0, 1.0, 3.0, 2.0, 4.0]) == {"p50": 3.0, "p90": 5.0, "p99": 5.0, "max": 5.0}


def test_a_false_trigger_is_closed_not_alerted_and_an_alert_of_it_is_false() -> None:
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    cancelled = TruthRecord(
        "h-1/fall_cancelled/0", "fall_cancelled", "h-1", start, start + timedelta(minutes=2), 0.0, 60.0, None, (), {},
        closed_as="cancelled_by_resident",
    )  # fmt: skip
    turned = TruthRecord(
        "h-2/turning_over/0", "turning_over", "h-2", start, start + timedelta(minutes=2), 0.0, 60.0, None, (), {},
        closed_as="rolled_over_in_bed",
    )  # fmt: skip
    closed = [ClosedCandidate("h-1", "fall", "cancelled_by_resident", start, start + timedelta(seconds=10))]
    score = match([cancelled, turned], [alert(1, "h-2", "fall", 0, 30)], closed)
    assert (score.kinds["fall_cancelled"].closed, score.kinds["fall_cancelled"].closed_after_sim_s) == (1, [10.0])
    assert score.kinds["turning_over"].closed == 0
    assert score.false_alerts == {"fall": 1}  # turning over in bed must not alarm
    assert "no alert; closed after 10 s" in render(score)
