"""The real ``eldercare alerts`` as subprocesses: crashes, two copies, graceful stop, metrics."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.alerts.support import add_channel, add_inbox, seed_home, sql, webhook_receiver
from tests.support.processes import ServiceProcess, readiness, run_cli
from tests.support.proxy import TcpProxy, proxy_to_database
from tests.support.services import free_port

pytestmark = pytest.mark.e2e

FAST = {
    "alerts__inbox_poll_interval_s": "0.5",
    "alerts__outbox_poll_interval_s": "0.2",
    "alerts__evaluation_interval_s": "2",
    "alerts__notify_retry_min_s": "0.2",
    "alerts__notify_retry_max_s": "0.5",
    "alerts__notify_timeout_s": "3",
    "alerts__metrics_port": "0",
}


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Wait for a state (not a timing assertion: the deadline only bounds a hung run)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def engine(env_for: Callable[..., dict[str, str]], tmp_path: Path, name: str, **extra: str) -> ServiceProcess:
    return ServiceProcess(["alerts"], env_for(**{**FAST, "instance": name, **extra}), tmp_path / f"{name}.log")


def test_killed_before_notifying_the_notification_is_sent_after_restart(
    db_url: str, env_for: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    centre, _ = seed_home(db_url)
    with webhook_receiver(started=False) as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        first = engine(env_for, tmp_path, "first").start()
        try:
            first.wait_for_log("alerts_started", 90)
            add_inbox(db_url, "h1", "sos", datetime.now(UTC))
            # The alert is committed; the receiver is not up, so nobody has been told yet.
            wait_until(lambda: sql(db_url, "SELECT count(*) FROM notification_attempts") != [(0,)], "a failed attempt")
        finally:
            first.kill()
        assert sql(db_url, "SELECT status FROM alerts") == [("open",)]
        assert sql(db_url, "SELECT status FROM notification_outbox") == [("pending",)]
        receiver.start()
        second = engine(env_for, tmp_path, "second").start()
        try:
            wait_until(lambda: sql(db_url, "SELECT status FROM notification_outbox") == [("sent",)], "delivery after restart")
        finally:
            assert second.stop() == 0
    assert len(receiver.received) == 1
    assert receiver.received[0].signature_ok()


def test_two_engine_processes_one_alert_and_one_notification_per_event(
    db_url: str, env_for: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    homes = [f"h{i}" for i in range(6)]
    with webhook_receiver() as receiver:
        for home in homes:
            # A short cancel window: both copies judge the pending falls when it ends, each fall once.
            centre, _ = seed_home(db_url, home, rule_settings={"fall": {"cancel_window_s": 2}})
            add_channel(db_url, centre, "webhook", receiver.url)
        copies = [engine(env_for, tmp_path, f"copy{i}").start() for i in range(2)]
        try:
            for copy in copies:
                copy.wait_for_log("alerts_started", 90)
            now = datetime.now(UTC)
            for seq in range(3):
                for home in homes:
                    add_inbox(db_url, home, "fall", now, seq=seq, confidence=0.9)
            wait_until(lambda: sql(db_url, "SELECT count(*) FROM alert_inbox") == [(0,)], "inbox drained")
            wait_until(
                lambda: sql(db_url, "SELECT count(*) FROM notification_outbox WHERE status = 'sent'") == [(len(homes),)],
                "every notification sent",
            )
        finally:
            codes = [copy.stop() for copy in copies]
    assert codes == [0, 0]
    assert sorted(h for (h,) in sql(db_url, "SELECT home_id FROM alerts")) == homes
    assert sorted(r.json()["alert"]["home_id"] for r in receiver.received) == homes
    assert sql(db_url, "SELECT count(*) FROM notification_attempts") == [(len(homes),)]


def test_metrics_endpoint_and_graceful_stop(db_url: str, env_for: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    port = free_port()
    service = engine(env_for, tmp_path, "metrics", alerts__metrics_port=str(port)).start()
    try:
        service.wait_for_log("alerts_started", 90)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        code = service.stop()
    assert code == 0
    assert "eldercare_alerts_inbox_items_total" in text
    assert "alerts_stopped" in service.log_text()


def test_bad_configuration_exits_2_listing_the_problem(env_for: Callable[..., dict[str, str]]) -> None:
    result = run_cli(["alerts"], env_for(alerts__escalate_high_s="-1"))
    assert result.returncode == 2
    assert "ELDERCARE_ALERTS__ESCALATE_HIGH_S" in result.stderr


def test_a_database_without_the_schema_exits_2(databases: object, env_for: Callable[..., dict[str, str]]) -> None:
    from tests.support.databases import DatabaseFactory

    assert isinstance(databases, DatabaseFactory)
    empty = databases.empty()
    try:
        result = run_cli(["alerts"], {**env_for(), "ELDERCARE_DATABASE_URL": empty})
    finally:
        databases.drop(empty)
    assert result.returncode == 2
    assert "eldercare db migrate" in result.stderr


def test_starts_and_stays_up_while_the_database_is_away(
    db_url: str, env_for: Callable[..., dict[str, str]], tcp_proxy: Callable[[str, int], TcpProxy], tmp_path: Path
) -> None:
    """It used to exit at once (`database unavailable: PoolTimeout`); now it waits, and says so."""
    seed_home(db_url)
    proxy, via_proxy = proxy_to_database(tcp_proxy, db_url)
    proxy.cut()
    port = free_port()
    extra = {"alerts__metrics_port": str(port), "db__connect_timeout_s": "1", "db__retry_max_s": "0.5"}
    service = ServiceProcess(
        ["alerts"], {**env_for(**{**FAST, **extra}), "ELDERCARE_DATABASE_URL": via_proxy}, tmp_path / "a.log"
    )
    service.start()
    try:
        wait_until(lambda: service.log_text().count('"dependency_waiting"') >= 3, "three attempts, each logged")
        assert service.process is not None
        assert service.process.poll() is None
        status, body = readiness(port)
        assert (status, list(body["waiting_for"])) == (503, ["database"])  # type: ignore[call-overload]
        proxy.restore()
        service.wait_for_log("alerts_started", 90)
        assert readiness(port)[0] == 200
        add_inbox(db_url, "h1", "sos", datetime.now(UTC))
        wait_until(lambda: sql(db_url, "SELECT kind FROM alerts") == [("sos",)], "the SOS alert")
        proxy.cut()  # gone again while running: not ready, still up
        wait_until(lambda: readiness(port)[0] == 503, "not ready while the database is away")
        proxy.restore()
        wait_until(lambda: readiness(port)[0] == 200, "ready again")
    finally:
        assert service.stop() == 0, service.log_text()[-3000:]
