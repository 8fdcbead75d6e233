"""Who watches the watcher: the engine tells care centres when alerts may be delayed, and pings an
outside dead-man's switch only while the platform can raise alarms; a killed platform is noticed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from alerts.platform import Reading, degradations
from eldercare.clock import FixedClock
from eldercare.config import AlertsSettings, Settings
from tests.alerts.support import SECRET, add_channel, add_inbox, engine_for, seed_home, smtp_server, sql, webhook_receiver
from tests.support.processes import ServiceProcess
from tests.support.watchdog import Watchdog

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
CFG = AlertsSettings()  # the defaults: stale after 600 s, offline share 0.5 of at least 5, inbox 120 s


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (Reading(online=10, offline=0, last_data_at=T0 - timedelta(seconds=599), oldest_inbox_at=None), set()),
        (Reading(online=10, offline=0, last_data_at=T0 - timedelta(seconds=600), oldest_inbox_at=None), {"ingest_stalled"}),
        (Reading(online=3, offline=0, last_data_at=None, oldest_inbox_at=None), {"ingest_stalled"}),
        # Every gateway offline: nothing is expected from them, the outage is what is reported.
        (Reading(online=0, offline=8, last_data_at=T0 - timedelta(hours=1), oldest_inbox_at=None), {"gateways_offline"}),
        (Reading(online=5, offline=5, last_data_at=T0, oldest_inbox_at=None), {"gateways_offline"}),
        (Reading(online=6, offline=4, last_data_at=T0, oldest_inbox_at=None), set()),  # under half
        (Reading(online=1, offline=4, last_data_at=T0, oldest_inbox_at=None), set()),  # fewer than 5
        (Reading(online=2, offline=0, last_data_at=T0, oldest_inbox_at=T0 - timedelta(seconds=119)), set()),
        (Reading(online=2, offline=0, last_data_at=T0, oldest_inbox_at=T0 - timedelta(seconds=120)), {"inbox_delayed"}),
        (Reading(online=0, offline=0, last_data_at=None, oldest_inbox_at=None), set()),  # no home yet
    ],
)
def test_degradations(reading: Reading, expected: set[str]) -> None:
    assert set(degradations(reading, T0, CFG)) == expected


def _online(db_url: str, homes: list[str], at: datetime) -> None:
    """What ingest leaves behind: each home's state, committed at ``at`` (its clock)."""
    for home in homes:
        sql(
            db_url,
            "INSERT INTO home_state (home_id, gateway_state, gateway_state_at, last_heartbeat_at, updated_at)"
            " VALUES (%s, 'online', %s, %s, %s) ON CONFLICT (home_id) DO UPDATE SET updated_at = EXCLUDED.updated_at",
            (home, at, at, at),
        )


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog(grace_s=2.0).start()
    yield dog
    dog.stop()


