"""Hostile messages at a running ingest: one message may fail, never the process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from eldercare.config import Settings
from eldercare.contracts import MessageKind, encode
from eldercare.contracts.examples import examples
from eldercare.contracts.payloads import DeviceKind, EventBatch, Heartbeat, Metric, Reading, ReadingBatch, SosEvent
from tests.ingest.support import (
    T0,
    metric,
    publish,
    publish_raw,
    register_homes,
    rows,
    running_ingest,
    scalar,
    temperature_batch,
    wait_until,
)
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess
from tests.support.services import free_port


def _settings(make_settings: Callable[..., Settings], topic_root: str, **ingest: object) -> Settings:
    values: dict[str, object] = {"metrics_port": 0, "client_id": f"ingest-{topic_root}", "flush_interval_s": 0.05}
    values.update(ingest)
    return make_settings(ingest=values)


async def test_json_nested_a_thousand_deep_is_dead_lettered_and_ingest_keeps_running(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root)
    poison = (f"{topic_root}/v1/home-a/readings", b"[" * 1000 + b"]" * 1000)
    async with running_ingest(settings) as task:
        await publish(settings, [temperature_batch("home-a", "temp-1", 0, 5)])
        await publish_raw(settings, [poison])
        await publish(settings, [temperature_batch("home-a", "temp-1", 5, 5)])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 10 or task.done(), what="the good messages")
        assert not task.done()
        assert scalar(db_url, "SELECT count(*) FROM readings") == 10
    assert rows(db_url, "SELECT reason, payload FROM dead_letters") == [("not_json", poison[1])]


def _lock_waiters(db_url: str) -> int:
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'eldercare-ingest'"
        " AND wait_event_type = 'Lock' AND datname = current_database()"
    )
    count = scalar(db_url, query)
    assert isinstance(count, int)
    return count


async def test_a_message_that_keeps_killing_ingest_is_quarantined_and_the_rest_flows(
    db_url: str,
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    private_broker: Callable[..., PrivateBroker],
    tmp_path: Path,
    topic_root: str,
) -> None:
    # A message that kills the process is simulated for real: this test's open transaction holds the
    # row lock the message's write needs, so ingest is provably inside that message when SIGKILL
    # comes, on every delivery. Without a quarantine it is redelivered and hangs (crashes) forever.
    broker = private_broker()
    register_homes(db_url, ["home-a"])
    settings = make_settings(mqtt_url=broker.url)
    env = env_for(mqtt_url=broker.url, ingest__client_id=f"ingest-{topic_root}", ingest__metrics_port="0",
                  ingest__quarantine_after_crashes="2")  # fmt: skip
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log")
    poison = temperature_batch("home-a", "temp-poison", 0, 1)
    with psycopg.connect(db_url) as blocker:
        blocker.execute(
            "INSERT INTO devices (id, home_id, kind, first_seen_at, last_seen_at) VALUES ('temp-poison', 'home-a', 'temperature', now(), now())"
        )
        try:
            ingest.start()
            await asyncio.to_thread(ingest.wait_for_log, '"ingest_ready"', 60)
            await publish(settings, [poison, temperature_batch("home-a", "temp-good", 0, 5)])
            for crash in range(3):  # the first in normal processing, then two with an attempt on record
                await wait_until(lambda: _lock_waiters(db_url) > 0, what=f"ingest inside the poison message ({crash})")
                ingest.kill()
                await wait_until(lambda: _lock_waiters(db_url) == 0, what="the killed process's session to end")
                ingest.start()
            await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 5, what="the good message")
            await publish(settings, [temperature_batch("home-a", "temp-good", 5, 5)])
            await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 10, what="later messages")
            assert ingest.process is not None
            assert ingest.process.poll() is None
        finally:
            blocker.rollback()
            ingest.stop()
    topic, payload = encode(topic_root, poison)
    assert rows(db_url, "SELECT reason, topic, payload, home_id FROM dead_letters") == [("quarantined", topic, payload, "home-a")]
    assert scalar(db_url, "SELECT count(*) FROM ingest_attempts") == 0
    assert '"ingest_unclean_restart"' in ingest.log_text()
    assert scalar(db_url, "SELECT bool_or(running) FROM ingest_runs") is False  # the last stop was clean
    assert '"ingest_quarantined"' in ingest.log_text()


async def test_everything_a_gateway_publishes_under_the_root_is_stored_or_dead_lettered(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    # Once, ingest subscribed only to the kinds it knew: these vanished without a trace.
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root)
    good = encode(topic_root, temperature_batch("home-a", "temp-1", 0, 1))[1]
    config = encode(topic_root, examples()[MessageKind.CONFIG].model_copy(update={"home_id": "home-a"}))[1]
    lost: dict[str, tuple[str, bytes, str]] = {
        "v2": (f"{topic_root}/v2/home-a/readings", good, "topic_invalid"),
        "extra level": (f"{topic_root}/v1/home-a/readings/extra", good, "topic_invalid"),
        "unknown kind": (f"{topic_root}/v1/home-a/telemetry", good, "topic_invalid"),
        "a gateway writing its config": (f"{topic_root}/v1/home-a/config", config, "wrong_direction"),
    }
    async with running_ingest(settings) as task:
        await publish_raw(settings, [(topic, payload) for topic, payload, _ in lost.values()])
        await publish(settings, [temperature_batch("home-a", "temp-1", 1, 1)])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == len(lost), what="dead letters")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 1, what="the good message")
        assert not task.done()
    letters = set(rows(db_url, "SELECT topic, reason, home_id FROM dead_letters"))
    assert letters == {(topic, reason, "home-a") for topic, _, reason in lost.values()}


async def test_timestamps_outside_the_window_are_dead_lettered_and_a_wrong_clock_is_visible(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    # Once readings dated 1900 or ten years ahead were stored (a future motion silences inactivity).
    register_homes(db_url, ["home-a"])
    port = free_port()
    settings = _settings(make_settings, topic_root, metrics_port=port)
    now = datetime.now(UTC)

    def reading(seq: int, ts: datetime) -> ReadingBatch:
        return ReadingBatch(home_id="home-a", readings=[Reading(device="pir-1", kind=DeviceKind.MOTION, seq=seq, ts=ts,
                                                                 metric=Metric.MOTION, value=1)])  # fmt: skip

    far_past = json.loads(encode(topic_root, reading(1, now))[1])
    far_past["readings"][0]["ts"] = "1900-01-01T00:00:00Z"
    ahead = 3600.0  # this gateway's clock runs an hour fast
    sos = SosEvent(device="sos-1", kind=DeviceKind.SOS_BUTTON, seq=1, ts=now + timedelta(seconds=ahead), type="sos")
    async with running_ingest(settings):
        await publish_raw(settings, [(f"{topic_root}/v1/home-a/readings", json.dumps(far_past).encode())])
        await publish(settings, [
            reading(2, now + timedelta(days=3650)),  # ten years ahead
            reading(3, now - timedelta(days=500)),  # older than the readings we keep
            reading(4, now - timedelta(seconds=30)),  # fine
            EventBatch(home_id="home-a", events=[sos]),  # a wrong clock never silences an SOS
            Heartbeat(home_id="home-a", ts=now + timedelta(seconds=ahead), uptime_s=5, queue_depth=0),
        ])  # fmt: skip
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == 3, what="dead letters")
        await wait_until(lambda: scalar(db_url, "SELECT clock_offset_s FROM home_state") is not None, what="heartbeat")
        await wait_until(lambda: metric(port, "ingest_alarm_events_outside_window_total") == 1, what="the SOS counted")
        offsets = "ingest_gateway_clock_offset_seconds_bucket"
        await wait_until(lambda: metric(port, offsets, '{le="3600.0"}') == 1, what="the clock offset observed")
        assert await asyncio.to_thread(metric, port, offsets, '{le="300.0"}') == 0  # the server runs in this loop
    reasons = sorted(str(row[0]) for row in rows(db_url, "SELECT reason FROM dead_letters"))
    assert reasons == ["invalid_value", "ts_in_future", "ts_too_old"]
    assert rows(db_url, "SELECT seq FROM readings") == [(4,)]
    assert rows(db_url, "SELECT type FROM alert_inbox") == [("sos",)]
    offset = scalar(db_url, "SELECT clock_offset_s FROM home_state")
    assert ahead - 60 < offset < ahead  # type: ignore[operator]


async def test_a_conflicting_duplicate_is_dead_lettered_and_an_exact_repeat_is_not(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    # The key is (device, seq, ts), on both database flavours. Once, a repeat of a key with another
    # value was dropped without a trace.
    register_homes(db_url, ["home-a"])
    settings = _settings(make_settings, topic_root)
    first = temperature_batch("home-a", "temp-1", 0, 3)
    changed = ReadingBatch(home_id="home-a", readings=[first.readings[1].model_copy(update={"value": 30.5})])
    sos = SosEvent(device="sos-1", kind=DeviceKind.SOS_BUTTON, seq=3, ts=T0, type="sos")
    async with running_ingest(settings):
        await publish(settings, [first, EventBatch(home_id="home-a", events=[sos])])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 3, what="first delivery")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM events") == 1, what="the SOS")
        await publish(settings, [
            first,  # an exact resend: deduplicated, no dead letter
            changed,  # same key, another value
            EventBatch(home_id="home-a", events=[sos.model_copy(update={"press": "long"})]),
            temperature_batch("home-a", "temp-1", 3, 1),  # a marker behind them
        ])  # fmt: skip
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 4, what="the marker")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == 2, what="dead letters")
    letters = rows(db_url, "SELECT reason, topic FROM dead_letters ORDER BY topic")
    assert letters == [
        ("duplicate_conflict", f"{topic_root}/v1/home-a/events"),
        ("duplicate_conflict", f"{topic_root}/v1/home-a/readings"),
    ]
    assert scalar(db_url, "SELECT value FROM readings WHERE seq = 1") == first.readings[1].value  # the first stored wins
    assert rows(db_url, "SELECT data->>'press' FROM events") == [("single",)]


def _malformed(root: str) -> list[tuple[str, bytes, str]]:
    """Every kind of bad message a gateway can send, with the dead-letter reason it must get."""
    topic = f"{root}/v1/home-a/readings"
    good = json.loads(encode(root, temperature_batch("home-a", "temp-x", 0, 1))[1])

    def reading(**changes: object) -> bytes:
        return json.dumps({"home_id": "home-a", "readings": [{**good["readings"][0], **changes}]}).encode()

    future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    config = encode(root, examples()[MessageKind.CONFIG].model_copy(update={"home_id": "home-a"}))[1]
    return [
        (topic, b"[" * 1000 + b"]" * 1000, "not_json"),  # the message that once stopped ingest for everyone
        (topic, b'{"home_id": "home-a", "readings": [{"seq": ' + b"9" * 100_000 + b"}]}", "not_json"),
        (topic, reading(device="\ud800"), "not_json"),
        (topic, b"\xff\xfe\xfd", "not_utf8"),
        (topic, b"", "payload_empty"),
        (topic, b" " * 300_000, "payload_too_large"),
        (topic, b"[1, 2]", "not_an_object"),
        (topic, reading(colour="red"), "unknown_field"),
        (topic, reading(seq="12"), "wrong_type"),
        (topic, reading(value=True), "wrong_type"),
        (topic, reading(value=1e999), "invalid_value"),
        (topic, reading(ts="1900-01-01T00:00:00Z"), "invalid_value"),
        (topic, reading(ts=future), "ts_in_future"),
        (topic, reading(seq=0, value=99.5), "duplicate_conflict"),  # temp-x seq 0 is stored first, with 20.0
        (f"{root}/v1/home-b/readings", reading(), "home_mismatch"),
        (f"{root}/v2/home-a/readings", reading(), "topic_invalid"),
        (f"{root}/v1/home-a/readings/extra", reading(), "topic_invalid"),
        (f"{root}/v1/home-a/telemetry", reading(), "topic_invalid"),
        (f"{root}/v1/home-a/config", config, "wrong_direction"),
        (*encode(root, temperature_batch("home-z", "temp-z", 0, 1)), "unknown_home"),
    ]


async def test_each_malformed_message_between_good_ones_at_the_running_cli(
    db_url: str, env_for: Callable[..., dict[str, str]], make_settings: Callable[..., Settings], tmp_path: Path, topic_root: str
) -> None:
    register_homes(db_url, ["home-a", "home-b"])
    settings = make_settings()
    env = env_for(ingest__client_id=f"ingest-{topic_root}", ingest__metrics_port="0")
    ingest = ServiceProcess(["ingest"], env, tmp_path / "ingest.log").start()
    bad = _malformed(topic_root)
    try:
        await asyncio.to_thread(ingest.wait_for_log, '"ingest_ready"', 60)
        await publish(settings, [temperature_batch("home-a", "temp-x", 0, 1)])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 1, what="the first good message")
        for index, (topic, payload, _) in enumerate(bad):
            await publish_raw(settings, [(topic, payload)])
            await publish(settings, [temperature_batch("home-a", "temp-good", index, 1)])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM readings") == 1 + len(bad), what="every good message")
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM dead_letters") == len(bad), what="every bad one")
        assert ingest.process is not None
        assert ingest.process.poll() is None, ingest.log_text()[-3000:]
    finally:
        assert ingest.stop() == 0, ingest.log_text()[-3000:]
    letters = sorted((str(topic), str(reason)) for topic, reason in rows(db_url, "SELECT topic, reason FROM dead_letters"))
    assert letters == sorted((topic, reason) for topic, _, reason in bad)
