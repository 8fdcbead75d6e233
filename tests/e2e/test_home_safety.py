"""Home-safety alarms end to end: zigbee2mqtt's device states on a broker, the real edge agent with
its zigbee2mqtt driver, ingest and the alert engine as the real CLI, a real webhook. At night, in the
care centre's quiet hours, with the resident away on the absence calendar: each alarm still reaches
the duty staff once, at once (the latency is measured in bench/alert_latency.py, not asserted here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.notify.enqueue import quiet_until
from eldercare.config import Settings
from eldercare.mqtt import connect
from tests.alerts.support import add_channel, seed_home, sql, webhook_receiver
from tests.alerts.test_cli import FAST, wait_until
from tests.e2e.support import platform
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

DEVICE_MAP = {
    "Kitchen smoke": {"device": "smoke-1", "kind": "smoke", "room": "kitchen"},
    "Kitchen gas": {"device": "gas-1", "kind": "gas", "room": "kitchen"},
    "Living CO": {"device": "co-1", "kind": "co", "room": "living_room"},
    "Bathroom leak": {"device": "leak-1", "kind": "water_leak", "room": "bathroom"},
}
# (friendly name, the alarm's property, its all-clear state as zigbee2mqtt publishes it)
ALARMS: list[tuple[str, str, dict[str, Any]]] = [
    ("Kitchen smoke", "smoke", {"smoke": False, "smoke_density": 0, "test": False, "battery": 100, "linkquality": 96}),
    ("Kitchen gas", "gas", {"gas": False, "gas_density": 0, "sensitivity": "15%LEL", "linkquality": 160}),
    ("Living CO", "carbon_monoxide", {"carbon_monoxide": False, "tamper": False, "battery_low": False, "battery": 95}),
    ("Bathroom leak", "water_leak", {"water_leak": False, "battery_low": False, "tamper": False, "battery": 91}),
]


def night_zone(now: datetime) -> str:
    """A fixed-offset zone in which ``now`` is between 02:00 and 03:00."""
    offset = (2 - now.hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # POSIX sign: Etc/GMT-8 is UTC+8


async def publish_states(settings: Settings, base: str, states: list[tuple[str, dict[str, object]]]) -> None:
    async with connect(settings, client_id=f"z2m-{base}") as z2m:
        for name, state in states:
            await z2m.publish(f"{base}/{name}", json.dumps(state).encode(), qos=1)


def test_each_hazard_reaches_the_webhook_once_at_night_in_quiet_hours_while_the_resident_is_away(
    db_url: str,
    env_for: Callable[..., dict[str, str]],
    make_settings: Callable[..., Settings],
    broker_url: str,
    topic_root: str,
    tmp_path: Path,
) -> None:
    home = f"hs-{topic_root}"  # its own home (and so client ids): runs on the shared broker never meet
    now = datetime.now(UTC)
    zone = night_zone(now)
    assert quiet_until(now, ZoneInfo(zone), time(22), time(7)) is not None
    centre, resident = seed_home(db_url, home, tz=zone, quiet=("22:00", "07:00"))
    sql(
        db_url,
        "INSERT INTO absences (resident_id, starts_at, ends_at, reason) VALUES (%s, %s, %s, 'holiday')",
        (resident, now - timedelta(days=1), now + timedelta(days=6)),
    )
    map_file = tmp_path / "devices.json"
    map_file.write_text(json.dumps(DEVICE_MAP))
    base = f"{topic_root}-z2m"
    env = env_for(**FAST, ingest__metrics_port="0", ingest__client_id=f"ing-{centre}")
    edge_env = env_for(
        edge__home_id=home, edge__driver="zigbee2mqtt", edge__zigbee2mqtt_url=broker_url,
        edge__zigbee2mqtt_base_topic=base, edge__zigbee2mqtt_device_map=str(map_file),
        edge__data_dir=str(tmp_path / "gateway"), edge__heartbeat_interval_s="1",
    )  # fmt: skip
    z2m = make_settings()
    with webhook_receiver() as receiver, platform(env, tmp_path):
        add_channel(db_url, centre, "webhook", receiver.url)
        edge = ServiceProcess(["edge"], edge_env, tmp_path / "edge.log").start()
        try:
            edge.wait_for_log('"edge_z2m_subscribed"', 60)
            asyncio.run(publish_states(z2m, base, [(name, clear) for name, _, clear in ALARMS]))
            alarms = [(name, {**clear, key: True}) for name, key, clear in ALARMS]
            asyncio.run(publish_states(z2m, base, alarms))
            wait_until(lambda: len(receiver.received) >= 4, "four hazard notifications")
            # The alarms keep sounding (zigbee2mqtt repeats the cached state), then the leak dries up:
            # nothing more for the staff, and the alerts stay open until someone resolves them.
            asyncio.run(publish_states(z2m, base, [*alarms, (ALARMS[3][0], ALARMS[3][2])]))
            wait_until(lambda: _stored(db_url, "cleared") == 1, "the leak's all-clear stored")
            cleared_at = datetime.now(UTC)
            wait_until(lambda: _judged_since(db_url, home, cleared_at), "a periodic pass after the all-clear")
        finally:
            assert edge.stop() == 0, edge.log_text()[-3000:]
    kinds = sorted(r.json()["alert"]["kind"] for r in receiver.received)
    assert kinds == ["co", "gas", "smoke", "water_leak"]
    assert all(r.signature_ok() for r in receiver.received)
    assert sql(db_url, "SELECT kind, severity, status FROM alerts ORDER BY kind") == [
        ("co", "critical", "open"),
        ("gas", "critical", "open"),
        ("smoke", "critical", "open"),
        ("water_leak", "high", "open"),
    ]
    assert _stored(db_url, "detected") == 4, "a repeated alarm state is no new event"


def _stored(db_url: str, state: str) -> int:
    query = "SELECT count(*) FROM events WHERE type = 'hazard' AND data->>'state' = %s"
    return int(sql(db_url, query, (state,))[0][0])


def _judged_since(db_url: str, home: str, moment: datetime) -> bool:
    if sql(db_url, "SELECT count(*) FROM alert_inbox")[0][0]:
        return False
    passes = sql(db_url, "SELECT evaluated_at FROM alert_home_passes WHERE home_id = %s", (home,))
    return bool(passes) and passes[0][0] > moment
