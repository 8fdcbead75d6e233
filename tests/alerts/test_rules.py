"""Each rule fires, and stays quiet, on both sides of its boundaries (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts import falls
from alerts.event_rules import InboxItem, event_finding
from alerts.inactivity import ActivityEvent
from alerts.presence import PresenceReport
from alerts.rules import DeviceInfo, HomeSnapshot, TemperatureWindow, evaluate_home
from eldercare.domain.rule_settings import DEFAULT_RULES, RuleSettings, lenient

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def motion(at: datetime, room: str = "kitchen") -> ActivityEvent:
    return ActivityEvent(at, "motion", room)


def home(**kw: Any) -> HomeSnapshot:
    """A healthy home: gateway online, one motion sensor seen just now, motion a minute ago."""
    values: dict[str, Any] = {
        "home_id": "h1",
        "zone": UTC_ZONE,
        "gateway_state": "online",
        "gateway_state_at": NOW - timedelta(days=1),
        "devices": [DeviceInfo("m1", "motion", "kitchen", NOW, 90.0)],
        "events": [motion(NOW - timedelta(minutes=1))],
    }
    values.update(kw)
    return HomeSnapshot(**values)


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


# --------------------------------------------------------------------------- events


def item(kind: str, **data: object) -> InboxItem:
    return InboxItem(1, "h1", "w1", 7, NOW, kind, "bedroom", dict(data))


def test_a_fall_event_is_a_candidate_not_an_alert_by_itself() -> None:
    """alerts.falls judges it with the resident's answer and the home (tests/alerts/test_falls.py)."""
    assert event_finding(item("fall", confidence=0.93), DEFAULT_RULES, UTC_ZONE) is None


def test_sos_is_critical_and_door_events_raise_nothing_by_themselves() -> None:
    sos = event_finding(item("sos", press="long"), DEFAULT_RULES, UTC_ZONE)
    assert sos is not None
    assert sos.severity == "critical"
    assert "紧急呼叫" in sos.explanation_zh
    assert event_finding(item("door", state="open"), DEFAULT_RULES, UTC_ZONE) is None


@pytest.mark.parametrize(
    ("hazard", "severity", "zh"),
    [("smoke", "critical", "烟雾"), ("gas", "critical", "燃气"), ("co", "critical", "一氧化碳"), ("water_leak", "high", "漏水")],
)
def test_a_hazard_alarm_raises_its_own_kind_with_what_to_do_in_both_languages(hazard: str, severity: str, zh: str) -> None:
    found = event_finding(item("hazard", hazard=hazard, state="detected"), DEFAULT_RULES, UTC_ZONE)
    assert found is not None
    assert (found.kind, found.severity) == (hazard, severity)
    assert "14:00" in found.explanation_en
    assert "bedroom" in found.explanation_en
    assert zh in found.explanation_zh
    assert "卧室" in found.explanation_zh
    assert found.evidence["event"]["device"] == "w1"
    assert event_finding(item("hazard", hazard=hazard, state="cleared"), DEFAULT_RULES, UTC_ZONE) is None


def test_a_radar_fall_is_a_fall_candidate_explained_as_the_radars() -> None:
    evidence = {"source": "radar", "status": "fall", "target_distance_m": 0.8}
    radar_fall = item("fall", confidence=1.0, evidence=evidence)
    assert event_finding(radar_fall, DEFAULT_RULES, UTC_ZONE) is None  # judged by alerts.falls, as any fall
    candidate = falls.candidate(radar_fall, DEFAULT_RULES.fall, [])
    assert not candidate.soft
    step = falls.opening(radar_fall, candidate, UTC_ZONE)
    assert "possible fall: the presence radar in the bedroom reported a fall, 0.8 m from it." in step.en
    assert "毫米波雷达" in step.zh
    assert "wearable" not in step.en


def test_disabled_fall_rule_raises_nothing() -> None:
    rules = RuleSettings.model_validate({"fall": {"enabled": False}})
    assert event_finding(item("fall", confidence=0.9), rules, UTC_ZONE) is None


