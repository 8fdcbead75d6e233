"""``eldercare simulate score``: ground truth against the alerts in the database.

An *alert* is one staff were told of: opened, or a pending fall raised when its cancel window
ended (its ``confirmed`` history row), at ``alerted_at``. A pending fall the system closed (the
resident said "I'm OK", got up, turned over in bed) told nobody: it is a *closed candidate*, not an
alert. An incident is *detected* by the first alert of its kind (``detect``) on its home alerted
between ``start - early_s`` and ``max(end, start + 1 h) + late_s``; its latency (*time to alert*)
is ``alerted_at - start`` in simulated time, and that divided by the run's speed in wall time
(every service shares the one scaled clock, so the ratio is exact). Alerts of the incident's
related kinds (``also``: a fall alert for a long lie) in the same window are *related*. Every
other alert on a simulated home in the scored period is *false*. A false trigger (``closed_as``:
a fall cancelled by the resident, turning over in bed) counts as *closed* when a candidate of its
home was closed that way in its window, with the time from the incident to the closing. An
incident with nothing to detect that cuts the network is checked instead for *replay*: readings
dated inside the outage must have reached the database.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from simulator.incidents import NETWORK_INCIDENTS
from simulator.truth import TruthRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)
EARLY_S = 120.0
LATE_S = 1800.0
# Alerted: open now, or resolved by staff or by auto-resolution (not a closed candidate), or raised
# from pending (the confirmed row). Closed candidates come back with alerted_at NULL.
_ALERTS = """
SELECT a.id, a.home_id, a.kind,
       CASE WHEN a.status = 'pending' OR a.outcome IN ('cancelled_by_resident', 'resident_got_up', 'rolled_over_in_bed')
            THEN NULL
            ELSE coalesce((SELECT min(h.at) FROM alert_history h WHERE h.alert_id = a.id AND h.action = 'confirmed'),
                          a.opened_at) END AS alerted_at,
       a.opened_at, a.outcome, a.resolved_at
  FROM alerts a
 WHERE a.home_id LIKE %s AND a.opened_at >= %s AND a.opened_at <= %s
 ORDER BY a.opened_at, a.id
"""
_NETWORK = frozenset(kind.value for kind in NETWORK_INCIDENTS)
_READINGS_IN = "SELECT count(*) FROM readings WHERE home_id = %s AND ts >= %s AND ts < %s"


@dataclass(frozen=True)
class AlertRow:
    id: int
    home_id: str
    kind: str
    opened_at: datetime  # when staff were told (the raise of a pending fall)
    outcome: str | None = None
    closed_at: datetime | None = None  # a closed candidate: when the system closed it


@dataclass(frozen=True)
class ClosedCandidate:
    home_id: str
    kind: str
    outcome: str
    opened_at: datetime
    closed_at: datetime


@dataclass
class KindScore:
    incidents: int = 0
    detected: int = 0
    latencies_sim_s: list[float] = field(default_factory=list)
    latencies_wall_s: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    replayed: int = 0  # incidents without a detect kind: data from inside the window arrived
    closed: int = 0  # false triggers whose candidate was closed as expected (closed_as)
    closed_after_sim_s: list[float] = field(default_factory=list)


@dataclass
class Score:
    kinds: dict[str, KindScore]
    false_alerts: Counter[str]
    related_alerts: int
    alerts_total: int

    @property
    def missed(self) -> int:
        return sum(len(k.missed) for k in self.kinds.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "incidents": {
                kind: {
                    "incidents": k.incidents,
                    "detected": k.detected,
                    "missed": len(k.missed),
                    "missed_ids": k.missed,
                    "replayed": k.replayed,
                    "closed": k.closed,
                    "closed_after_sim_s": percentiles(k.closed_after_sim_s),
                    "latency_sim_s": percentiles(k.latencies_sim_s),
                    "latency_wall_s": percentiles(k.latencies_wall_s),
                }
                for kind, k in sorted(self.kinds.items())
            },
            "false_alerts": dict(sorted(self.false_alerts.items())),
            "related_alerts": self.related_alerts,
            "alerts_total": self.alerts_total,
        }


def percentiles(values: list[float]) -> dict[str, float] | None:
    """p50, p90, p99 (nearest rank) and max; None when there is nothing to measure."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 2)

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": round(ordered[-1], 2)}


def window(record: TruthRecord) -> tuple[datetime, datetime]:
    late = max(record.end, record.start + timedelta(hours=1)) + timedelta(seconds=LATE_S)
    return record.start - timedelta(seconds=EARLY_S), late


