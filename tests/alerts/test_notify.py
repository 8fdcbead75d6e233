"""Notification delivery over real receivers: webhook (signed), SMTP (aiosmtpd), apprise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alerts.notify.channels import sign
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.alerts.support import SECRET, add_channel, add_inbox, engine_for, seed_home, smtp_server, sql, webhook_receiver

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def settings_for(make_settings: Callable[..., Settings], **alerts: object) -> Settings:
    values: dict[str, object] = {"notify_retry_min_s": 10, "notify_retry_max_s": 40, "notify_timeout_s": 5}
    values.update(alerts)
    return make_settings(alerts=values)


async def test_receiver_down_for_a_while_gets_the_notification_later_exactly_once(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, _ = seed_home(db_url)
    clock = FixedClock(T0)
    with webhook_receiver(started=False) as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        add_inbox(db_url, "h1", "sos", T0)
        async with engine_for(settings_for(make_settings), clock) as engine:
            await engine.inbox_once()
            for _ in range(3):  # down: each attempt fails and is retried later, with growing backoff
                assert (await engine.deliver_once()).retried == 1
                assert (await engine.deliver_once()).handled == 0  # not due again yet
                clock.advance(timedelta(seconds=60))
            receiver.start()
            assert (await engine.deliver_once()).sent == 1
            clock.advance(timedelta(hours=1))
            assert (await engine.deliver_once()).handled == 0
    assert len(receiver.received) == 1
    attempts = sql(db_url, "SELECT ok, status_code IS NULL, error IS NOT NULL FROM notification_attempts ORDER BY id")
    assert attempts == [(False, True, True)] * 3 + [(True, False, False)]
    assert sql(db_url, "SELECT status, attempts FROM notification_outbox") == [("sent", 4)]


async def test_the_receiver_verifies_the_signature_over_the_exact_body(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, _ = seed_home(db_url, rule_settings={"fall": {"cancel_window_s": 0}})
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        add_inbox(db_url, "h1", "fall", T0, room="kitchen", confidence=0.8)
        async with engine_for(settings_for(make_settings), FixedClock(T0)) as engine:
            await engine.inbox_once()
            await engine.deliver_once()
    (got,) = receiver.received
    assert got.signature_ok(SECRET)
    assert not got.signature_ok("another-secret")
    assert got.headers["x-eldercare-signature"] != sign(SECRET, got.body + b" ")  # any change to the body breaks it
    body = got.json()
    assert got.headers["x-eldercare-timestamp"] == str(body["sent_at"]) == str(int(T0.timestamp()))
    assert got.headers["x-eldercare-delivery"] == str(body["delivery_id"])
    assert body["alert"]["explanation_zh"]
    assert body["alert"]["explanation_en"]


async def test_client_errors_fail_for_good_server_errors_are_retried(db_url: str, make_settings: Callable[..., Settings]) -> None:
    centre, _ = seed_home(db_url)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        add_inbox(db_url, "h1", "sos", T0)
        async with engine_for(settings_for(make_settings, notify_max_attempts=3), FixedClock(T0)) as engine:
            await engine.inbox_once()
            receiver.status = 503
            assert (await engine.deliver_once()).retried == 1
            engine.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
            receiver.status = 400
            assert (await engine.deliver_once()).failed == 1
    assert sql(db_url, "SELECT status_code FROM notification_attempts ORDER BY id") == [(503,), (400,)]
    assert sql(db_url, "SELECT status FROM notification_outbox") == [("failed",)]


async def test_email_and_apprise_channels_and_emergency_contacts_at_level_two(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    with smtp_server() as (smtp_port, mailbox), webhook_receiver() as im:
        contacts = [{"name": "daughter", "email": "daughter@example.org", "apprise_url": f"json://127.0.0.1:{im.port}/family"}]
        centre, _ = seed_home(db_url, contacts=contacts)
        add_channel(db_url, centre, "email", "duty@centre.example")
        add_channel(db_url, centre, "apprise", f"json://127.0.0.1:{im.port}/duty")
        add_channel(db_url, centre, "email", "supervisor@centre.example", tier=1)
        settings = settings_for(make_settings, smtp_port=smtp_port, escalate_critical_s=120)
        clock = FixedClock(T0)
        add_inbox(db_url, "h1", "sos", T0)
        async with engine_for(settings, clock) as engine:
            await engine.inbox_once()
            assert (await engine.deliver_once()).sent == 2
            for _ in range(2):
                clock.advance(timedelta(seconds=120))
                assert await engine.escalate_once() == 1
                while (await engine.deliver_once()).handled:
                    pass
            clock.advance(timedelta(hours=1))
            assert await engine.escalate_once() == 0  # level 2 is the last
    # opened: duty; level 1: duty reminded, supervisor told; level 2: both reminded, the daughter told
    recipients = sorted(to for (to,), _ in mailbox.messages)
    expected = ["daughter@example.org"] + ["duty@centre.example"] * 3 + ["supervisor@centre.example"] * 2
    assert recipients == expected
    first = mailbox.messages[0][1].decode()
    assert "Subject:" in first
    assert "SOS" in first
    paths = sorted(r.path for r in im.received)
    assert paths == ["/duty", "/duty", "/duty", "/family"]
    assert "紧急呼叫" in im.received[0].json()["title"]
    assert sql(db_url, "SELECT count(*) FROM notification_outbox WHERE status <> 'sent'") == [(0,)]
