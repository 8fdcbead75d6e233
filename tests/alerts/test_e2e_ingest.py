"""End to end: a gateway publishes over MQTT, ingest hands over through alert_inbox, the engine
notifies a real webhook. Both services run as the real CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eldercare.config import Settings
from eldercare.contracts.payloads import DeviceKind, EventBatch, FallEvent, FallEvidence, GatewayStatus, Room, SosEvent
from eldercare.mqtt import connect, publish
from tests.alerts.support import add_channel, seed_home, sql, webhook_receiver
from tests.alerts.test_cli import FAST, wait_until
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


async def gateway_publishes(settings: Settings, home: str) -> None:
    now = datetime.now(UTC)
    fall = FallEvent(
        device="w-1", kind=DeviceKind.WEARABLE, seq=1, ts=now, room=Room.BATHROOM, type="fall", confidence=0.93,
        evidence=FallEvidence(peak_g=3.1, orientation_change_deg=80, stillness_g=0.05),
    )  # fmt: skip
    # A double press in the fall's cancel window: help, so the fall is raised at once with the SOS.
    sos = SosEvent(device="b-1", kind=DeviceKind.SOS_BUTTON, seq=1, ts=now, type="sos", press="double")
    async with connect(settings, client_id=f"gw-{home}") as client:
        await publish(client, settings.mqtt.topic_root, EventBatch(home_id=home, events=[fall, sos]))
        await publish(client, settings.mqtt.topic_root, GatewayStatus(home_id=home, state="offline", ts=now, reason="shutdown"))


def test_events_published_by_a_gateway_reach_the_webhook(
    db_url: str, env_for: Callable[..., dict[str, str]], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    centre, _ = seed_home(db_url, "home-e2e", rule_settings={"devices": {"gateway_offline_after_s": 0}})
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        ingest = ServiceProcess(
            ["ingest"], env_for(ingest__metrics_port="0", ingest__client_id=f"ing-{centre}"), tmp_path / "i.log"
        )
        alerts = ServiceProcess(["alerts"], env_for(**FAST), tmp_path / "alerts.log")
        try:
            ingest.start()
            alerts.start()
            ingest.wait_for_log('"ingest_ready"', 60)
            alerts.wait_for_log("alerts_started", 60)
            asyncio.run(gateway_publishes(make_settings(), "home-e2e"))
            wait_until(lambda: len(receiver.received) >= 3, "three notifications")
        finally:
            alerts.stop()
            ingest.stop()
    kinds = sorted(r.json()["alert"]["kind"] for r in receiver.received)
    assert kinds == ["fall", "gateway_offline", "sos"]
    assert all(r.signature_ok() for r in receiver.received)
    assert sql(db_url, "SELECT count(*) FROM alert_inbox") == [(0,)]
    assert sorted(k for (k,) in sql(db_url, "SELECT kind FROM alerts")) == kinds


async def two_falls(settings: Settings, answered: str, alone: str) -> None:
    """One home's resident presses "I'm OK" after the fall; the other's does not."""
    now = datetime.now(UTC) - timedelta(seconds=2)  # the press is not in the future either
    for home in (answered, alone):
        fall = FallEvent(
            device=f"{home}-w", kind=DeviceKind.WEARABLE, seq=1, ts=now, type="fall", confidence=0.9,
            evidence=FallEvidence(peak_g=3.1, orientation_change_deg=80, stillness_g=0.05),
        )  # fmt: skip
        events: list[FallEvent | SosEvent] = [fall]
        if home == answered:  # 2 s after the impact
            pressed = now + timedelta(seconds=2)
            events.append(SosEvent(device=f"{home}-b", kind=DeviceKind.SOS_BUTTON, seq=1, ts=pressed, type="sos", press="single"))
        async with connect(settings, client_id=f"gw-{home}") as client:
            await publish(client, settings.mqtt.topic_root, EventBatch(home_id=home, events=events))


def test_a_fall_the_resident_cancels_calls_nobody_and_one_nobody_cancels_is_raised_when_the_window_ends(
    db_url: str, env_for: Callable[..., dict[str, str]], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    window = {"fall": {"cancel_window_s": 6}}
    centre, _ = seed_home(db_url, "home-ok", rule_settings=window)
    other, _ = seed_home(db_url, "home-fell", rule_settings=window)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        add_channel(db_url, other, "webhook", receiver.url)
        ingest = ServiceProcess(
            ["ingest"], env_for(ingest__metrics_port="0", ingest__client_id=f"ing-{centre}"), tmp_path / "i.log"
        )
        alerts = ServiceProcess(["alerts"], env_for(**FAST), tmp_path / "alerts.log")
        try:
            ingest.start()
            alerts.start()
            ingest.wait_for_log('"ingest_ready"', 60)
            alerts.wait_for_log("alerts_started", 60)
            asyncio.run(two_falls(make_settings(), "home-ok", "home-fell"))
            wait_until(lambda: len(receiver.received) >= 1, "the uncancelled fall's notification")
            wait_until(
                lambda: sql(db_url, "SELECT status FROM alerts WHERE home_id = 'home-ok'") == [("resolved",)], "the cancel"
            )
        finally:
            alerts.stop()
            ingest.stop()
    assert [(r.json()["alert"]["home_id"], r.json()["alert"]["kind"]) for r in receiver.received] == [("home-fell", "fall")]
    rows = sql(db_url, "SELECT home_id, kind, status, outcome FROM alerts ORDER BY home_id")
    assert rows == [("home-fell", "fall", "open", None), ("home-ok", "fall", "resolved", "cancelled_by_resident")]
    opened, raised = sql(db_url, "SELECT opened_at, updated_at FROM alerts WHERE home_id = 'home-fell'")[0]
    assert (raised - opened).total_seconds() >= 3  # raised when the window ended, not on arrival