def test_invalid_rule_settings_fall_back_to_defaults_instead_of_silence() -> None:
    assert lenient({"fall": {"long_lie_s": "soon"}}) == (DEFAULT_RULES, ["fall.long_lie_s"])
    assert lenient({"typo": 1}) == (DEFAULT_RULES, ["typo"])
    assert lenient({"bathroom": {"room": "attic"}}) == (DEFAULT_RULES, ["bathroom.room"])
    assert lenient({"fall": {"long_lie_s": 120}})[0].fall.long_lie_s == 120
    assert lenient(None) == (DEFAULT_RULES, [])


# --------------------------------------------------------------------------- long lie


@pytest.mark.parametrize(("lying_min", "fires"), [(9.9, False), (10.0, True)])
def test_long_lie_after_the_configured_time_without_motion(lying_min: float, fires: bool) -> None:
    fall_at = ago(minutes=lying_min)
    result = evaluate_home(home(open_fall_at=fall_at, events=[motion(fall_at + timedelta(seconds=30))]), DEFAULT_RULES, NOW)
    assert (result["long_lie"] is not None) is fires
    if fires:
        assert result["long_lie"] is not None
        assert result["long_lie"].severity == "critical"


def test_motion_after_the_fall_means_no_long_lie() -> None:
    fall_at = ago(minutes=20)
    moved = home(open_fall_at=fall_at, events=[motion(fall_at + timedelta(minutes=3))])
    assert evaluate_home(moved, DEFAULT_RULES, NOW)["long_lie"] is None


# --------------------------------------------------------------------------- sensor health


def test_gateway_offline_after_its_grace_and_welfare_rules_not_judged() -> None:
    just_now = home(gateway_state="offline", gateway_state_at=ago(seconds=299), events=[motion(ago(hours=20))])
    result = evaluate_home(just_now, DEFAULT_RULES, NOW)
    assert result["gateway_offline"] is None
    assert "inactivity" not in result
    later = evaluate_home(home(gateway_state="offline", gateway_state_at=ago(seconds=300)), DEFAULT_RULES, NOW)
    assert later["gateway_offline"] is not None
    assert later["gateway_offline"].severity == "high"


LEARNED: dict[str, Any] = {"gaps_learned": 40, "first_seen_at": ago(days=9)}
HOURLY: dict[str, Any] = {"usual_gap_s": 3_600.0, **LEARNED}  # an Aqara PIR's own heartbeat, learned
SPARSE: dict[str, Any] = {"usual_gap_s": 62_000.0, **LEARNED}  # a PIR reporting what zigbee2mqtt configured


def test_silent_motion_sensor_gives_device_offline_never_inactivity() -> None:
    # An hourly reporter silent 2 h 15 min is dead (2 x 1 h + 15 min); inactivity is not judged on it.
    stale = [DeviceInfo("m1", "motion", "kitchen", ago(hours=2, minutes=15, seconds=1), 80.0, **HOURLY)]
    result = evaluate_home(home(devices=stale, events=[motion(ago(hours=20))]), DEFAULT_RULES, NOW)
    found = result["device_offline"]
    assert found is not None
    assert "beyond its limit of 2 h 15 min (it reports within 1 h)" in found.explanation_en
    assert found.evidence["devices"][0]["limit_s"] == 8100
    assert "inactivity" not in result
    fresh = [DeviceInfo("m1", "motion", "kitchen", ago(hours=2, minutes=14), 80.0, **HOURLY)]
    result = evaluate_home(home(devices=fresh, events=[motion(ago(hours=20))]), DEFAULT_RULES, NOW)
    assert result["device_offline"] is None
    assert result["inactivity"] is not None


