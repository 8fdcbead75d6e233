"""``eldercare simulate score``: ground truth against the alerts in the database.

An incident is *detected* by the first alert of its kind (``detect``) on its home opened between
``start - early_s`` and ``max(end, start + 1 h) + late_s``; its latency is ``opened_at - start`` in
simulated time, and that divided by the run's speed in wall time (every service shares the one
scaled clock, so the ratio is exact). Alerts of the incident's related kinds (``also``: a fall
alert for a long lie) in the same window are *related*. Every other alert on a simulated home in
the scored period is *false*. An incident with nothing to detect (a short network outage) is
checked instead for *replay*: readings dated inside the outage must have reached the database.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from simulator.truth import TruthRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)
EARLY_S = 120.0
LATE_S = 1800.0
_ALERTS = """
SELECT id, home_id, kind, opened_at FROM alerts
 WHERE home_id LIKE %s AND opened_at >= %s AND opened_at <= %s
 ORDER BY opened_at, id
"""
_READINGS_IN = "SELECT count(*) FROM readings WHERE home_id = %s AND ts >= %s AND ts < %s"


@dataclass(frozen=True)
class AlertRow:
    id: int
    home_id: str
    kind: str
    opened_at: datetime


@dataclass
class KindScore:
    incidents: int = 0
    detected: int = 0
    latencies_sim_s: list[float] = field(default_factory=list)
    latencies_wall_s: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    replayed: int = 0  # incidents without a detect kind: data from inside the window arrived


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


def match(truth: list[TruthRecord], alerts: list[AlertRow]) -> Score:
    """Pure matching of incidents to alerts (see the module docstring)."""
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
        alerts = [AlertRow(int(r[0]), str(r[1]), str(r[2]), r[3]) for r in rows]
        result = match(truth, alerts)
        for record in truth:
            if record.detect is None and record.end > record.start:
                found = await (await conn.execute(_READINGS_IN, (record.home, record.start, record.end))).fetchone()
                if found and found[0] > 0:
                    result.kinds[record.incident].replayed += 1
    return result


def render(score: Score) -> str:
    """A table for people: one line per incident kind, then the false alerts."""
    head = f"{'incident':<16} {'n':>4} {'detected':>8} {'missed':>6} {'replayed':>8}  {'latency sim p50/p90/max s':<26}"
    head += " wall p50/p90/max s"
    lines = [head]
    for kind, k in sorted(score.kinds.items()):
        sim, wall = percentiles(k.latencies_sim_s), percentiles(k.latencies_wall_s)
        sim_text = f"{sim['p50']:.0f} / {sim['p90']:.0f} / {sim['max']:.0f}" if sim else "-"
        wall_text = f"{wall['p50']:.2f} / {wall['p90']:.2f} / {wall['max']:.2f}" if wall else "-"
        replayed = str(k.replayed) if k.incidents and k.detected + len(k.missed) < k.incidents else "-"
        row = f"{kind:<16} {k.incidents:>4} {k.detected:>8} {len(k.missed):>6} {replayed:>8}  {sim_text:<26} {wall_text}"
        lines.append(row)
    false = ", ".join(f"{kind} {n}" for kind, n in sorted(score.false_alerts.items())) or "none"
    lines.append(f"false alerts: {false}; related alerts: {score.related_alerts}; alerts in period: {score.alerts_total}")
    return "\n".join(lines)