async def test_ingest_stalled_tells_every_centre_once_withholds_heartbeats_then_recovers(
    db_url: str, make_settings: Callable[..., Settings], watchdog: Watchdog
) -> None:
    centre_a, _ = seed_home(db_url, "h1")
    centre_b, _ = seed_home(db_url, "h2")
    clock = FixedClock(T0)
    with webhook_receiver() as duty, webhook_receiver() as supervisor, smtp_server() as (smtp_port, mailbox):
        add_channel(db_url, centre_a, "webhook", duty.url)
        add_channel(db_url, centre_a, "webhook", supervisor.url, tier=1)  # the supervisor hears of alerts, not of this
        add_channel(db_url, centre_b, "email", "duty-b@example.org")
        alerts = {"heartbeat_url": watchdog.url, "clear_hold_s": 120, "smtp_host": "127.0.0.1", "smtp_port": smtp_port}
        settings = make_settings(alerts=alerts)
        _online(db_url, ["h1", "h2"], T0)
        async with engine_for(settings, clock) as engine, engine_for(settings, clock) as other_copy:
            await engine.evaluate_once()
            clock.advance(timedelta(minutes=5))
            assert await engine.platform_once() == {}
            assert len(watchdog.pings) == 1, "healthy and on time: the outside watchdog hears from us"

            clock.advance(timedelta(minutes=6))  # 11 min since ingest last committed anything
            assert set(await engine.platform_once()) == {"ingest_stalled"}
            assert set(await other_copy.platform_once()) == {"ingest_stalled"}  # both see it; one incident
            assert len(watchdog.pings) == 1, "degraded: the heartbeat is withheld"
            while (await engine.deliver_once()).handled:
                pass
            (notice,) = duty.received
            assert notice.signature_ok(SECRET)
            body = notice.json()
            assert body["purpose"] == "platform_degraded"
            assert body["notice"]["reason"] == "ingest_stalled"
            assert "call the residents at risk" in body["text_en"]
            assert "请致电高风险老人" in body["text_zh"]
            assert "2026-03-02 06:00 (UTC)" in body["text_en"], "since when nothing has arrived, in the centre's timezone"
            (mail,) = mailbox.messages
            text = message_from_bytes(mail[1], policy=policy.default).get_body().get_content()  # type: ignore[union-attr]
            assert "告警可能延迟" in text
            assert "Alerts may be delayed" in text
            assert supervisor.received == []

            _online(db_url, ["h1", "h2"], clock.now())  # ingest is back
            assert await engine.platform_once() == {}
            clock.advance(timedelta(minutes=3))  # clear for longer than clear_hold_s
            await engine.evaluate_once()
            assert await other_copy.platform_once() == {}
            assert await engine.platform_once() == {}
            while (await engine.deliver_once()).handled:
                pass
            assert [r.json()["purpose"] for r in duty.received] == ["platform_degraded", "platform_recovered"]
            assert duty.received[1].json()["title_zh"] == "告警已恢复正常"
            assert len(mailbox.messages) == 2
            assert len(watchdog.pings) >= 2, "healthy again: the heartbeat resumes"
    incidents = sql(db_url, "SELECT reason, opened_at, closed_at IS NOT NULL FROM platform_incidents")
    assert incidents == [("ingest_stalled", T0 + timedelta(minutes=11), True)]


async def test_an_event_waiting_too_long_is_a_degradation(db_url: str, make_settings: Callable[..., Settings]) -> None:
    centre, _ = seed_home(db_url, "h1")
    _online(db_url, ["h1"], T0)
    with webhook_receiver() as duty:
        add_channel(db_url, centre, "webhook", duty.url)
        add_inbox(db_url, "h1", "sos", T0)  # received at the database's now(): wall time
        received_at = sql(db_url, "SELECT received_at FROM alert_inbox")[0][0]
        clock = FixedClock(received_at + timedelta(seconds=121))
        _online(db_url, ["h1"], clock.now())
        async with engine_for(make_settings(), clock) as engine:
            assert set(await engine.platform_once()) == {"inbox_delayed"}
            await engine.drain_inbox()
            assert await engine.platform_once() == {}


@pytest.mark.e2e
def test_a_killed_platform_is_noticed_by_the_outside_watchdog(
    env_for: Callable[..., dict[str, str]], db_url: str, watchdog: Watchdog, tmp_path: Path
) -> None:
    seed_home(db_url, "h1")
    _online(db_url, ["h1"], datetime.now(UTC))
    env = env_for(
        alerts__heartbeat_url=watchdog.url,
        alerts__platform_check_interval_s="0.2",
        alerts__evaluation_interval_s="0.2",
        alerts__metrics_port="0",
    )
    alerts = ServiceProcess(["alerts"], env, tmp_path / "alerts.log").start()
    try:
        _wait(lambda: len(watchdog.pings) >= 3, alerts, "three heartbeats")
        assert watchdog.alarmed_at is None
    finally:
        alerts.kill()  # SIGKILL: the process gets no chance to say anything
    killed = time.time()
    _wait(lambda: watchdog.alarmed_at is not None, alerts, "the watchdog's alarm")
    assert watchdog.pings[-1] <= killed
    assert "heartbeat_failed" not in alerts.log_text()


def _wait(condition: Callable[[], Any], process: ServiceProcess, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s:\n{process.log_text()[-3000:]}")
        time.sleep(0.05)