def match(truth: list[TruthRecord], alerts: list[AlertRow], closed: list[ClosedCandidate] | None = None) -> Score:
    """Pure matching of incidents to alerts and closed candidates (see the module docstring)."""
    closed_by_home: dict[str, list[ClosedCandidate]] = defaultdict(list)
    for candidate in closed or []:
        closed_by_home[candidate.home_id].append(candidate)
    by_home: dict[str, list[AlertRow]] = defaultdict(list)
    for alert in alerts:
        by_home[alert.home_id].append(alert)
    used: set[int] = set()
    related: set[int] = set()
    kinds: dict[str, KindScore] = defaultdict(KindScore)
    for record in sorted(truth, key=lambda r: r.start):
        score = kinds[record.incident]
        score.incidents += 1
        low, high = window(record)
        candidates = [a for a in by_home.get(record.home, []) if low <= a.opened_at <= high]
        if record.detect is not None:
            hit = next((a for a in candidates if a.kind == record.detect and a.id not in used), None)
            if hit is None:
                score.missed.append(record.id)
            else:
                used.add(hit.id)
                score.detected += 1
                latency = max(0.0, (hit.opened_at - record.start).total_seconds())
                score.latencies_sim_s.append(latency)
                score.latencies_wall_s.append(latency / record.speed)
        if record.closed_as is not None:
            hit_closed = next(
                (c for c in closed_by_home.get(record.home, []) if low <= c.opened_at <= high and c.outcome == record.closed_as),
                None,
            )
            if hit_closed is not None:
                score.closed += 1
                score.closed_after_sim_s.append(max(0.0, (hit_closed.closed_at - record.start).total_seconds()))
        related.update(a.id for a in candidates if a.kind in record.also or a.kind == record.detect)
    false = Counter(a.kind for a in alerts if a.id not in used and a.id not in related)
    return Score(dict(kinds), false, len(related - used), len(alerts))


async def score_run(
    database_url: str, truth: list[TruthRecord], *, home_prefix: str, since: datetime | None, until: datetime | None
) -> Score:
    """Load the alerts of the simulated homes for the scored period and match them."""
    starts = [r.start for r in truth]
    low = since or (min(starts) - timedelta(seconds=EARLY_S) if starts else _EPOCH)
    high = until or (max(window(r)[1] for r in truth) if truth else _FAR)
    async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=10, autocommit=True) as conn:
        rows = await (await conn.execute(_ALERTS, (home_prefix + "-%", low, high))).fetchall()
        alerts = [AlertRow(int(r[0]), str(r[1]), str(r[2]), r[3], r[5]) for r in rows if r[3] is not None]
        closed = [ClosedCandidate(str(r[1]), str(r[2]), str(r[5]), r[4], r[6]) for r in rows if r[3] is None and r[5]]
        result = match(truth, alerts, closed)
        for record in truth:
            if record.detect is None and record.incident in _NETWORK and record.end > record.start:
                found = await (await conn.execute(_READINGS_IN, (record.home, record.start, record.end))).fetchone()
                if found and found[0] > 0:
                    result.kinds[record.incident].replayed += 1
    return result


def render(score: Score) -> str:
    """A table for people: one line per incident kind (time to alert, or how a false trigger was
    closed without calling anyone), then the false alerts."""
    head = f"{'incident':<16} {'n':>4} {'detected':>8} {'missed':>6} {'replayed':>8} {'closed':>6}"
    head += f"  {'time to alert sim p50/p90/max s':<32} wall p50/p90/max s"
    lines = [head]
    for kind, k in sorted(score.kinds.items()):
        sim, wall = percentiles(k.latencies_sim_s), percentiles(k.latencies_wall_s)
        sim_text = f"{sim['p50']:.0f} / {sim['p90']:.0f} / {sim['max']:.0f}" if sim else "-"
        wall_text = f"{wall['p50']:.2f} / {wall['p90']:.2f} / {wall['max']:.2f}" if wall else "-"
        closed_after = percentiles(k.closed_after_sim_s)
        if not sim and closed_after:
            sim_text = f"no alert; closed after {closed_after['p50']:.0f} s"
        replayed = str(k.replayed) if k.incidents and k.detected + len(k.missed) < k.incidents else "-"
        closed = str(k.closed) if k.closed or closed_after else "-"
        counts = f"{kind:<16} {k.incidents:>4} {k.detected:>8} {len(k.missed):>6} {replayed:>8} {closed:>6}"
        lines.append(f"{counts}  {sim_text:<32} {wall_text}")
    false = ", ".join(f"{kind} {n}" for kind, n in sorted(score.false_alerts.items())) or "none"
    lines.append(f"false alerts: {false}; related alerts: {score.related_alerts}; alerts in period: {score.alerts_total}")
    return "\n".join(lines)
