"""Hostile messages at a running ingest: one message may fail, never the process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import psycopg

from eldercare.config import Settings
from eldercare.contracts import MessageKind, encode
from eldercare.contracts.examples import examples
from tests.ingest.support import publish, publish_raw, register_homes, rows, running_ingest, scalar, temperature_batch, wait_until
from tests.support.broker import PrivateBroker
from tests.support.processes import ServiceProcess


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
    return int(scalar(db_url, query))  # type: ignore[call-overload]


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
