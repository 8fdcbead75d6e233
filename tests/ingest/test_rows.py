"""Row building and state reduction, pure: no broker, no database."""

from __future__ import annotations

from datetime import timedelta

from eldercare.contracts.payloads import (
    DeviceKind,
    EventBatch,
    Hazard,
    HazardEvent,
    Metric,
    PresenceEvent,
    Reading,
    ReadingBatch,
    Room,
    SosEvent,
)
from ingest.rows import build_rows
from tests.ingest.support import T0


def _reading(seq: int, metric: Metric, value: float, hours: float, kind: DeviceKind = DeviceKind.PLUG) -> Reading:
    return Reading(
        device="dev-1", kind=kind, seq=seq, ts=T0 + timedelta(hours=hours), metric=metric, value=value, room=Room.KITCHEN
    )


def _hour(offset: int) -> int:
    return int(T0.timestamp()) // 3600 + offset


def test_hours_cover_the_span_of_a_message() -> None:
    batch = ReadingBatch(home_id="home-a", readings=[_reading(1, Metric.POWER_W, 1, 2.5), _reading(2, Metric.POWER_W, 1, 0.1)])
    assert build_rows([batch], T0).hours == {_hour(0), _hour(1), _hour(2)}


def test_a_replay_spanning_days_refreshes_only_its_own_hours() -> None:
    batch = ReadingBatch(home_id="home-a", readings=[_reading(1, Metric.POWER_W, 1, 0), _reading(2, Metric.POWER_W, 1, 24 * 30)])
    assert build_rows([batch], T0).hours == {_hour(0), _hour(24 * 30)}


def test_latest_value_and_activity_are_the_newest_not_the_last_to_arrive() -> None:
    batch = ReadingBatch(
        home_id="home-a",
        readings=[
            _reading(2, Metric.POWER_W, 900, 2),  # newest, arrives first
            _reading(1, Metric.POWER_W, 4, 1),  # standby: not a person
            _reading(3, Metric.POWER_W, 5, 3),  # 5 W is not more than 5 W
        ],
    )
    rows = build_rows([batch], T0)
    device = rows.devices["dev-1"]
    assert (device.metric, device.value, device.value_at, device.room) == ("power_w", 5, T0 + timedelta(hours=3), "kitchen")
    assert rows.homes["home-a"].activity_at == T0 + timedelta(hours=2)
    assert [row[2] for row in rows.readings] == [2, 1, 3]  # every reading is kept, in arrival order


def test_readings_that_show_no_person_leave_its_activity_untouched_but_mark_the_home_for_judging() -> None:
    batch = ReadingBatch(
        home_id="home-a",
        readings=[
            _reading(1, Metric.TEMPERATURE_C, 21, 0, DeviceKind.TEMPERATURE),
            _reading(2, Metric.MOTION, 0, 1, DeviceKind.MOTION),
        ],
    )
    (home,) = build_rows([batch], T0).homes.values()
    assert (home.activity_at, home.motion_at, home.door_at) == (None, None, None)
    assert home.judge  # data all the same: the alert engine judges the home at its next pass


def test_a_hazard_alarm_is_no_sign_of_a_person_but_an_sos_is() -> None:
    smoke = HazardEvent(
        device="smoke-1", kind=DeviceKind.SMOKE, seq=1, ts=T0, type="hazard", hazard=Hazard.SMOKE, state="detected"
    )
    sos = SosEvent(device="sos-1", kind=DeviceKind.SOS_BUTTON, seq=1, ts=T0 + timedelta(minutes=1), type="sos")
    assert build_rows([EventBatch(home_id="home-a", events=[smoke])], T0).homes["home-a"].activity_at is None
    both = build_rows([EventBatch(home_id="home-a", events=[smoke, sos])], T0)
    assert both.homes["home-a"].activity_at == T0 + timedelta(minutes=1)
    assert both.devices["smoke-1"].seen_at == T0, "the alarm itself spoke: it is alive"


def test_a_radar_losing_sight_of_the_person_is_no_sign_of_her() -> None:
    def presence(seq: int, minutes: int, state: str) -> PresenceEvent:
        return PresenceEvent(
            device="radar-1", kind=DeviceKind.PRESENCE, seq=seq, ts=T0 + timedelta(minutes=minutes), type="presence", state=state
        )

    both = build_rows([EventBatch(home_id="home-a", events=[presence(1, 0, "detected"), presence(2, 5, "cleared")])], T0)
    assert both.homes["home-a"].activity_at == T0
    assert both.devices["radar-1"].seen_at == T0 + timedelta(minutes=5), "the radar spoke: it is alive"
