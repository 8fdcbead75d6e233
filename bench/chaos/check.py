"""What a chaos run delivered, against its ground truth.

Ground truth comes from where each fact is first made durable:

- readings and events: each gateway's disk queue numbers every accepted reading and event per device
  (``seqs.next_seq``), so a device's accepted set is ``0 .. next_seq - 1``; what is still queued on a
  gateway at the end is read from its ``outbox``;
- SOS and falls: the incidents the simulator injected (its ground-truth files) and the events the
  agents accepted (``edge_event_queued`` in their logs, for the SOS button and the wearable);
- notifications: the engine's ``notification_outbox`` (one row per notification, unique per alert,
  purpose, level and recipient), and for SOS and falls the full escalation the alert must reach.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from alerts.notify.enqueue import NEW_TIER, REMIND_TIERS
from bench.chaos.faults import GATEWAY_FAULTS, Fault
from bench.chaos.receiver import Notification
from eldercare.domain.alerts.catalogue import LAST_ESCALATION_LEVEL

URGENT = {"sos": "sos-1", "fall": "wearable-1"}  # incident and alert kind -> the device that reports it
#: Alerts a fault explains: a home its platform could not hear from for long enough.
FAULT_ALERTS = frozenset({"gateway_offline", "device_offline"})


@dataclass
class Row:
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0


@dataclass
class Outcome:
    homes: int = 0
    readings_accepted: int = 0  # readings and events numbered by the gateways
    readings_stored: int = 0
    readings_queued: int = 0  # still in a gateway's disk queue at the end (not lost: it will be sent)
    readings_lost: int = 0
    readings_duplicated: int = 0
    rows_readings: int = 0
    rows_events: int = 0
    staged_left: int = 0
    lost_examples: list[str] = field(default_factory=list)
    lost_notifications: list[str] = field(default_factory=list)  # what each lost notification was, a few
    incidents_injected: Counter[str] = field(default_factory=Counter)
    events: Row = field(default_factory=Row)
    alerts: Row = field(default_factory=Row)
    notifications: Row = field(default_factory=Row)
    notifications_resent: int = 0  # the same delivery id twice (a sender killed between POST and its record)
    bad_signatures: int = 0
    unexpected_alerts: Counter[str] = field(default_factory=Counter)  # kind -> alerts no incident or fault explains
    explained_alerts: Counter[str] = field(default_factory=Counter)
    explained_unresolved: int = 0
    sos_delays_s: list[float] = field(default_factory=list)  # SOS published during a platform fault
    sos_delays_gateway_fault_s: list[float] = field(default_factory=list)  # its own gateway was cut off
    sos_delays_calm_s: list[float] = field(default_factory=list)


# ------------------------------------------------------------------------------ gateways


@dataclass
class Gateways:
    next_seq: dict[str, int] = field(default_factory=dict)  # device -> next number
    queued: set[tuple[str, int]] = field(default_factory=set)
    staged: int = 0


def read_gateways(data_dir: Path) -> Gateways:
    found = Gateways()
    for path in sorted((data_dir / "gateways").glob("*/queue.sqlite3")):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found.next_seq.update((str(d), int(n)) for d, n in db.execute("SELECT device, next_seq FROM seqs"))
            for (payload,) in db.execute("SELECT payload FROM outbox"):
                found.queued.update(_numbered(bytes(payload)))
            found.staged += int(db.execute("SELECT count(*) FROM staged").fetchone()[0])
        finally:
            db.close()
    return found


def _numbered(payload: bytes) -> list[tuple[str, int]]:
    data = json.loads(payload)
    items = data.get("readings") or data.get("events") or []
    return [(str(item["device"]), int(item["seq"])) for item in items]


def accepted_urgent(logs: list[Path]) -> dict[tuple[str, str], int]:
    """(home, kind) -> SOS or fall events the agents put in their disk queues, from their logs."""
    kinds = {device: kind for kind, device in URGENT.items()}
    found: Counter[tuple[str, str]] = Counter()
    for path in logs:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if '"edge_event_queued"' not in line:
                continue
            record = json.loads(line)
            home, _, device = str(record["device"]).partition(":")
            if device in kinds:
                found[(home, kinds[device])] += 1
    return dict(found)


# ------------------------------------------------------------------------------ database


@dataclass
class Stored:
    numbered: Counter[tuple[str, int]]  # (device, seq) -> rows, readings and events together
    rows_readings: int
    rows_events: int
    urgent_events: Counter[tuple[str, str]]  # (home, type) -> distinct events
    alerts: list[dict[str, object]]
    outbox: list[dict[str, object]]


def read_database(db_url: str) -> Stored:
    with psycopg.connect(db_url) as conn:
        numbered: Counter[tuple[str, int]] = Counter()
        rows = {}
        for table in ("readings", "events"):
            query = f"SELECT device_id, seq, count(*) FROM {table} GROUP BY device_id, seq"
            count = 0
            for device, seq, n in conn.execute(query):
                numbered[(device, int(seq))] += int(n)
                count += int(n)
            rows[table] = count
        urgent: Counter[tuple[str, str]] = Counter()
        for home, kind, n in conn.execute(
            "SELECT home_id, type, count(DISTINCT (device_id, seq)) FROM events WHERE type IN ('sos', 'fall') GROUP BY 1, 2"
        ):
            urgent[(home, kind)] = int(n)
        cur = conn.execute(
            "SELECT id, home_id, kind, severity, status, escalation_level, extract(epoch FROM opened_at) AS opened"
            " FROM alerts ORDER BY id"
        )
        columns = [c.name for c in cur.description or []]
        alerts = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        cur = conn.execute(
            "SELECT o.id, o.alert_id, o.incident_id, o.purpose, o.escalation_level, o.status, c.tier, c.name AS channel"
            " FROM notification_outbox o LEFT JOIN notification_channels c ON c.id = o.channel_id ORDER BY o.id"
        )
        columns = [c.name for c in cur.description or []]
        outbox = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    return Stored(numbered, rows["readings"], rows["events"], urgent, alerts, outbox)


# ------------------------------------------------------------------------------ the accounting


def account_readings(outcome: Outcome, gateways: Gateways, stored: Stored) -> None:
    outcome.rows_readings, outcome.rows_events = stored.rows_readings, stored.rows_events
    outcome.staged_left = gateways.staged
    stored_keys = set(stored.numbered)
    for device, upto in sorted(gateways.next_seq.items()):
        outcome.readings_accepted += upto
        missing = []
        for seq in range(upto):
            key = (device, seq)
            if key in stored_keys:
                outcome.readings_stored += 1
            elif key in gateways.queued:
                outcome.readings_queued += 1
            else:
                missing.append(seq)
        outcome.readings_lost += len(missing)
        if missing and len(outcome.lost_examples) < 5:
            outcome.lost_examples.append(f"{device}: {len(missing)} missing, e.g. seq {missing[:5]}")
    outcome.readings_duplicated = sum(n - 1 for n in stored.numbered.values() if n > 1)


def account_urgent(
    outcome: Outcome,
    truth: list[dict[str, object]],
    accepted: dict[tuple[str, str], int],
    stored: Stored,
    notifications: list[Notification],
    faults: list[Fault],
) -> None:
    """SOS and falls: events stored once, one alert each, the alert's first notification's delay."""
    for record in truth:
        outcome.incidents_injected[str(record["incident"])] += 1
    alerts_by: defaultdict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for alert in stored.alerts:
        alerts_by[(str(alert["home_id"]), str(alert["kind"]))].append(alert)
    first_opened: dict[int, float] = {}
    for note in sorted(notifications, key=lambda n: n.received):
        if note.purpose == "opened" and note.signature_ok:
            first_opened.setdefault(note.alert_id, note.received)
    for (home, kind), count in sorted(accepted.items()):
        outcome.events.expected += count
        have = stored.urgent_events.get((home, kind), 0)
        outcome.events.delivered += min(have, count)
        outcome.events.lost += max(0, count - have)
        outcome.events.duplicated += max(0, have - count)
        alerts = alerts_by.get((home, kind), [])
        outcome.alerts.expected += 1
        outcome.alerts.delivered += min(1, len(alerts))
        outcome.alerts.lost += 0 if alerts else 1
        outcome.alerts.duplicated += max(0, len(alerts) - 1)
    for record in truth:
        home, kind = str(record["home"]), str(record["incident"])
        if kind != "sos":
            continue
        alerts = alerts_by.get((home, kind), [])
        if not alerts or int(alerts[0]["id"]) not in first_opened:  # type: ignore[call-overload]
            continue
        at = float(record["wall"])  # type: ignore[arg-type]
        delay = first_opened[int(alerts[0]["id"])] - at  # type: ignore[call-overload]
        during = [f for f in faults if f.covers(at)]
        if any(f.kind in GATEWAY_FAULTS and home in f.homes for f in during):
            outcome.sos_delays_gateway_fault_s.append(delay)
        elif during:
            outcome.sos_delays_s.append(delay)
        else:
            outcome.sos_delays_calm_s.append(delay)


def expected_steps(level: int) -> set[tuple[str, int, int]]:
    """(purpose, level, channel tier) of every notification an unacknowledged alert at ``level`` has had."""
    steps = {("opened", 0, tier) for tier in NEW_TIER[0]}
    for step in range(1, level + 1):
        steps |= {("reminder", step, tier) for tier in REMIND_TIERS[step]}
        steps |= {("escalation", step, tier) for tier in NEW_TIER.get(step, ())}
    return steps


def account_notifications(outcome: Outcome, stored: Stored, notifications: list[Notification]) -> None:
    received: defaultdict[int, list[Notification]] = defaultdict(list)
    for note in notifications:
        if not note.signature_ok:
            outcome.bad_signatures += 1
            continue
        received[note.delivery_id].append(note)
    wanted = [row for row in stored.outbox if row["status"] != "cancelled"]
    outcome.notifications.expected = len(wanted)
    steps: defaultdict[tuple[object, ...], int] = defaultdict(int)
    for row in wanted:
        got = received.get(int(row["id"]), [])  # type: ignore[call-overload]
        if got:
            outcome.notifications.delivered += 1
            outcome.notifications_resent += len(got) - 1
            steps[(row["alert_id"], row["incident_id"], row["purpose"], row["escalation_level"], row["channel"])] += 1
        else:
            outcome.notifications.lost += 1
            if len(outcome.lost_notifications) < 5:
                outcome.lost_notifications.append(
                    f"outbox {row['id']}: alert {row['alert_id']} {row['purpose']} level {row['escalation_level']}"
                    f" to {row['channel']}, status {row['status']}"
                )
    outcome.notifications.duplicated = sum(n - 1 for n in steps.values() if n > 1)
    # SOS and falls nobody acknowledges escalate to the last level: every step must be in the outbox.
    by_alert: defaultdict[int, set[tuple[str, int, int]]] = defaultdict(set)
    for row in wanted:
        if row["tier"] is not None and row["alert_id"] is not None:  # not a notice about a platform incident
            by_alert[int(row["alert_id"])].add((str(row["purpose"]), int(row["escalation_level"]), int(row["tier"])))  # type: ignore[call-overload]
    for alert in stored.alerts:
        if alert["kind"] in URGENT and alert["status"] == "open":
            missing = expected_steps(LAST_ESCALATION_LEVEL) - by_alert.get(int(alert["id"]), set())  # type: ignore[call-overload]
            outcome.notifications.expected += len(missing)
            outcome.notifications.lost += len(missing)
            for step in sorted(missing)[: max(0, 5 - len(outcome.lost_notifications))]:
                outcome.lost_notifications.append(f"alert {alert['id']} ({alert['kind']}): step {step} never queued")


def account_other_alerts(outcome: Outcome, stored: Stored, faults: list[Fault], offline_after_s: float) -> None:
    """Alerts for homes without an SOS or fall: explained by a fault that silenced the home long enough, or false."""
    for alert in stored.alerts:
        kind = str(alert["kind"])
        if kind in URGENT:
            continue
        opened = float(alert["opened"])  # type: ignore[arg-type]
        if kind in FAULT_ALERTS and _silenced(str(alert["home_id"]), opened, faults, offline_after_s):
            outcome.explained_alerts[kind] += 1
            if alert["status"] != "resolved":
                outcome.explained_unresolved += 1
        else:
            outcome.unexpected_alerts[kind] += 1


def _silenced(home: str, opened: float, faults: list[Fault], offline_after_s: float) -> bool:
    """Was ``home``'s gateway cut off or killed in the ``offline_after_s`` (and a minute) before ``opened``?

    Only those faults make a gateway offline (its will says so); the broker or the database being
    away does not, so an offline alert they raise is counted as false.
    """
    window_start = opened - offline_after_s - 60
    return any(
        fault.kind in GATEWAY_FAULTS and home in fault.homes and fault.ended >= window_start and fault.started <= opened
        for fault in faults
    )