def test_a_silent_but_alive_pir_is_never_offline_and_never_suspends_welfare_checks() -> None:
    # Reports every 17 h by itself and saw nobody all night: silent 20 h, alive, welfare still judged.
    quiet = [DeviceInfo("m1", "motion", "bedroom", ago(hours=20), 80.0, **SPARSE)]
    result = evaluate_home(home(devices=quiet, events=[motion(ago(hours=20))]), DEFAULT_RULES, NOW)
    assert result["device_offline"] is None
    assert result["inactivity"] is not None, "the welfare checks run on its silence"
    # Not learned yet: its kind's default (17.2 h rhythm) stands in.
    new = [DeviceInfo("m1", "motion", "bedroom", ago(hours=20), 80.0)]
    assert evaluate_home(home(devices=new, events=[motion(ago(hours=1))]), DEFAULT_RULES, NOW)["device_offline"] is None
    # A truly dead one is found at its bound: at most 26.1 h (1.5 x 17.2 h + 15 min).
    dead = [DeviceInfo("m1", "motion", "bedroom", ago(hours=26, minutes=10), 80.0, **SPARSE)]
    found = evaluate_home(home(devices=dead, events=[motion(ago(hours=27))]), DEFAULT_RULES, NOW)["device_offline"]
    assert found is not None
    assert "26 h" in found.explanation_en


def test_zigbee2mqtt_marking_a_device_offline_is_believed_until_the_device_speaks_again() -> None:
    said = {"availability": "offline", "availability_at": ago(minutes=3), **HOURLY}
    marked = [DeviceInfo("m1", "motion", "kitchen", ago(minutes=20), 80.0, **said)]
    result = evaluate_home(home(devices=marked), DEFAULT_RULES, NOW)
    found = result["device_offline"]
    assert found is not None
    assert "marked offline" in found.explanation_en
    assert "Zigbee" in found.explanation_zh
    assert "inactivity" not in result
    spoke = [DeviceInfo("m1", "motion", "kitchen", ago(minutes=1), 80.0, **said)]
    assert evaluate_home(home(devices=spoke), DEFAULT_RULES, NOW)["device_offline"] is None
    online = {**said, "availability": "online"}
    assert (
        evaluate_home(home(devices=[DeviceInfo("m1", "motion", "kitchen", ago(minutes=20), 80.0, **online)]), DEFAULT_RULES, NOW)[
            "device_offline"
        ]
        is None
    )


def test_a_mains_plug_silent_past_its_hourly_rhythm_is_offline() -> None:
    plug = [*home().devices, DeviceInfo("p1", "plug", "kitchen", ago(hours=2, minutes=15, seconds=1), None)]
    assert evaluate_home(home(devices=plug), DEFAULT_RULES, NOW)["device_offline"] is not None
    alive = [*home().devices, DeviceInfo("p1", "plug", "kitchen", ago(hours=2, minutes=14), None)]
    assert evaluate_home(home(devices=alive), DEFAULT_RULES, NOW)["device_offline"] is None


def test_a_home_without_any_motion_sensor_is_flagged_instead_of_silently_unwatched() -> None:
    plug_only = [DeviceInfo("p1", "plug", "kitchen", NOW, None)]
    paired_too_recently = home(devices=plug_only, events=[], gateway_state_at=ago(hours=1, minutes=59))
    result = evaluate_home(paired_too_recently, DEFAULT_RULES, NOW)
    assert result["no_motion_sensor"] is None
    assert "inactivity" not in result  # nothing to judge it by
    result = evaluate_home(home(devices=plug_only, events=[], gateway_state_at=ago(hours=2)), DEFAULT_RULES, NOW)
    found = result["no_motion_sensor"]
    assert found is not None
    assert found.severity == "medium"
    assert "cannot run" in found.explanation_en
    assert "人体移动传感器" in found.explanation_zh
    assert found.evidence["devices"] == [{"id": "p1", "kind": "plug"}]
    assert "inactivity" not in result


def test_no_motion_sensor_is_clear_with_one_and_not_judged_while_the_gateway_is_offline() -> None:
    assert evaluate_home(home(), DEFAULT_RULES, NOW)["no_motion_sensor"] is None
    offline = home(devices=[], events=[], gateway_state="offline", gateway_state_at=ago(days=2))
    result = evaluate_home(offline, DEFAULT_RULES, NOW)
    assert result["gateway_offline"] is not None
    assert result["no_motion_sensor"] is None  # the gateway alert speaks for the home
    disabled = RuleSettings.model_validate({"devices": {"enabled": False}})
    assert "no_motion_sensor" not in evaluate_home(home(devices=[], events=[]), disabled, NOW)


# --------------------------------------------------------------------------- inactivity and absences


