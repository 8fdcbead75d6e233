"""The figures of one scale, from the two snapshots around its window, and the table that prints them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bench.city.measure import Database, cores, histogram, samples, total
from tests.alerts.support import Received

if TYPE_CHECKING:
    from bench.city.run import CityConfig

LATENESS = "eldercare_alerts_deadline_lateness_seconds"
PLATFORM = ("ingest", "alerts", "api", "broker", "postgres")
DAY_S = 86_400.0


@dataclass(frozen=True)
class Snapshot:
    at: float
    cpu: dict[str, dict[int, int]]
    db: Database
    ingest: str
    alerts: list[str]
    messages: float
    readings: float
    events: float
    load_avg: tuple[float, float, float]


def _quantiles(values: list[float]) -> tuple[float, float, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return at(0.5), at(0.99), ordered[-1]


@dataclass
class Scale:
    config: CityConfig
    before: Snapshot
    after: Snapshot
    sos: list[dict[str, Any]]  # the load's presses: home_id, ts, wall
    hooks: list[Received]
    load_logs: list[str]
    event_types: dict[str, int]

    @property
    def window_s(self) -> float:
        return self.after.at - self.before.at

    def cores(self) -> dict[str, float]:
        found = {name: cores(self.before.cpu[name], self.after.cpu[name], self.window_s) for name in self.after.cpu}
        found["postgres"] = cores(self.before.db.backends, self.after.db.backends, self.window_s)
        found["pg_background"] = cores(self.before.db.background, self.after.db.background, self.window_s)
        return found

    def sos_latency(self) -> tuple[int, list[float]]:
        """(presses in the window, seconds from each press's publish to its first webhook)."""
        first: dict[str, float] = {}
        for post in self.hooks:
            try:
                alert = post.json()["alert"]
            except (ValueError, KeyError, TypeError):
                continue
            if alert.get("kind") == "sos":
                first.setdefault(str(alert["home_id"]), post.at)
        pressed = [s for s in self.sos if self.before.at <= float(s["wall"]) <= self.after.at]
        return len(pressed), [first[s["home_id"]] - float(s["wall"]) for s in pressed if s["home_id"] in first]

    def lateness(self) -> dict[str, Any]:
        end, start = histogram(self.after.alerts, LATENESS), histogram(self.before.alerts, LATENESS)
        if end is None:
            # A labelled histogram has no samples until its first observation: exposed, but nothing came due yet.
            exposed = any(f"# HELP {LATENESS} " in text for text in self.after.alerts)
            return {"available": exposed, "judged": 0, "p50_s": None, "p99_s": None, "max_s": None, "other": {}}
        window = end.minus(start) if start is not None else end
        others = {
            f"{name}{labels}": value
            for text in self.after.alerts
            for name, labels, value in samples(text)
            if name.startswith("eldercare_alerts_deadline") and not name.startswith(LATENESS)
        }
        return {
            "available": True, "judged": window.count, "p50_s": window.quantile(0.5), "p99_s": window.quantile(0.99),
            "max_s": window.highest(), "mean_s": window.sum / window.count if window.count else None, "other": others,
        }  # fmt: skip

    def load_status(self) -> dict[str, Any]:
        """The load generator's own health over the window: its worst scheduling lag, failed publishes."""
        lag, failed, committed, sent = 0.0, 0, 0, 0
        for text in self.load_logs:
            for line in text.splitlines():
                if '"simulator_load_status"' not in line:
                    continue
                try:
                    data = json.loads(line)
                    at = datetime.fromisoformat(data["timestamp"]).timestamp()
                except (ValueError, KeyError):
                    continue
                if self.before.at <= at <= self.after.at + 10:
                    lag = max(lag, float(data.get("lag_s", 0.0)))
                    failed = max(failed, int(data.get("failed", 0)))
                    committed = max(committed, int(data.get("committed", 0)))
                    sent = max(sent, int(data.get("readings", 0)) + int(data.get("events", 0)))
        return {"lag_max_s": lag, "publish_failed": failed, "sent": sent, "committed": committed}

    def ingest_backlog(self) -> dict[str, Any]:
        """Whether ingest kept up: messages it held unacknowledged at the end, its commit lag over the window."""
        lag_end, lag_start = (
            histogram([self.after.ingest], "ingest_commit_lag_seconds"),
            histogram([self.before.ingest], "ingest_commit_lag_seconds"),
        )
        lag = lag_end.minus(lag_start) if lag_end is not None and lag_start is not None else lag_end
        return {
            "unacknowledged_end": total([self.after.ingest], "ingest_unacknowledged_messages"),
            "commit_lag_p99_s": lag.quantile(0.99) if lag is not None else None,
        }

    def figures(self) -> dict[str, Any]:
        w, homes = self.window_s, self.config.homes
        c = self.cores()
        platform = sum(c[name] for name in PLATFORM)
        presses, latencies = self.sos_latency()
        q = _quantiles(latencies)
        grown = self.after.db.size_bytes - self.before.db.size_bytes
        return {
            "homes": homes, "alert_copies": self.config.alerts, "flavour": self.config.flavour, "window_s": round(w, 1),
            "load_avg_start": self.before.load_avg, "load_avg_end": self.after.load_avg,
            "messages_per_s": (self.after.messages - self.before.messages) / w,
            "readings_per_s": (self.after.readings - self.before.readings) / w,
            "events_per_s": (self.after.events - self.before.events) / w,
            "event_types_per_s": {kind: round(n / w, 2) for kind, n in sorted(self.event_types.items())},
            "cores": c, "platform_cores": platform, "ingest_plus_alerts_cores": c["ingest"] + c["alerts"],
            "cpu_s_per_home_day": platform * DAY_S / homes,
            "db_bytes_per_home_day": grown / homes / w * DAY_S,
            "sos_presses": presses, "sos_notified": len(latencies),
            "sos_p50_s": q[0] if q else None, "sos_p99_s": q[1] if q else None, "sos_max_s": q[2] if q else None,
            "lateness": self.lateness(), "load": self.load_status(), "ingest": self.ingest_backlog(),
        }  # fmt: skip


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def render(scale: Scale) -> str:
    f = scale.figures()
    c = f["cores"]
    late = f["lateness"]
    lines = [
        "",
        f"== {f['homes']:,} homes, {f['alert_copies']} alert copy(ies), {f['flavour']}, window {f['window_s']:.0f} s ==",
        f"load average (1 min) at start / end: {f['load_avg_start'][0]:.2f} / {f['load_avg_end'][0]:.2f} (2 cores)",
        f"messages/s {f['messages_per_s']:,.0f}   readings/s {f['readings_per_s']:,.0f}   events/s {f['events_per_s']:,.1f}",
        "  event rows/s by type: " + ", ".join(f"{k} {v:g}" for k, v in f["event_types_per_s"].items()),
        "cores:   " + "  ".join(f"{name} {c[name]:.3f}" for name in (*PLATFORM, "pg_background", "load")),
        f"platform cores {f['platform_cores']:.3f}   ingest+alerts {f['ingest_plus_alerts_cores']:.3f} (target <= 1)",
        f"cost per home per day: {f['cpu_s_per_home_day']:.2f} CPU-s (ingest, alerts, API, broker, PG backends)",
        f"database growth per home per day: {f['db_bytes_per_home_day'] / 1024:,.1f} KiB",
        f"SOS -> webhook: {f['sos_notified']}/{f['sos_presses']} notified; p50 {_f(f['sos_p50_s'], 3)} s, "
        f"p99 {_f(f['sos_p99_s'], 3)} s, max {_f(f['sos_max_s'], 3)} s (target p99 <= 0.25)",
    ]
    if late["available"]:
        lines.append(
            f"deadline lateness: {late['judged']:,.0f} judged; p50 <= {_f(late['p50_s'])} s, p99 <= {_f(late['p99_s'])} s, "
            f"max <= {_f(late['max_s'])} s (bucket bounds; target p99 <= 30)"
        )
        lines += [f"  {name} = {value:g}" for name, value in sorted(late["other"].items())]
    else:
        lines.append(f"deadline lateness: n/a (the alert engine exposes no {LATENESS})")
    load = f["load"]
    lines.append(
        f"load generator: worst scheduling lag {load['lag_max_s']:.2f} s, failed publishes {load['publish_failed']}, "
        f"readings+events sent {load['sent']:,} / acknowledged committed {load['committed']:,} (at the window's end)"
    )
    ingest = f["ingest"]
    lines.append(
        f"ingest: {ingest['unacknowledged_end']:,.0f} messages unacknowledged at the end; "
        f"commit lag p99 <= {_f(ingest['commit_lag_p99_s'])} s (bucket bound)"
    )
    return "\n".join(lines)


def kept_up(figures: dict[str, Any]) -> bool:
    """Ingest committed (nearly) all the load sent by the window's end."""
    load = figures["load"]
    return bool(load["sent"] - load["committed"] <= max(200, load["sent"] // 100))


def render_ratio(results: list[Scale]) -> str:
    figures = [s.figures() for s in results]
    lines = ["", "== how cost grows =="]
    header = ("homes", "copies", "msg/s", "cores", "CPU-s/home/day", "KiB/home/day", "SOS p99 s")
    lines.append(" ".join(f"{h:>{w}}" for h, w in zip(header, (8, 6, 8, 7, 15, 13, 10), strict=True)))
    for f in figures:
        lines.append(
            f"{f['homes']:>8,} {f['alert_copies']:>6} {f['messages_per_s']:>8,.0f} {f['platform_cores']:>7.3f} "
            f"{f['cpu_s_per_home_day']:>15.2f} {f['db_bytes_per_home_day'] / 1024:>13.1f} {_f(f['sos_p99_s'], 3):>10}"
        )
    small = min(figures, key=lambda f: f["homes"])
    large = max(figures, key=lambda f: f["homes"])
    if large["homes"] > small["homes"] and small["cpu_s_per_home_day"] > 0:
        ratio = large["cpu_s_per_home_day"] / small["cpu_s_per_home_day"]
        lines.append(f"cost per home, {large['homes']:,} vs {small['homes']:,} homes: x{ratio:.2f}")
    behind = [f"{f['homes']:,}" for f in figures if not kept_up(f)]
    if behind:
        lines.append(f"not kept up at {', '.join(behind)} homes (ingest behind the load): their cost per home is work not done")
    return "\n".join(lines)
