"""The engine on a real database, driven step by step with a FixedClock (no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from alerts.notify.enqueue import quiet_until
from eldercare.clock import FixedClock
from eldercare.config import Settings
from tests.alerts.support import (
    add_channel,
    add_inbox,
    add_motion,
    alerts_of,
    engine_for,
    healthy_home,
    mark_input,
    outbox_of,
    seed_home,
    sql,
    webhook_receiver,
)

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
ROOMS = ("bedroom", "bathroom", "kitchen", "living_room")


def settings_for(make_settings: Callable[..., Settings], **alerts: object) -> Settings:
    values: dict[str, object] = {
        "clear_hold_s": 60,
        "notify_retry_min_s": 1,
        "notify_retry_max_s": 8,
        "notify_timeout_s": 5,
        "evaluation_interval_s": 0.002,
    }
    values.update(alerts)
    return make_settings(alerts=values)


async def test_fall_opens_one_alert_notifies_once_and_ignores_repeats(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    # Without a cancel window a fall is raised at once (tests/alerts/test_fall_window.py has the window).
    centre, _ = seed_home(db_url, rule_settings={"fall": {"cancel_window_s": 0}})
    clock = FixedClock(T0)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        add_inbox(db_url, "h1", "fall", T0, seq=5, room="bathroom", confidence=0.9)
        async with engine_for(settings_for(make_settings), clock) as engine:
            assert (await engine.inbox_once()).opened == ["fall"]
            # The alert is committed with its notification before anything is sent.
            assert [a[1:] for a in alerts_of(db_url)] == [("fall", "critical", "open")]
            assert [o[1:5] for o in outbox_of(db_url)] == [("opened", 0, 1, "pending")]
            assert sql(db_url, "SELECT count(*) FROM alert_inbox") == [(0,)]
            assert (await engine.deliver_once()).sent == 1
            # A second fall while the first is open updates it; a redelivered event does nothing.
            add_inbox(db_url, "h1", "fall", T0 + timedelta(minutes=1), seq=6, confidence=0.8)
            add_inbox(db_url, "h1", "fall", T0, seq=5, confidence=0.9)
            assert (await engine.drain_inbox()) == 2
            assert (await engine.deliver_once()).handled == 0
    assert len(alerts_of(db_url)) == 1
    assert len(receiver.received) == 1
    payload = receiver.received[0].json()
    assert receiver.received[0].signature_ok()
    assert payload["alert"]["kind"] == "fall"
    assert "跌倒" in payload["title_zh"]
    assert "Fall" in payload["title_en"]
    actions = sql(db_url, "SELECT action FROM alert_history ORDER BY id")
    assert actions == [("opened",), ("updated",)]
    assert sql(db_url, "SELECT ok, status_code FROM notification_attempts") == [(True, 200)]


async def test_escalation_reminds_then_reaches_the_supervisor_and_stops_on_acknowledgement(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    centre, _ = seed_home(db_url)
    duty = add_channel(db_url, centre, "webhook", "http://127.0.0.1:9/unused", tier=0)
    supervisor = add_channel(db_url, centre, "webhook", "http://127.0.0.1:9/unused", tier=1)
    clock = FixedClock(T0)
    add_inbox(db_url, "h1", "sos", T0, press="single")
    async with engine_for(settings_for(make_settings, escalate_critical_s=120), clock) as engine:
        await engine.inbox_once()
        clock.advance(timedelta(seconds=119))
        assert await engine.escalate_once() == 0
        clock.advance(timedelta(seconds=1))
        assert await engine.escalate_once() == 1
        rows = sql(db_url, "SELECT purpose, escalation_level, channel_id FROM notification_outbox ORDER BY id")
        assert rows == [("opened", 0, duty), ("reminder", 1, duty), ("escalation", 1, supervisor)]
        # Staff acknowledge (the API writes this): no more escalation, queued reminders are cancelled.
        sql(db_url, "UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s", (clock.now(),))
        clock.advance(timedelta(minutes=30))
        assert await engine.escalate_once() == 0
        report = await engine.deliver_once()
    assert report.cancelled == 2  # the reminder and the escalation; "opened" was tried (and failed)
    assert sql(db_url, "SELECT escalation_level FROM alerts") == [(1,)]
    assert ("escalated",) in sql(db_url, "SELECT action FROM alert_history")


async def test_quiet_hours_delay_non_critical_but_never_critical(db_url: str, make_settings: Callable[..., Settings]) -> None:
    centre, _ = seed_home(db_url, tz="Asia/Shanghai", quiet=("22:00", "07:00"))
    late = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    healthy_home(db_url, "h1", late)
    clock = FixedClock(late)
    with webhook_receiver() as receiver:
        add_channel(db_url, centre, "webhook", receiver.url)
        sql(
            db_url,
            "UPDATE home_state SET last_door_state = 'open', last_door_at = %s, judge_pending = true",
            (late - timedelta(hours=1),),
        )
        add_inbox(db_url, "h1", "sos", late)
        async with engine_for(settings_for(make_settings), clock) as engine:
            await engine.inbox_once()
            await engine.evaluate_once()
            assert sorted(a[1] for a in alerts_of(db_url)) == ["door_left_open", "sos"]
            await engine.deliver_once()
            assert [r.json()["alert"]["kind"] for r in receiver.received] == ["sos"]
            due = sql(db_url, "SELECT next_attempt_at FROM notification_outbox WHERE status = 'pending'")
            assert due == [(datetime(2026, 3, 2, 23, 0, tzinfo=UTC),)]  # 07:00 in Shanghai
            # Its escalation also counts from 07:00 (medium: 30 min), not from the middle of the night.
            escalates = sql(db_url, "SELECT next_escalation_at FROM alerts WHERE kind = 'door_left_open'")
            assert escalates == [(datetime(2026, 3, 2, 23, 30, tzinfo=UTC),)]
            clock.current = datetime(2026, 3, 2, 22, 59, tzinfo=UTC)
            assert (await engine.deliver_once()).handled == 0
            clock.current = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
            assert (await engine.deliver_once()).sent == 1
    assert [r.json()["alert"]["kind"] for r in receiver.received] == ["sos", "door_left_open"]


def test_quiet_until_handles_windows_across_midnight() -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("UTC")
    night = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert quiet_until(night, zone, time(22), time(7)) == datetime(2026, 3, 3, 7, 0, tzinfo=zone)
    assert quiet_until(night.replace(hour=6), zone, time(22), time(7)) == datetime(2026, 3, 2, 7, 0, tzinfo=zone)
    assert quiet_until(night.replace(hour=7), zone, time(22), time(7)) is None
    assert quiet_until(night.replace(hour=13), zone, time(12), time(14)) == datetime(2026, 3, 2, 14, 0, tzinfo=zone)
    assert quiet_until(night, zone, None, None) is None


async def test_flapping_door_gives_one_alert_and_auto_resolves_after_the_clear_hold(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url)
    healthy_home(db_url, "h1", T0 + timedelta(hours=1))
    add_motion(db_url, "h1", T0)
    clock = FixedClock(T0)

    def door(state: str, at: datetime) -> None:
        sql(db_url, "UPDATE home_state SET last_door_state = %s, last_door_at = %s, judge_pending = true", (state, at))

    async with engine_for(settings_for(make_settings, clear_hold_s=60), clock) as engine:
        door("open", T0)
        for minute in (16, 17):  # open too long: one alert, however often it is judged
            clock.current = T0 + timedelta(minutes=minute)
            await engine.evaluate_once()
        door("closed", clock.current)  # flapping: closed for 30 s, open again
        clock.advance(timedelta(seconds=30))
        await engine.evaluate_once()
        door("open", clock.current - timedelta(minutes=20))
        clock.advance(timedelta(seconds=5))
        await engine.evaluate_once()
        assert [a[1:] for a in alerts_of(db_url)] == [("door_left_open", "medium", "open")]
        door("closed", clock.current)
        clock.advance(timedelta(seconds=1))
        await engine.evaluate_once()  # the hold counts from the first evaluation that sees it clear
        clock.advance(timedelta(seconds=59))
        await engine.evaluate_once()
        assert alerts_of(db_url)[0][3] == "open"  # clear for less than the hold: not resolved yet
        clock.advance(timedelta(seconds=1))
        assert (await engine.evaluate_once()).resolved == ["door_left_open"]
    assert [a[1:] for a in alerts_of(db_url)] == [("door_left_open", "medium", "resolved")]
    assert sql(db_url, "SELECT outcome, resolved_by FROM alerts") == [("auto_resolved", None)]
    assert [h[0] for h in sql(db_url, "SELECT action FROM alert_history ORDER BY id")] == ["opened", "resolved"]


async def test_offline_gateway_gives_a_gateway_alert_not_inactivity_and_resolves_when_back(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url)
    healthy_home(db_url, "h1", T0)
    add_motion(db_url, "h1", T0 - timedelta(hours=1))
    clock = FixedClock(T0)
    sql(db_url, "UPDATE home_state SET gateway_state = 'offline', gateway_state_at = %s", (T0,))
    add_inbox(db_url, "h1", "gateway_status", T0, state="offline", reason="connection_lost")
    async with engine_for(settings_for(make_settings), clock) as engine:
        await engine.inbox_once()
        assert alerts_of(db_url) == []  # within the gateway's grace period
        clock.advance(timedelta(hours=6))  # long silence, but the sensors cannot be heard
        await engine.evaluate_once()
        assert [a[1] for a in alerts_of(db_url)] == ["gateway_offline"]
        sql(db_url, "UPDATE home_state SET gateway_state = 'online', gateway_state_at = %s", (clock.now(),))
        sql(db_url, "UPDATE devices SET last_seen_at = %s", (clock.now(),))
        add_motion(db_url, "h1", clock.now(), seq=2)
        add_inbox(db_url, "h1", "gateway_status", clock.now(), state="online", reason="connected")
        await engine.inbox_once()
        clock.advance(timedelta(seconds=61))
        await engine.evaluate_once()
    assert [a[1:] for a in alerts_of(db_url)] == [("gateway_offline", "high", "resolved")]


async def test_long_lie_after_a_fall_without_motion(db_url: str, make_settings: Callable[..., Settings]) -> None:
    seed_home(db_url, rule_settings={"fall": {"long_lie_s": 300, "cancel_window_s": 0}})
    healthy_home(db_url, "h1", T0 + timedelta(hours=1))
    add_motion(db_url, "h1", T0 - timedelta(seconds=10), room="bathroom")
    clock = FixedClock(T0)
    add_inbox(db_url, "h1", "fall", T0, room="bathroom", confidence=0.95)
    async with engine_for(settings_for(make_settings), clock) as engine:
        await engine.inbox_once()
        clock.advance(timedelta(seconds=299))
        await engine.evaluate_once()
        assert [a[1] for a in alerts_of(db_url)] == ["fall"]
        clock.advance(timedelta(seconds=1))
        await engine.evaluate_once()
    assert [a[1:3] for a in alerts_of(db_url)] == [("fall", "critical"), ("long_lie", "critical")]


async def test_routine_is_stored_and_survives_a_restart(db_url: str, make_settings: Callable[..., Settings]) -> None:
    _, resident = seed_home(db_url)
    healthy_home(db_url, "h1", T0)
    for day in range(10):
        for hour in (8, 12, 18):
            add_motion(db_url, "h1", T0 - timedelta(days=day + 1) + timedelta(hours=hour - 6), seq=day * 10 + hour)
    settings = settings_for(make_settings, relearn_interval_s=86_400)
    clock = FixedClock(T0)
    async with engine_for(settings, clock) as engine:
        await engine.evaluate_once()
    learned = sql(db_url, "SELECT learned_at, days_of_history, (model->>'trusted')::boolean FROM routine_models")
    assert learned == [(T0, 10, True)]
    clock.advance(timedelta(hours=23))
    async with engine_for(settings, clock) as engine:  # a restarted engine reuses the stored model
        await engine.evaluate_once()
        assert sql(db_url, "SELECT learned_at FROM routine_models") == [(T0,)]
        clock.advance(timedelta(hours=1))
        await engine.evaluate_once()
    assert sql(db_url, "SELECT learned_at FROM routine_models WHERE resident_id = %s", (resident,)) == [(clock.now(),)]


async def test_two_engines_at_once_one_alert_and_one_notification_per_event(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    homes = [f"h{i}" for i in range(8)]
    with webhook_receiver() as receiver:
        for home in homes:
            centre, _ = seed_home(db_url, home)
            add_channel(db_url, centre, "webhook", receiver.url)
            for seq in range(3):  # three presses each: one alert, updated twice
                add_inbox(db_url, home, "sos", T0, seq=seq)
        settings = settings_for(make_settings, inbox_batch_size=2, outbox_batch_size=2)
        clock = FixedClock(T0)
        async with engine_for(settings, clock) as first, engine_for(settings, clock) as second:

            async def work(engine: object) -> None:
                from alerts.engine import Engine

                assert isinstance(engine, Engine)
                await engine.drain_inbox()
                await engine.evaluate_once()
                while (await engine.deliver_once()).handled:
                    pass

            await asyncio.gather(work(first), work(second), work(first), work(second))
    assert sorted(h for (h,) in sql(db_url, "SELECT home_id FROM alerts")) == homes
    delivered = sorted(r.json()["alert"]["home_id"] for r in receiver.received)
    assert delivered == homes
    assert sql(db_url, "SELECT count(*) FROM alert_inbox") == [(0,)]


async def test_inactivity_fires_on_silence_but_the_absence_calendar_pauses_it(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    afternoon = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    _, resident = seed_home(db_url, "h1")
    _, away = seed_home(db_url, "h2")
    for home in ("h1", "h2"):
        healthy_home(db_url, home, afternoon)
        add_motion(db_url, home, afternoon - timedelta(hours=3, minutes=1))
    sql(
        db_url,
        "INSERT INTO absences (resident_id, starts_at, ends_at, reason) VALUES (%s, %s, %s, 'hospital')",
        (away, afternoon - timedelta(hours=1), afternoon + timedelta(days=2)),
    )
    async with engine_for(settings_for(make_settings), FixedClock(afternoon)) as engine:
        assert (await engine.evaluate_once()).opened == ["inactivity"]
    assert [a[1:3] for a in alerts_of(db_url, "h1")] == [("inactivity", "high")]
    assert alerts_of(db_url, "h2") == []
    (explanation,) = sql(db_url, "SELECT explanation_zh FROM alerts")
    assert "无活动" in explanation[0]
    assert resident != away


async def test_getting_out_of_bed_is_a_sign_of_life_but_a_repeated_occupied_reading_is_not(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    afternoon = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    for home in ("h1", "h2"):
        seed_home(db_url, home)
        healthy_home(db_url, home, afternoon)
        add_motion(db_url, home, afternoon - timedelta(hours=4))
    # h1: the bed mat says the resident got up an hour ago (a change of state: an event).
    sql(
        db_url,
        "INSERT INTO events (home_id, device_id, seq, ts, type, room, data)"
        " VALUES ('h1', 'h1-bed', 1, %s, 'bed', 'bedroom', '{\"state\": \"vacated\"}')",
        (afternoon - timedelta(hours=1),),
    )
    # h2: the mat only repeats "occupied" every few minutes: nobody has moved for 4 hours.
    for minutes in range(0, 120, 10):
        sql(
            db_url,
            "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
            " VALUES ('h2', 'h2-bed', %s, %s, 'bed_occupied', 1, 'bedroom')",
            (minutes, afternoon - timedelta(minutes=minutes)),
        )
    async with engine_for(settings_for(make_settings), FixedClock(afternoon)) as engine:
        await engine.evaluate_once()
    assert alerts_of(db_url, "h1") == []
    assert [a[1] for a in alerts_of(db_url, "h2")] == ["inactivity"]


async def test_an_alert_staff_resolved_does_not_reopen_until_the_condition_cleared_for_the_hold(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url)
    healthy_home(db_url, "h1", T0 + timedelta(hours=2))
    add_motion(db_url, "h1", T0)
    clock = FixedClock(T0 + timedelta(minutes=20))
    sql(db_url, "UPDATE home_state SET last_door_state = 'open', last_door_at = %s, judge_pending = true", (T0,))
    async with engine_for(settings_for(make_settings, clear_hold_s=60), clock) as engine:
        await engine.evaluate_once()
        sql(db_url, "UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'handled'", (clock.now(),))
        clock.advance(timedelta(minutes=5))
        await engine.evaluate_once()  # still open, but staff handled it: no new alert
        assert len(alerts_of(db_url)) == 1
        sql(db_url, "UPDATE home_state SET last_door_state = 'closed', last_door_at = %s, judge_pending = true", (clock.now(),))
        clock.advance(timedelta(seconds=1))
        await engine.evaluate_once()
        clock.advance(timedelta(seconds=60))
        await engine.evaluate_once()  # clear for the hold: armed again
        sql(db_url, "UPDATE home_state SET last_door_state = 'open', last_door_at = %s, judge_pending = true", (clock.now(),))
        clock.advance(timedelta(minutes=16))
        assert (await engine.evaluate_once()).opened == ["door_left_open"]
    assert [a[3] for a in alerts_of(db_url)] == ["resolved", "open"]


async def test_an_item_the_engine_cannot_handle_is_dead_lettered_and_others_proceed(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url, "bad")
    seed_home(db_url, "good")
    # A permanent failure for one home only (a real database error, raised by a trigger).
    sql(
        db_url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON alerts FOR EACH ROW WHEN (NEW.home_id = 'bad') EXECUTE FUNCTION refuse()",
    )
    add_inbox(db_url, "bad", "sos", T0)
    add_inbox(db_url, "good", "sos", T0)
    async with engine_for(settings_for(make_settings), FixedClock(T0)) as engine:
        assert (await engine.inbox_once()).opened == ["sos"]
    assert [a[1] for a in alerts_of(db_url, "good")] == ["sos"]
    assert sql(db_url, "SELECT count(*) FROM alert_inbox") == [(0,)]
    assert sql(db_url, "SELECT source, home_id, reason FROM dead_letters") == [("alerts", "bad", "alert_engine_error")]


async def test_cold_home_from_stored_temperatures_and_auto_resolved_when_warm_again(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url)
    healthy_home(db_url, "h1", T0 + timedelta(hours=3))
    add_motion(db_url, "h1", T0)

    def temperature(at: datetime, value: float, seq: int) -> None:
        sql(
            db_url,
            "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room)"
            " VALUES ('h1', 'h1-t', %s, %s, 'temperature_c', %s, 'bedroom')",
            (seq, at, value),
        )

    for minute in range(0, 31, 5):
        temperature(T0 + timedelta(minutes=minute), 14.5, minute)
    clock = FixedClock(T0 + timedelta(minutes=30))
    async with engine_for(settings_for(make_settings, clear_hold_s=60), clock) as engine:
        assert (await engine.evaluate_once()).opened == ["cold_home"]
        for minute in range(35, 95, 5):
            temperature(T0 + timedelta(minutes=minute), 19.0, minute)
        clock.current = T0 + timedelta(minutes=90)
        await engine.evaluate_once()
        clock.advance(timedelta(seconds=60))
        assert (await engine.evaluate_once()).resolved == ["cold_home"]
    (explanation,) = sql(db_url, "SELECT explanation_en FROM alerts")
    assert "14.5 °C" in explanation[0]


async def test_copies_share_the_periodic_work_a_home_judged_moments_ago_is_skipped(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url)
    clock = FixedClock(T0)
    settings = settings_for(make_settings, evaluation_interval_s=30)
    async with engine_for(settings, clock) as first, engine_for(settings, clock) as second:
        await first.evaluate_once()
        mark_input(db_url, "h1")  # new input: the home is due at the next pass
        clock.advance(timedelta(seconds=14))
        await second.evaluate_once()  # judged 14 s ago by the other copy: skipped (still due)
        assert second.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") == 0
        clock.advance(timedelta(seconds=1))
        await second.evaluate_once()
        assert second.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") == 1
    assert sql(db_url, "SELECT evaluated_at FROM alert_home_passes") == [(T0 + timedelta(seconds=15),)]


async def test_loop_intervals_are_clock_time_under_the_simulators_clock(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    from eldercare.clock import ScaledClock

    async with engine_for(settings_for(make_settings), ScaledClock(start=T0, speed=100)) as engine:
        assert engine._clock_interval(30) == 0.3
        engine.clock = ScaledClock(start=T0, speed=100_000)
        assert engine._clock_interval(30) == 0.05  # floored: no busy spin
        engine.clock = FixedClock(T0)
        assert engine._clock_interval(30) == 30


async def test_a_device_whose_sequence_restarted_still_raises_a_new_sos(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url)
    async with engine_for(settings_for(make_settings), FixedClock(T0)) as engine:
        add_inbox(db_url, "h1", "sos", T0, seq=1)
        await engine.inbox_once()
        sql(db_url, "UPDATE alerts SET status = 'resolved', resolved_at = %s", (T0,))
        add_inbox(db_url, "h1", "sos", T0 + timedelta(hours=1), seq=1)  # after a factory reset
        assert (await engine.inbox_once()).opened == ["sos"]
    assert [a[3] for a in alerts_of(db_url)] == ["resolved", "open"]


async def test_not_up_by_the_usual_time_from_the_learned_routine(db_url: str, make_settings: Callable[..., Settings]) -> None:
    seed_home(db_url)
    day0 = datetime(2026, 3, 1, tzinfo=UTC)
    rows: list[tuple[datetime, str]] = []
    for day in range(10):  # up at 07:00 through four rooms, busy all day, in bed at 23:00
        start = day0 + timedelta(days=day)
        rows.append((start + timedelta(hours=3), "bedroom"))
        rows += [(start + timedelta(hours=7, minutes=5 * i), room) for i, room in enumerate(ROOMS)]
        rows += [(start + timedelta(hours=7, minutes=30 + 20 * i), "kitchen") for i in range(45)]
        rows.append((start + timedelta(hours=23), "bedroom"))
    today = day0 + timedelta(days=10)
    rows += [(today + timedelta(hours=6, minutes=15 * i), "bedroom") for i in range(8)]  # restless, never up
    with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room) VALUES ('h1', 'h1-m1', %s, %s, 'motion', 1, %s)",
            [(seq, at, room) for seq, (at, room) in enumerate(rows)],
        )
    now = today + timedelta(hours=8, minutes=5)
    healthy_home(db_url, "h1", now)
    async with engine_for(settings_for(make_settings), FixedClock(now)) as engine:
        assert (await engine.evaluate_once()).opened == ["not_up"]
    ((kind, severity, en, zh),) = sql(db_url, "SELECT kind, severity, explanation_en, explanation_zh FROM alerts")
    assert (kind, severity) == ("not_up", "medium")
    assert "usually up by 07:00" in en
    assert "起床" in zh


async def test_falls_and_sos_are_claimed_ahead_of_items_that_trigger_re_evaluation(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url, "ha")
    seed_home(db_url, "hb")
    add_inbox(db_url, "ha", "door", T0, state="open")
    add_inbox(db_url, "hb", "sos", T0)
    async with engine_for(settings_for(make_settings), FixedClock(T0)) as engine:
        urgent = await engine.inbox_once(urgent=True)
        assert (urgent.items, urgent.opened) == (1, ["sos"])
        assert sql(db_url, "SELECT home_id, type FROM alert_inbox") == [("ha", "door")]
        assert await engine.drain_inbox() == 1
    assert sql(db_url, "SELECT count(*) FROM alert_inbox") == [(0,)]


async def test_an_open_device_alert_lists_a_sensor_that_goes_offline_later(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    seed_home(db_url)
    healthy_home(db_url, "h1", T0)
    sql(
        db_url,
        "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at)"
        " VALUES ('h1-door', 'h1', 'door', 'entry', %s, %s)",
        (T0, T0 + timedelta(hours=5)),
    )
    # Both report at least hourly, as ingest learned over the last nine days: 2 h 15 min is their bound.
    sql(db_url, "UPDATE devices SET usual_gap_s = 3600, gaps_learned = 200, first_seen_at = %s", (T0 - timedelta(days=9),))
    clock = FixedClock(T0 + timedelta(hours=3))  # the motion sensor has been silent for 3 h
    async with engine_for(settings_for(make_settings), clock) as engine:
        assert (await engine.evaluate_once()).opened == ["device_offline"]
        clock.advance(timedelta(hours=5))  # now the door contact is silent too
        await engine.evaluate_once()
    (evidence,) = sql(db_url, "SELECT evidence FROM alerts WHERE kind = 'device_offline'")
    assert sorted(d["id"] for d in evidence[0]["devices"]) == ["h1-door", "h1-m1"]
    assert [a for (a,) in sql(db_url, "SELECT action FROM alert_history ORDER BY id")] == ["opened", "updated"]


async def test_a_quiet_home_is_judged_again_only_when_due_or_when_something_it_reads_changes(
    db_url: str, make_settings: Callable[..., Settings]
) -> None:
    """Deadline-driven judging (alerts.deadlines): after its judgement a quiet home costs nothing
    until its next moment of concern, unless input arrives or what its rules read changes outside
    ingest (rule settings, the absence calendar, alerts handled by staff): triggers mark it."""
    _, resident = seed_home(db_url)
    healthy_home(db_url, "h1", T0)
    add_motion(db_url, "h1", T0 - timedelta(minutes=1))
    clock = FixedClock(T0)
    settings = settings_for(make_settings, evaluation_interval_s=30, deadline_recheck_s=86_400)  # the rules, not the net

    async def pass_judges() -> int:
        before = engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0
        clock.advance(timedelta(seconds=30))
        await engine.evaluate_once()
        return int((engine.metrics.registry.get_sample_value("eldercare_alerts_homes_evaluated_total") or 0) - before)

    async with engine_for(settings, clock) as engine:
        assert await pass_judges() == 1  # new: judged at once
        assert [await pass_judges() for _ in range(4)] == [0, 0, 0, 0]
        ((due_at, kind),) = sql(db_url, "SELECT due_at, due_kind FROM alert_home_passes WHERE home_id = 'h1'")
        assert kind == "inactivity"  # the untrained routine's default limit at night (motion at 05:59): 10 h
        assert due_at == T0 - timedelta(minutes=1) + timedelta(hours=10)
        sql(
            db_url, "UPDATE residents SET rule_settings = %s WHERE id = %s", (Jsonb({"door_open": {"max_open_s": 600}}), resident)
        )
        assert await pass_judges() == 1
        sql(
            db_url,
            "INSERT INTO absences (resident_id, starts_at, ends_at) VALUES (%s, %s, %s)",
            (resident, clock.now() + timedelta(hours=1), clock.now() + timedelta(days=1)),
        )
        assert [await pass_judges() for _ in range(2)] == [1, 0]
        # An absence that has not begun changes nothing yet (welfare rules are paused once it has).
        assert sql(db_url, "SELECT due_kind FROM alert_home_passes WHERE home_id = 'h1'") == [("inactivity",)]
        add_inbox(db_url, "h1", "sos", clock.now())
        await engine.inbox_once()
        assert await pass_judges() == 1  # the SOS alert (an input the rules read: alerts) marked it
        sql(db_url, "UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'handled'", (clock.now(),))
        assert [await pass_judges() for _ in range(2)] == [1, 0]
        clock.current = due_at - timedelta(seconds=30)  # the next pass is when the silence comes due, inside the absence
        assert await pass_judges() == 1
        assert [a[1] for a in alerts_of(db_url)] == ["sos"]  # judged, nothing raised
        late = engine.metrics.registry.get_sample_value("eldercare_alerts_deadline_lateness_seconds_sum", {"kind": "inactivity"})
        assert late == 0
        # Next: the daily relearning of the routine (learned at the first pass, T0 + 30 s), before the absence ends.
        assert sql(db_url, "SELECT due_at, due_kind FROM alert_home_passes WHERE home_id = 'h1'") == [
            (T0 + timedelta(days=1, seconds=30), "relearn")
        ]
