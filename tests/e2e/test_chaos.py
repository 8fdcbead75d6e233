"""A short chaos run (bench/chaos): every kind of fault once, then the counts against the ground truth.

Real edge agents in simulator processes, two ingest and two alerts copies, the API, a signed-webhook
receiver, a private Mosquitto and a fresh database behind a TCP proxy. The full run (200 homes, ten
minutes, 50+ faults) is ``python -m bench.chaos``; this one checks the same invariants in about two
minutes: nothing a gateway numbered is lost or stored twice, every SOS and fall is one alert, every
notification step arrives once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos.faults import Kind, Ranges
from bench.chaos.report import render
from bench.chaos.run import ChaosConfig, run_chaos

pytestmark = pytest.mark.e2e

# The broker faults first: they are the ones a PUBACK-trusting gateway loses messages to.
SCRIPT = (
    Kind.BROKER_WIPE,
    Kind.INGEST_KILL,
    Kind.BROKER_KILL,
    Kind.AGENT_KILL,
    Kind.BROKER_RESTART,
    Kind.DB_OUTAGE,
    Kind.GATEWAY_CUTOFF,
    Kind.ALERTS_KILL,
)


@pytest.mark.timeout(420)
def test_a_short_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    config = ChaosConfig(
        homes=12, groups=2, duration_s=45, faults=12, sos=4, falls=1, seed=7, script=SCRIPT,
        ranges=Ranges(restart_after_s=(1, 3), broker_down_s=(0.5, 2), db_outage_s=(2, 6), queue_fill_s=(2, 5),
                      cutoff_s=(3, 8)),
        escalate_s=4, clear_hold_s=10, calm_s=3, homes_start_s=8, drain_timeout_s=180,
        homes_env={"ELDERCARE_EDGE__COMMIT_TIMEOUT_EVENTS_S": "2", "ELDERCARE_EDGE__COMMIT_TIMEOUT_READINGS_S": "4"},
    )  # fmt: skip
    result = run_chaos(config, tmp_path)
    table = render(result)
    print(table)
    outcome = result.outcome
    assert result.fault_errors == [], table
    assert {fault.kind for fault in result.faults} >= {Kind.BROKER_WIPE, Kind.BROKER_KILL, Kind.BROKER_RESTART}, table
    assert result.drained, table
    assert outcome.readings_accepted > 0, table
    assert (outcome.readings_lost, outcome.readings_duplicated, outcome.readings_queued) == (0, 0, 0), table
    assert outcome.readings_stored == outcome.readings_accepted, table
    for row in (outcome.events, outcome.alerts, outcome.notifications):
        assert (row.lost, row.duplicated) == (0, 0), table
    assert outcome.alerts.delivered == outcome.alerts.expected >= config.sos, table
    assert outcome.bad_signatures == 0, table