def test_untrained_inactivity_default_is_conservative() -> None:
    # Untrained default by day is 3 h.
    assert evaluate_home(home(events=[motion(ago(hours=2, minutes=59))]), DEFAULT_RULES, NOW)["inactivity"] is None
    found = evaluate_home(home(events=[motion(ago(hours=3, minutes=1))]), DEFAULT_RULES, NOW)["inactivity"]
    assert found is not None
    assert "无活动" in found.explanation_zh
    assert "routine not learned" in found.explanation_en


def test_front_door_then_silence_is_out_not_inactive() -> None:
    events = [motion(ago(hours=5), "entry"), ActivityEvent(ago(hours=5) + timedelta(seconds=5), "door_open", "entry")]
    result = evaluate_home(home(events=events), DEFAULT_RULES, NOW)
    assert result["inactivity"] is None
    assert result["long_absence"] is None
    events = [motion(ago(hours=13), "entry"), ActivityEvent(ago(hours=13) + timedelta(seconds=5), "door_open", "entry")]
    assert evaluate_home(home(events=events), DEFAULT_RULES, NOW)["long_absence"] is not None


def test_absence_calendar_pauses_welfare_rules_but_not_home_safety() -> None:
    snapshot = home(
        events=[motion(ago(hours=20))],
        absences=[(ago(days=1), NOW + timedelta(days=1))],
        last_door_state="open",
        last_door_at=ago(hours=1),
    )
    result = evaluate_home(snapshot, DEFAULT_RULES, NOW)
    assert "inactivity" not in result
    assert result["door_left_open"] is not None


# --------------------------------------------------------------------------- wandering, bathroom


NIGHT = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
AWAKE_SENSORS = [DeviceInfo("m1", "motion", "kitchen", NIGHT + timedelta(hours=2), 90.0)]


def test_night_wandering_when_no_return_within_the_set_time() -> None:
    door = ActivityEvent(NIGHT, "door_open", "entry")
    events = [motion(NIGHT - timedelta(seconds=30), "entry"), door, motion(NIGHT + timedelta(seconds=40), "entry")]
    snap = home(events=events, devices=AWAKE_SENSORS)
    assert evaluate_home(snap, DEFAULT_RULES, NIGHT + timedelta(minutes=15))["night_wandering"] is None
    found = evaluate_home(snap, DEFAULT_RULES, NIGHT + timedelta(minutes=15, seconds=1))["night_wandering"]
    assert found is not None
    assert "夜间" in found.explanation_zh
    back = home(events=[*events, motion(NIGHT + timedelta(minutes=10), "hallway")], devices=AWAKE_SENSORS)
    assert evaluate_home(back, DEFAULT_RULES, NIGHT + timedelta(minutes=20))["night_wandering"] is None


def test_going_out_in_the_day_is_not_night_wandering() -> None:
    day = datetime(2026, 3, 2, 21, 59, tzinfo=UTC)
    snap = home(events=[ActivityEvent(day, "door_open", "entry")], devices=AWAKE_SENSORS)
    assert evaluate_home(snap, DEFAULT_RULES, day + timedelta(minutes=30))["night_wandering"] is None


def test_bathroom_dwell_boundary_and_motion_elsewhere_resets_it() -> None:
    entered = ago(minutes=45)
    events = [motion(ago(minutes=50), "hallway"), motion(entered, "bathroom"), motion(ago(minutes=20), "bathroom")]
    rules = RuleSettings.model_validate({"bathroom": {"max_dwell_s": 2700}})
    assert evaluate_home(home(events=events), rules, NOW)["bathroom_dwell"] is None
    found = evaluate_home(home(events=events), rules, NOW + timedelta(seconds=1))["bathroom_dwell"]
    assert found is not None
    assert "卫生间" in found.explanation_zh
    left = [*events, motion(ago(minutes=5), "kitchen")]
    assert evaluate_home(home(events=left), rules, NOW + timedelta(minutes=10))["bathroom_dwell"] is None


# --------------------------------------------------------------------------- door, cold, battery


