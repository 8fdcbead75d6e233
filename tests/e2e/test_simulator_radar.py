"""The simulator end to end for the incident only a presence radar sees: a resident sits down in
the living room at 10:00 and does not move for 40 minutes. Real ingest and alert engine subprocesses
on an accelerated clock, then ``eldercare simulate score``: it is ``still_present`` (she is there,
not moving), never ``inactivity`` (the radar says someone is home).

The resident has no learned routine, so the untrained day limit applies; the scenario shortens it to
20 min (the routine's own daytime silences before 10:00 stay shorter than that from 09:50).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.e2e.support import simulate
from tests.e2e.test_simulator_incidents import EVALUATION_S, SLACK_S, SPEED

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 3, 3, tzinfo=ZONE)
LIMIT_S = 1200


def test_sitting_still_that_only_the_radar_sees_is_still_present(
    env_for: Callable[..., dict[str, str]], db_url: str, topic_root: str, tmp_path: Path
) -> None:
    start = DAY + timedelta(hours=10)
    scenario = {
        "incidents": [{"kind": "still_present", "home": 0, "at": start.isoformat(), "duration": "40m"}],
        "rule_settings": {"inactivity": {"default_threshold_s": LIMIT_S}},
    }
    run = simulate(
        env_for, tmp_path, homes=1, speed=SPEED, clock_start=start - timedelta(minutes=10), until=start + timedelta(minutes=35),
        scenario=scenario,
    )  # fmt: skip
    assert (run.summary["failed_homes"], run.summary["incidents"]) == (0, 1)
    result = run.score["incidents"]["still_present"]
    assert (result["incidents"], result["detected"], result["missed"]) == (1, 1, 0), run.table
    latency = result["latency_sim_s"]["max"]
    assert LIMIT_S <= latency <= LIMIT_S + 2 * EVALUATION_S + SLACK_S, run.table
    assert run.score["false_alerts"] == {}, run.table
    with psycopg.connect(db_url) as conn:  # env_for names the simulated homes after the topic root
        rows = conn.execute("SELECT kind, explanation_en FROM alerts WHERE home_id = %s", (f"{topic_root}-00000",)).fetchall()
    assert [kind for kind, _ in rows] == ["still_present"], rows
    assert "presence radar in the living room" in rows[0][1]
