"""The ingest service in-process against the real broker and database: what lands where."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from eldercare.config import Settings
from eldercare.contracts import encode
from eldercare.contracts.payloads import (
    DeviceHealth,
    DeviceKind,
    DoorEvent,
    EventBatch,
    FallEvent,
    FallEvidence,
    GatewayStatus,
    Hazard,
    HazardEvent,
    Heartbeat,
    Metric,
    Reading,
    ReadingBatch,
    Room,
    SosEvent,
)
from ingest.service import lanes
from tests.ingest.support import (
    T0,
    metric,
    publish,
    publish_raw,
    read_metric,
    register_homes,
    rows,
    running_ingest,
    scalar,
    temperature_batch,
    wait_until,
)
from tests.support.services import free_port


def _settings(make_settings: Callable[..., Settings], topic_root: str, **ingest: object) -> Settings:
    values: dict[str, object] = {"metrics_port": 0, "client_id": f"ingest-{topic_root}", "flush_interval_s": 0.05}
    values.update(ingest)
    return make_settings(ingest=values)


def _reading(device: str, kind: DeviceKind, seq: int, metric: Metric, value: float, room: Room | None, minute: int) -> Reading:
    return Reading(device=device, kind=kind, seq=seq, ts=T0 + timedelta(minutes=minute), metric=metric, value=value, room=room)


def _fall(seq: int, minute: int) -> FallEvent:
    evidence = FallEvidence(peak_g=4.0, orientation_change_deg=80.0, stillness_g=0.05)
    return FallEvent(
        device="wear-1", kind=DeviceKind.WEARABLE, seq=seq, ts=T0 + timedelta(minutes=minute), type="fall", confidence=0.9,
        evidence=evidence,
    )  # fmt: skip


async def test_readings_register_devices_and_update_latest_and_home_state(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root)
    batch = ReadingBatch(
        home_id="home-a",
        readings=[
            _reading("pir-k", DeviceKind.MOTION, 1, Metric.MOTION, 1, Room.KITCHEN, 0),
            _reading("pir-b", DeviceKind.MOTION, 1, Metric.MOTION, 1, Room.BEDROOM, 5),
            _reading("pir-b", DeviceKind.MOTION, 2, Metric.MOTION, 0, Room.BEDROOM, 6),  # cleared: not activity
            _reading("door-1", DeviceKind.DOOR, 1, Metric.DOOR_OPEN, 1, Room.ENTRY, 2),
            _reading("temp-1", DeviceKind.TEMPERATURE, 1, Metric.TEMPERATURE_C, 21.5, None, 30),  # not a person
            _reading("temp-1", DeviceKind.TEMPERATURE, 2, Metric.BATTERY_PCT, 64, None, 31),
            _reading("plug-1", DeviceKind.PLUG, 1, Metric.POWER_W, 3.0, Room.KITCHEN, 20),  # standby: not activity
            _reading("plug-1", DeviceKind.PLUG, 2, Metric.POWER_W, 1500.0, Room.KITCHEN, 10),
        ],
    )
    heartbeat = Heartbeat(
        home_id="home-a", ts=T0 + timedelta(minutes=40), uptime_s=100, queue_depth=7,
        devices=[DeviceHealth(device="pir-k", kind=DeviceKind.MOTION, battery_pct=88, signal_lqi=140)],
    )  # fmt: skip
    async with running_ingest(settings):
        await publish(settings, [batch, heartbeat])
        await wait_until(lambda: scalar(db_url, "SELECT last_heartbeat_at FROM home_state") is not None, what="heartbeat")

    devices = {
        row[0]: row[1:]
        for row in rows(db_url, "SELECT id, home_id, kind, room, last_metric, last_value, battery_pct, signal_lqi FROM devices")
    }
    assert devices == {
        "pir-k": ("home-a", "motion", "kitchen", "motion", 1.0, 88.0, 140),
        "pir-b": ("home-a", "motion", "bedroom", "motion", 0.0, None, None),
        "door-1": ("home-a", "door", "entry", "door_open", 1.0, None, None),
        "temp-1": ("home-a", "temperature", None, "battery_pct", 64.0, 64.0, None),
        "plug-1": ("home-a", "plug", "kitchen", "power_w", 3.0, None, None),
    }
    state = rows(
        db_url,
        "SELECT last_activity_at, last_motion_at, last_motion_room, last_door_at, last_door_state, last_heartbeat_at, queue_depth"
        " FROM home_state WHERE home_id = 'home-a'",
    )
    assert state == [
        (
            T0 + timedelta(minutes=10),
            T0 + timedelta(minutes=5),
            "bedroom",
            T0 + timedelta(minutes=2),
            "open",
            T0 + timedelta(minutes=40),
            7,
        )
    ]
    assert scalar(db_url, "SELECT count(*) FROM readings") == 8


async def test_new_events_reach_the_alert_inbox_once_and_redelivery_adds_nothing(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root)
    events = EventBatch(
        home_id="home-a",
        events=[
            _fall(10, 1),
            SosEvent(device="sos-1", kind=DeviceKind.SOS_BUTTON, seq=3, ts=T0 + timedelta(minutes=2), type="sos", press="long"),
            DoorEvent(device="door-1", kind=DeviceKind.DOOR, seq=4, ts=T0 + timedelta(minutes=3), type="door", state="closed"),
        ],
    )
    readings = temperature_batch("home-a", "temp-1", 0, 50)
    async with running_ingest(settings):
        await publish(settings, [events, readings])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 50, what="first delivery")
        # The same messages again, as after a lost acknowledgement, plus one genuinely new event.
        await publish(settings, [events, readings, EventBatch(home_id="home-a", events=[_fall(11, 9)])])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM events") == 4, what="second delivery")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM alert_inbox") == 4, what="inbox")

    assert scalar(db_url, "SELECT count(*) FROM readings") == 50
    inbox = rows(db_url, "SELECT device_id, seq, type, data FROM alert_inbox ORDER BY id")
    assert [(r[0], r[1], r[2]) for r in inbox] == [
        ("wear-1", 10, "fall"),
        ("sos-1", 3, "sos"),
        ("door-1", 4, "door"),
        ("wear-1", 11, "fall"),
    ]
    assert inbox[1][3] == {"press": "long"}
    assert inbox[0][3]["confidence"] == 0.9  # type: ignore[index]
    assert rows(db_url, "SELECT last_door_state, last_activity_at FROM home_state") == [("closed", T0 + timedelta(minutes=9))]


async def test_a_hazard_alarm_reaches_the_inbox_and_its_own_flags_are_device_health(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root)
    smoke = HazardEvent(
        device="smoke-1", kind=DeviceKind.SMOKE, seq=1, ts=T0, type="hazard", hazard=Hazard.SMOKE, state="detected",
        room=Room.KITCHEN,
    )  # fmt: skip
    heartbeat = Heartbeat(
        home_id="home-a", ts=T0 + timedelta(minutes=1), uptime_s=100, queue_depth=0,
        devices=[
            DeviceHealth(device="smoke-1", kind=DeviceKind.SMOKE, battery_low=True, tamper=False),
            DeviceHealth(device="leak-1", kind=DeviceKind.WATER_LEAK, battery_pct=90, tamper=True),
        ],
    )  # fmt: skip
    async with running_ingest(settings):
        await publish(settings, [EventBatch(home_id="home-a", events=[smoke]), heartbeat])
        await wait_until(lambda: scalar(db_url, "SELECT last_heartbeat_at FROM home_state") is not None, what="heartbeat")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM alert_inbox") == 1, what="inbox")
    assert rows(db_url, "SELECT type, room, data FROM alert_inbox") == [
        ("hazard", "kitchen", {"hazard": "smoke", "state": "detected"})
    ]
    assert rows(db_url, "SELECT id, kind, battery_low, tamper FROM devices ORDER BY id") == [
        ("leak-1", "water_leak", None, True),
        ("smoke-1", "smoke", True, False),
    ]


async def test_gateway_status_sets_state_and_reaches_the_inbox_once(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root)
    online = GatewayStatus(home_id="home-a", state="online", ts=T0, reason="connected")
    offline = GatewayStatus(home_id="home-a", state="offline", ts=T0 + timedelta(minutes=1), reason="connection_lost")
    before = datetime.now(UTC)
    async with running_ingest(settings):
        await publish(settings, [online, online, offline])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM alert_inbox") == 2, what="inbox")
        await publish(settings, [offline])  # redelivered
        await publish(settings, [temperature_batch("home-a", "temp-1", 0, 1)])  # a marker behind it
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 1, what="marker")

    inbox = rows(db_url, "SELECT home_id, device_id, type, data FROM alert_inbox ORDER BY id")
    assert inbox == [
        ("home-a", None, "gateway_status", {"state": "online", "reason": "connected"}),
        ("home-a", None, "gateway_status", {"state": "offline", "reason": "connection_lost"}),
    ]
    # A last will carries its connect-time ts; the platform dates it by arrival instead.
    [(state, since)] = rows(db_url, "SELECT gateway_state, gateway_state_at FROM home_state")
    assert state == "offline"
    assert before <= since <= datetime.now(UTC)  # type: ignore[operator]


async def test_an_earlier_sessions_will_arriving_after_the_new_online_changes_nothing(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    # A gateway's line is cut; it reconnects with the same client id before the broker noticed,
    # and the broker publishes the old session's will when the new session takes over, after
    # the new session's online. The will's ts (its session's start) is older than the online's.
    register_homes(db_url, ["home-a", "home-b"])
    settings = _settings(make_settings, topic_root)
    first, second = T0, T0 + timedelta(minutes=30)
    late_will = GatewayStatus(home_id="home-a", state="offline", ts=first, reason="connection_lost")
    # home-b: the same session's will after its online (the connection really was lost).
    own_will = GatewayStatus(home_id="home-b", state="offline", ts=second, reason="connection_lost")
    async with running_ingest(settings):
        await publish(
            settings,
            [
                GatewayStatus(home_id="home-a", state="online", ts=first, reason="connected"),
                GatewayStatus(home_id="home-a", state="online", ts=second, reason="connected"),
                late_will,
                GatewayStatus(home_id="home-b", state="online", ts=second, reason="connected"),
                own_will,
            ],
        )
        await publish(settings, [temperature_batch("home-a", "temp-1", 0, 1)])  # a marker behind them
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 1, what="marker")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM alert_inbox") == 4, what="inbox")

    states = rows(db_url, "SELECT home_id, gateway_state FROM home_state ORDER BY home_id")
    assert states == [("home-a", "online"), ("home-b", "offline")]
    inbox = rows(db_url, "SELECT home_id, data->>'state' FROM alert_inbox ORDER BY id")
    assert inbox == [("home-a", "online"), ("home-a", "online"), ("home-b", "online"), ("home-b", "offline")]


async def test_every_kind_of_bad_message_is_dead_lettered_with_its_reason(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a", "home-b"])
    settings = _settings(make_settings, topic_root)
    root = topic_root
    good = json.loads(encode(root, temperature_batch("home-a", "temp-a", 0, 1))[1])

    def variant(**changes: object) -> bytes:
        reading = {**good["readings"][0], **changes}
        return json.dumps({"home_id": "home-a", "readings": [reading]}).encode()

    topic = f"{root}/v1/home-a/readings"
    bad: dict[str, tuple[str, bytes]] = {
        "topic_invalid": (f"{root}/v1/Home_A/readings", json.dumps(good).encode()),
        "payload_empty": (topic, b""),
        "payload_too_large": (topic, b" " * (256 * 1024 + 1)),
        "not_utf8": (topic, b"\xff\xfe\x00"),
        "not_json": (topic, b"{readings"),
        "not_an_object": (topic, b"[1, 2]"),
        "unknown_field": (topic, variant(colour="red")),
        "missing_field": (topic, json.dumps({"home_id": "home-a"}).encode()),
        "wrong_type": (topic, variant(seq="seven")),
        "invalid_value": (topic, variant(value=1000.0)),
        "home_mismatch": (f"{root}/v1/home-b/readings", json.dumps(good).encode()),
        "unknown_home": encode(root, temperature_batch("home-z", "temp-z", 0, 1)),
        "device_of_other_home": encode(root, temperature_batch("home-b", "temp-a", 5, 1)),
    }
    async with running_ingest(settings) as task:
        await publish(settings, [temperature_batch("home-a", "temp-a", 0, 1)])  # temp-a now belongs to home-a
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 1, what="owner registration")
        await publish_raw(settings, bad.values())
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == len(bad), what="dead letters")
        await publish(settings, [temperature_batch("home-a", "temp-a", 1, 1)])  # still running and accepting
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 2, what="after the bad ones")
        assert not task.done()

    letters = {row[0]: row[1:] for row in rows(db_url, "SELECT reason, topic, payload, source, detail FROM dead_letters")}
    assert set(letters) == set(bad)
    for reason, (topic_sent, payload) in bad.items():
        assert letters[reason][0] == topic_sent
        assert letters[reason][1] == payload  # bytea comes back as bytes
        assert letters[reason][2] == "ingest"
    assert scalar(db_url, "SELECT home_id FROM devices WHERE id = 'temp-a'") == "home-a"
    assert scalar(db_url, "SELECT count(*) FROM devices WHERE id = 'temp-z'") == 0


async def test_rollup_refreshes_the_hours_touched(db_url: str, make_settings: Callable[..., Settings], topic_root: str) -> None:
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root, rollup_interval_s=0.2)
    motion = ReadingBatch(
        home_id="home-a",
        readings=[_reading("pir-k", DeviceKind.MOTION, seq, Metric.MOTION, 1, Room.KITCHEN, 20 * seq) for seq in range(6)],
    )
    async with running_ingest(settings):
        await publish(settings, [motion])
        await wait_until(lambda: scalar(db_url, "SELECT sum(motion_events) FROM activity_hourly") == 6, what="rollup")
    buckets = rows(db_url, "SELECT bucket, room, motion_events FROM activity_hourly ORDER BY bucket")
    assert buckets == [(T0, "kitchen", 3), (T0 + timedelta(hours=1), "kitchen", 3)]


async def test_metrics_endpoint_counts_what_happened(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    port = free_port()
    settings = _settings(make_settings, topic_root, metrics_port=port)
    started = time.time()
    async with running_ingest(settings):
        await publish(settings, [temperature_batch("home-a", "temp-1", 0, 30), temperature_batch("home-a", "temp-1", 0, 30)])
        await publish_raw(settings, [(f"{topic_root}/v1/home-a/readings", b"not json")])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == 1, what="dead letter")
        await wait_until(lambda: metric(port, "ingest_dead_letters_total", '{reason="not_json"}') == 1, what="metrics")
        assert await read_metric(port, "ingest_messages_received_total") == 3
        assert await read_metric(port, "ingest_readings_written_total") == 30
        assert await read_metric(port, "ingest_readings_duplicate_total") == 30
        assert await read_metric(port, "ingest_batch_readings_count") >= 1
        assert await read_metric(port, "ingest_commit_seconds_count") >= 1
        # Eventually: the platform's own retained config comes back to ingest too (it subscribes to the
        # whole root), and is acknowledged with the batch it lands in.
        await wait_until(lambda: metric(port, "ingest_unacknowledged_messages") == 0, what="everything acknowledged")
        assert await read_metric(port, "ingest_receive_window_messages") == sum(lane.receive_maximum for lane in lanes(settings))
        assert await read_metric(port, "ingest_commit_lag_seconds_count", '{lane="bulk"}') >= 1
        assert await read_metric(port, "ingest_last_commit_timestamp_seconds", '{lane="bulk"}') >= started
        assert (
            await read_metric(port, "ingest_last_commit_timestamp_seconds", '{lane="urgent"}') >= started
        )  # its start: nothing yet


async def test_a_message_the_database_refuses_is_isolated_and_dead_lettered(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    # A long flush interval puts all three messages into one batch, which must then be split.
    settings = _settings(make_settings, topic_root, flush_interval_s=1.0)
    # The contract bounds queue_depth below only; home_state.queue_depth is an int4.
    poison = Heartbeat(home_id="home-a", ts=T0, uptime_s=1, queue_depth=2**40)
    before, after = temperature_batch("home-a", "temp-1", 0, 10), temperature_batch("home-a", "temp-1", 10, 10)
    async with running_ingest(settings) as task:
        await publish(settings, [before, poison, after])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == 1, what="dead letter")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 20, what="the good messages")
        assert not task.done()
    assert rows(db_url, "SELECT reason, detail, topic FROM dead_letters") == [
        ("write_failed", "NumericValueOutOfRange", f"{topic_root}/v1/home-a/heartbeat")
    ]