def test_door_left_open_boundary() -> None:
    at_limit = home(last_door_state="open", last_door_at=ago(minutes=15))
    assert evaluate_home(at_limit, DEFAULT_RULES, NOW)["door_left_open"] is None
    over = home(last_door_state="open", last_door_at=ago(minutes=15, seconds=1))
    assert evaluate_home(over, DEFAULT_RULES, NOW)["door_left_open"] is not None
    closed = home(last_door_state="closed", last_door_at=ago(hours=3))
    assert evaluate_home(closed, DEFAULT_RULES, NOW)["door_left_open"] is None


def temps(*values: float, first_at: datetime | None = None) -> TemperatureWindow:
    """Readings over the last 30 minutes, as the database summarises them."""
    return TemperatureWindow(first_at or ago(minutes=29), min(values), max(values))


def test_cold_home_fires_below_and_clears_only_above_the_margin() -> None:
    assert evaluate_home(home(temperatures=temps(15.9, 15.5, 15.0)), DEFAULT_RULES, NOW)["cold_home"] is not None
    mixed = evaluate_home(home(temperatures=temps(15.9, 16.0, 15.0)), DEFAULT_RULES, NOW)
    assert "cold_home" not in mixed  # hysteresis band: neither fires nor clears
    assert evaluate_home(home(temperatures=temps(17.0, 18.0)), DEFAULT_RULES, NOW)["cold_home"] is None
    assert "cold_home" not in evaluate_home(home(temperatures=temps(16.5, 16.9)), DEFAULT_RULES, NOW)


def test_one_cold_reading_is_not_a_cold_home() -> None:
    assert "cold_home" not in evaluate_home(home(temperatures=temps(10.0, first_at=ago(minutes=1))), DEFAULT_RULES, NOW)


def test_low_battery_with_a_clear_band() -> None:
    def with_battery(pct: float) -> HomeSnapshot:
        return home(devices=[DeviceInfo("m1", "motion", "kitchen", NOW, pct)])

    assert evaluate_home(with_battery(19.9), DEFAULT_RULES, NOW)["low_battery"] is not None
    assert "low_battery" not in evaluate_home(with_battery(20.0), DEFAULT_RULES, NOW)
    assert evaluate_home(with_battery(30.0), DEFAULT_RULES, NOW)["low_battery"] is None


def test_a_device_that_says_its_own_battery_is_low_is_low_battery() -> None:
    alarm = DeviceInfo("co1", "co", "kitchen", NOW, None, battery_low=True)
    found = evaluate_home(home(devices=[*home().devices, alarm]), DEFAULT_RULES, NOW)["low_battery"]
    assert found is not None
    assert "co (kitchen)" in found.explanation_en
    cleared = DeviceInfo("co1", "co", "kitchen", NOW, None, battery_low=False)
    assert evaluate_home(home(devices=[*home().devices, cleared]), DEFAULT_RULES, NOW)["low_battery"] is None


def test_an_open_tamper_switch_is_a_device_alert_that_clears_itself() -> None:
    leak = DeviceInfo("l1", "water_leak", "bathroom", NOW, 90.0, tamper=True)
    found = evaluate_home(home(devices=[*home().devices, leak]), DEFAULT_RULES, NOW)["device_tampered"]
    assert found is not None
    assert "bathroom" in found.explanation_en
    assert "卫生间" in found.explanation_zh
    assert evaluate_home(home(), DEFAULT_RULES, NOW)["device_tampered"] is None


def test_night_window_settings_are_times_of_day() -> None:
    rules = RuleSettings.model_validate({"night_wandering": {"night_start": "01:00", "night_end": "05:00"}})
    assert rules.night_wandering.night_start == time(1, 0)
    snap = home(events=[ActivityEvent(NIGHT, "door_open", "entry")], devices=AWAKE_SENSORS)
    assert evaluate_home(snap, rules, NIGHT + timedelta(hours=1))["night_wandering"] is None


# --------------------------------------------------------------------------- presence radar


def radar(room: str = "living_room", **kw: Any) -> DeviceInfo:
    return DeviceInfo(f"radar-{room}", "presence", room, kw.pop("last_seen_at", NOW), None, **kw)


def presence(at: datetime, state: str = "detected", room: str = "living_room") -> PresenceReport:
    return PresenceReport(f"radar-{room}", room, state, at)


