"""The fall pipeline on a real database, driven step by step with a FixedClock, its notifications
sent to a real webhook receiver: the cancel window, the home's confirmation, the night."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from alerts.engine import Engine
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.alerts.support import (
    WebhookReceiver,
    add_channel,
    add_inbox,
    add_motion,
    alerts_of,
    engine_for,
    seed_home,
    sql,
    webhook_receiver,
)
from tests.alerts.test_engine import settings_for

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HARD: dict[str, Any] = {"confidence": 0.9, "evidence": {"peak_g": 3.2, "orientation_change_deg": 84.0, "stillness_g": 0.02}}
SOFT: dict[str, Any] = {"confidence": 0.3, "evidence": {"peak_g": 1.4, "orientation_change_deg": 88.0, "stillness_g": 0.01}}


def add_bed(db_url: str, at: datetime, state: str, seq: int) -> None:
    sql(
        db_url,
        "INSERT INTO events (home_id, device_id, seq, ts, type, room, data) VALUES ('h1', 'h1-bed', %s, %s, 'bed', 'bedroom', %s)",
        (seq, at, Jsonb({"state": state})),
    )


def fall_alert(db_url: str) -> dict[str, Any]:
    rows = sql(
        db_url,
        "SELECT severity, status, outcome, explanation_en, explanation_zh, pending_until, evidence FROM alerts"
        " WHERE kind = 'fall' ORDER BY id",
    )
    assert len(rows) == 1
    keys = ("severity", "status", "outcome", "en", "zh", "pending_until", "evidence")
    return dict(zip(keys, rows[0], strict=True))


def history(db_url: str) -> list[tuple[str, Any]]:
    return [(r[0], r[1].get("outcome")) for r in sql(db_url, "SELECT action, details FROM alert_history ORDER BY id")]


async def at(engine: Engine, clock: FixedClock, seconds: float) -> None:
    """Move to ``seconds`` after T0 and run what the engine's loops run then."""
    clock.advance(T0 + timedelta(seconds=seconds) - clock.now())
    await engine.drain_inbox()
    await engine.decide_falls_once()
    while (await engine.deliver_once()).handled:
        pass


async def run(
    db_url: str,
    make_settings: Callable[..., Settings],
    receiver: WebhookReceiver,
    script: Sequence[tuple[float, Callable[[], None]]],
    until: float,
) -> None:
    clock = FixedClock(T0)
    async with engine_for(settings_for(make_settings), clock) as engine:
        for second, act in script:
            act()
            await at(engine, clock, second)
        await at(engine, clock, until)


