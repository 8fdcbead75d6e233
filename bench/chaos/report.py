"""The one table a chaos run prints."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from bench.chaos.check import Row
from bench.chaos.faults import Kind

if TYPE_CHECKING:
    from bench.chaos.run import ChaosResult


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _delays(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name}: none"
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"  {name}: n={len(values)}, p50 {p50:.1f} s, p99 {p99:.1f} s, max {max(values):.1f} s"


def _row(name: str, row: Row, note: str = "") -> str:
    return f"  {name:38}{row.expected:>10,}{row.delivered:>11,}{row.lost:>8,}{row.duplicated:>12,}  {note}".rstrip()


def render(result: ChaosResult) -> str:
    c, o = result.config, result.outcome
    loads = ", ".join(f"{label} {value:.1f}" for label, value in result.load)
    lines = [
        f"chaos run: {c.homes} homes in {c.groups} simulator processes, {c.duration_s:.0f} s of faults "
        f"({result.wall_s:.0f} s in all), seed {c.seed}, clock speed {c.speed:g}",
        f"machine load (1-min average): {loads}",
        "",
        f"  {'faults injected':38}{'count':>10}",
    ]
    kinds = Counter(fault.kind for fault in result.faults)
    for kind in Kind:
        lines.append(f"  {kind.value:38}{kinds.get(kind, 0):>10}")
    lines.append(f"  {'total':38}{len(result.faults):>10}")
    for error in result.fault_errors:
        lines.append(f"  fault failed: {error}")
    lines += ["", f"  {'':38}{'expected':>10}{'delivered':>11}{'lost':>8}{'duplicated':>12}"]
    readings = Row(o.readings_accepted, o.readings_stored, o.readings_lost, o.readings_duplicated)
    queued = f"{o.readings_queued:,} still queued at gateways" + (f", {o.staged_left} unsealed" if o.staged_left else "")
    lines.append(_row("readings+events accepted (device seqs)", readings, queued))
    lines.append(_row("SOS/fall events (accepted by agents)", o.events))
    lines.append(_row("SOS/fall alerts", o.alerts))
    lines.append(
        _row(
            "notifications (signed webhook)",
            o.notifications,
            f"re-sent with the same delivery id: {o.notifications_resent}; bad signatures: {o.bad_signatures}",
        )
    )
    injected = ", ".join(f"{kind} {n}" for kind, n in sorted(o.incidents_injected.items())) or "none"
    lines += [
        "",
        f"  rows: {o.rows_readings:,} readings, {o.rows_events:,} events; incidents injected: {injected}",
        "  SOS delay, press -> first signed notification:",
        _delays("pressed during a platform fault", o.sos_delays_s),
        _delays("pressed while its own gateway was cut off or killed", o.sos_delays_gateway_fault_s),
        _delays("pressed with no fault in progress", o.sos_delays_calm_s),
    ]
    explained = ", ".join(f"{k} {n}" for k, n in sorted(o.explained_alerts.items())) or "none"
    false = ", ".join(f"{k} {n}" for k, n in sorted(o.unexpected_alerts.items())) or "none"
    lines.append(
        f"  other alerts: explained by a gateway fault: {explained} ({o.explained_unresolved} unresolved); unexplained: {false}"
    )
    exits = Counter(f"{e.name} (exit {e.code})" for e in result.exits)
    lines.append("  unexpected exits, restarted: " + (", ".join(f"{k} x{n}" for k, n in sorted(exits.items())) or "none"))
    for e in result.exits[:5]:
        lines.append(f"    {e.name}: {e.last_line}")
    api = ", ".join(f"{k} {n}" for k, n in sorted(result.api.items())) or "no answer"
    lines.append(f"  API (alert list every 2 s): {api}")
    if not result.drained:
        lines.append("  WARNING: the system did not drain within the timeout (see the drain lines above)")
    for example in o.lost_examples:
        lines.append(f"  lost: {example}")
    for example in o.lost_notifications:
        lines.append(f"  notification lost: {example}")
    return "\n".join(lines)