def with_radar(events: list[ActivityEvent], report: PresenceReport, **kw: Any) -> HomeSnapshot:
    devices = [DeviceInfo("m1", "motion", "kitchen", NOW, 90.0), radar(report.room or "living_room")]
    return home(events=events, devices=kw.pop("devices", devices), presence=[report], **kw)


def test_a_radar_reporting_presence_keeps_inactivity_quiet_until_the_stillness_itself_is_too_long() -> None:
    # She walked into the living room 2 h 50 min ago and sat down; the PIR has seen nothing since,
    # the radar still sees her. Untrained default by day: 3 h.
    sat = ago(hours=2, minutes=50)
    events = [motion(sat, "living_room")]
    early = evaluate_home(with_radar(events, presence(sat)), DEFAULT_RULES, NOW)
    assert (early["inactivity"], early["still_present"]) == (None, None)
    later = evaluate_home(with_radar(events, presence(sat)), DEFAULT_RULES, NOW + timedelta(hours=1))
    assert later["inactivity"] is None  # never "no activity" while the radar sees someone
    found = later["still_present"]
    assert found is not None
    assert found.severity == "high"
    assert "radar" in found.explanation_en
    assert "living room" in found.explanation_en
    assert "3 h 50 min" in found.explanation_en
    assert "雷达" in found.explanation_zh
    assert "客厅" in found.explanation_zh
    assert found.evidence["radars"] == [{"id": "radar-living_room", "room": "living_room", "since": sat.isoformat()}]


def test_without_presence_the_same_silence_is_inactivity() -> None:
    sat = ago(hours=3, minutes=50)
    result = evaluate_home(with_radar([motion(sat, "living_room")], presence(sat, "cleared")), DEFAULT_RULES, NOW)
    assert result["inactivity"] is not None
    assert result["still_present"] is None


def test_a_home_with_presence_is_occupied_even_after_the_door_without_motion() -> None:
    # Out of the door 13 h ago; back 12 h ago unseen by the PIRs (a lone event is no return), the radar sees her.
    door = ActivityEvent(ago(hours=13), "door_open", "entry")
    back = ago(hours=12)
    events = [motion(ago(hours=13, seconds=30), "entry"), door, motion(back, "living_room")]
    result = evaluate_home(with_radar(events, presence(back)), DEFAULT_RULES, NOW)
    assert result["long_absence"] is None
    assert result["still_present"] is not None
    assert result["night_wandering"] is None
    just_back = evaluate_home(with_radar(events, presence(back)), DEFAULT_RULES, back + timedelta(hours=1))
    assert (just_back["long_absence"], just_back["still_present"]) == (None, None)


def test_present_and_still_in_the_bathroom_is_a_bathroom_dwell() -> None:
    entered = ago(minutes=50)
    events = [motion(ago(minutes=52), "hallway"), motion(entered, "bathroom")]
    rules = RuleSettings.model_validate({"bathroom": {"max_dwell_s": 2700}})
    result = evaluate_home(with_radar(events, presence(entered, room="bathroom")), rules, NOW)
    assert result["bathroom_dwell"] is not None
    assert result["inactivity"] is None
    assert result["still_present"] is None  # the bathroom dwell says it, more precisely
    # The bathroom radar saw her leave (no PIR elsewhere caught it): not a bathroom dwell.
    left = with_radar(events, presence(ago(minutes=40), "cleared", room="bathroom"))
    assert evaluate_home(left, rules, NOW)["bathroom_dwell"] is None


def test_a_radar_watches_like_a_motion_sensor_and_a_dead_one_pauses_the_welfare_checks() -> None:
    sat = ago(hours=4)
    only_radar = home(devices=[radar()], events=[motion(sat, "living_room")], presence=[presence(sat)])
    result = evaluate_home(only_radar, DEFAULT_RULES, NOW)
    assert result["no_motion_sensor"] is None
    assert result["still_present"] is not None
    dead = home(devices=[radar(last_seen_at=ago(hours=30))], events=[motion(sat, "living_room")], presence=[presence(sat)])
    result = evaluate_home(dead, DEFAULT_RULES, NOW)
    assert result["device_offline"] is not None
    assert "inactivity" not in result
    assert "still_present" not in result