async def test_a_fall_nobody_cancels_waits_the_window_then_is_raised_and_notified(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, _ = seed_home(db_url)
    add_motion(db_url, "h1", T0 - timedelta(seconds=30), room="bathroom")
    clock = FixedClock(T0)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        add_inbox(db_url, "h1", "fall", T0, seq=5, **HARD)
        async with engine_for(settings_for(make_settings), clock) as engine:
            await at(engine, clock, 2)
            pending = fall_alert(db_url)
            assert (pending["status"], pending["pending_until"]) == ("pending", T0 + timedelta(seconds=30))
            assert "waiting 30 s for the resident" in pending["en"].lower()
            assert "等待老人回应 30 秒" in pending["zh"]
            assert receiver.received == []  # nobody is told while the resident may still answer
            assert sql(db_url, "SELECT count(*) FROM notification_outbox") == [(0,)]
            await at(engine, clock, 29.9)
            assert fall_alert(db_url)["status"] == "pending"
            await at(engine, clock, 30)
    raised = fall_alert(db_url)
    assert (raised["severity"], raised["status"], raised["pending_until"]) == ("critical", "open", None)
    assert "no answer within 30 s and no movement in another room" in raised["en"]
    assert "确认为跌倒" in raised["zh"]
    assert len(raised["evidence"]["steps"]) == 2
    assert [r.json()["alert"]["kind"] for r in receiver.received] == ["fall"]
    assert history(db_url) == [("opened", None), ("confirmed", None)]
    # Raised means escalated like any critical alert from now on.
    assert sql(db_url, "SELECT next_escalation_at FROM alerts") == [(T0 + timedelta(seconds=30 + 120),)]


async def test_i_am_ok_in_the_window_closes_it_and_nobody_is_called(db_url: str, make_settings: Callable[..., Settings]) -> None:
    centre, _ = seed_home(db_url)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        script = [
            (1, lambda: add_inbox(db_url, "h1", "fall", T0, seq=5, **HARD)),
            (12, lambda: add_inbox(db_url, "h1", "sos", T0 + timedelta(seconds=11), seq=6, press="single")),
        ]
        await run(db_url, make_settings, receiver, script, until=120)
    closed = fall_alert(db_url)
    assert (closed["status"], closed["outcome"]) == ("resolved", "cancelled_by_resident")
    assert "pressed “I'm OK” (11 s after): cancelled, nobody was called" in closed["en"]
    assert "老人按下“我没事”" in closed["zh"]
    assert [a[1] for a in alerts_of(db_url)] == ["fall"]  # the press raised no SOS
    assert receiver.received == []
    assert sql(db_url, "SELECT count(*) FROM notification_outbox") == [(0,)]
    assert history(db_url) == [("opened", None), ("resolved", "cancelled_by_resident")]


async def test_a_double_press_in_the_window_means_help(db_url: str, make_settings: Callable[..., Settings]) -> None:
    centre, _ = seed_home(db_url)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        script = [
            (1, lambda: add_inbox(db_url, "h1", "fall", T0, seq=5, **HARD)),
            (8, lambda: add_inbox(db_url, "h1", "sos", T0 + timedelta(seconds=7), seq=6, press="double")),
        ]
        await run(db_url, make_settings, receiver, script, until=8)
    assert sorted((a[1], a[3]) for a in alerts_of(db_url)) == [("fall", "open"), ("sos", "open")]
    assert "asked for help (double press, 7 s after): raised at once" in fall_alert(db_url)["en"]
    assert sorted(r.json()["alert"]["kind"] for r in receiver.received) == ["fall", "sos"]


async def test_a_press_outside_the_window_is_an_sos_as_always(db_url: str, make_settings: Callable[..., Settings]) -> None:
    centre, _ = seed_home(db_url)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        script = [
            (1, lambda: add_inbox(db_url, "h1", "fall", T0, seq=5, **HARD)),
            (40, lambda: add_inbox(db_url, "h1", "sos", T0 + timedelta(seconds=35), seq=6, press="single")),
        ]
        await run(db_url, make_settings, receiver, script, until=40)
    assert sorted((a[1], a[3]) for a in alerts_of(db_url)) == [("fall", "open"), ("sos", "open")]
    assert len(receiver.received) == 2


async def test_walking_to_another_room_downgrades_it(db_url: str, make_settings: Callable[..., Settings]) -> None:
    centre, _ = seed_home(db_url)
    add_motion(db_url, "h1", T0 - timedelta(seconds=30), room="bathroom", seq=1)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        script = [
            (1, lambda: add_inbox(db_url, "h1", "fall", T0, seq=5, **HARD)),
            (25, lambda: add_motion(db_url, "h1", T0 + timedelta(seconds=24), room="kitchen", seq=2)),
        ]
        await run(db_url, make_settings, receiver, script, until=30)
    walked = fall_alert(db_url)
    assert (walked["severity"], walked["status"]) == ("medium", "open")
    assert "movement in the kitchen 24 s after the fall" in walked["en"]
    assert "降为中级" in walked["zh"]
    assert [r.json()["alert"]["severity"] for r in receiver.received] == ["medium"]


async def test_a_soft_fall_followed_by_stillness_is_raised_and_one_followed_by_life_is_not(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, _ = seed_home(db_url)
    seed_home(db_url, "h2")
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        script = [
            (1, lambda: add_inbox(db_url, "h1", "fall", T0, seq=5, **SOFT)),
            (1.5, lambda: add_inbox(db_url, "h2", "fall", T0, seq=5, **SOFT)),
            (40, lambda: add_motion(db_url, "h2", T0 + timedelta(seconds=39), room="living_room", seq=2)),
            (60, lambda: None),
        ]
        await run(db_url, make_settings, receiver, script, until=119)
        assert [a[3] for a in alerts_of(db_url)] == ["pending"]  # the window is over, the confirmation is not
        assert [a[3] for a in alerts_of(db_url, "h2")] == ["pending"]
        await run(db_url, make_settings, receiver, [], until=120)
    assert [a[2:] for a in alerts_of(db_url)] == [("critical", "open")]
    still = sql(db_url, "SELECT explanation_en FROM alerts WHERE home_id = 'h1'")[0][0]
    assert "possible soft fall" in still
    assert "no sign of life anywhere in the home for 120 s" in still
    assert sql(db_url, "SELECT status, outcome FROM alerts WHERE home_id = 'h2'") == [("resolved", "resident_got_up")]
    assert [r.json()["alert"]["home_id"] for r in receiver.received] == ["h1"]


async def test_at_night_turning_over_in_bed_is_closed_and_a_fall_out_of_bed_is_raised(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, _ = seed_home(db_url)
    add_bed(db_url, T0 - timedelta(hours=3), "occupied", seq=1)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        await run(db_url, make_settings, receiver, [(1, lambda: add_inbox(db_url, "h1", "fall", T0, seq=5, **HARD))], until=30)
        rolled = fall_alert(db_url)
        assert (rolled["status"], rolled["outcome"]) == ("resolved", "rolled_over_in_bed")
        assert "in bed: probably turning over" in rolled["en"]
        assert "床上翻身" in rolled["zh"]
        sql(db_url, "DELETE FROM alerts")
        later = T0 + timedelta(minutes=10)
        add_inbox(db_url, "h1", "fall", later, seq=7, **HARD)
        add_bed(db_url, later + timedelta(seconds=1), "vacated", seq=2)
        clock = FixedClock(later)
        async with engine_for(settings_for(make_settings), clock) as engine:
            await engine.drain_inbox()
            clock.advance(timedelta(seconds=30))
            await engine.decide_falls_once()
            while (await engine.deliver_once()).handled:
                pass
    fell = fall_alert(db_url)
    assert (fell["severity"], fell["status"]) == ("critical", "open")
    assert "the bed became empty and nothing moved anywhere else: a fall out of bed" in fell["en"]
    assert [r.json()["alert"]["kind"] for r in receiver.received] == ["fall"]


async def test_a_press_at_the_very_instant_of_the_fall_is_judged_after_it(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    """Items reach the inbox in the order ingest stored them (by time, then device id): the press
    may come first. The engine judges a home's items in the order they happened, a fall first."""
    centre, _ = seed_home(db_url)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)

        def both() -> None:
            add_inbox(db_url, "h1", "sos", T0, seq=6, press="single")
            add_inbox(db_url, "h1", "fall", T0, seq=5, **HARD)

        await run(db_url, make_settings, receiver, [(1, both)], until=60)
    assert [(a[1], a[3]) for a in alerts_of(db_url)] == [("fall", "resolved")]
    assert receiver.received == []
