"""Ingest learns each device's reporting rhythm (eldercare.domain.liveness) and keeps what the
gateway says of its availability: the real service on a real database and broker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from eldercare.config import Settings
from eldercare.contracts.payloads import DeviceHealth, DeviceKind, Heartbeat
from eldercare.domain import liveness
from tests.ingest.support import T0, publish, register_homes, rows, running_ingest, scalar, wait_until

# A PIR's gaps between reports (s): paired, then 2.3 days away (longer than any zigbee report
# interval: not learned), its rhythm, then a 75-min outage (more than 3 x its usual longest silence
# once it is known: not learned), then its rhythm again.
GAPS = [200_000, 600, 540, 660, 600, 1200, 600, 580, 620, 600, 900, 610, 600, 590, 4500, 600, 700]
BASE = T0 - timedelta(days=3)


def _beat(seen_s: float, availability: str | None = None) -> Heartbeat:
    seen = BASE + timedelta(seconds=seen_s)
    health = DeviceHealth(device="pir-1", kind=DeviceKind.MOTION, last_seen=seen, availability=availability)
    return Heartbeat(home_id="home-a", ts=seen + timedelta(seconds=30), uptime_s=1, queue_depth=0, devices=[health])


async def test_each_device_learns_its_usual_longest_silence_as_the_domain_says(
    db_url: str, make_settings: Callable[..., Settings], topic_root: str
) -> None:
    register_homes(db_url, ["home-a"])
    settings = make_settings(mqtt={"topic_root": topic_root}, ingest={"metrics_port": 0})
    expected: tuple[float | None, int] = (None, 0)
    at = 0.0
    async with running_ingest(settings):
        await publish(settings, [_beat(at)])
        await wait_until(lambda: scalar(db_url, "SELECT count(*) FROM devices") == 1, what="registered")
        for gap in GAPS:
            at += gap
            expected = liveness.learn_gap(expected[0], expected[1], at - gap, gap)
            await publish(settings, [_beat(at)])  # one at a time: each heartbeat is one gap
            seen = BASE + timedelta(seconds=at)
            await wait_until(partial(_seen_at, db_url, seen), what="seen")
        await publish(settings, [_beat(at, availability="offline")])
        await wait_until(lambda: scalar(db_url, "SELECT availability FROM devices") == "offline", what="availability")
    [(usual, learned, availability_at)] = rows(db_url, "SELECT usual_gap_s, gaps_learned, availability_at FROM devices")
    assert learned == expected[1] == len(GAPS) - 2, "neither the time away nor the outage is part of the rhythm"
    assert usual is not None
    assert expected[0] is not None
    assert abs(float(usual) - expected[0]) < 1e-6  # type: ignore[arg-type]
    assert 1180 < expected[0] < 1200, "the longest usual silence, slightly decayed since (half-life: a week)"
    assert availability_at == BASE + timedelta(seconds=at + 30)


def _seen_at(db_url: str, seen: datetime) -> bool:
    return bool(scalar(db_url, "SELECT last_seen_at FROM devices") == seen)
