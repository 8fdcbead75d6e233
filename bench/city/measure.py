"""What a city run reads at the two ends of its window: CPU per process, Prometheus text, the database.

CPU is ``utime + stime`` of ``/proc/<pid>/stat`` (every thread of the process, and the processes it
started, found by their parent pid), in clock ticks; a component's cores over the window is its
ticks' delta divided by ticks per second and the window's seconds. PostgreSQL is every backend
connected to the run's database (``pg_stat_activity``), read at both ends (a backend seen only at the
end counts from its start); the server's own background processes (checkpointer, WAL writer,
autovacuum, TimescaleDB's workers) serve every database of the machine and are reported apart.
"""

from __future__ import annotations

import math
import os
import re
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

TICKS = os.sysconf("SC_CLK_TCK")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def ticks(pid: int) -> int:
    """utime + stime of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after the command


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found.setdefault(ppid, []).append(int(name))
    return found


def tree(pids: Iterable[int]) -> list[int]:
    """The processes and every descendant of theirs."""
    children = _children()
    out: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_of(pids: Iterable[int]) -> dict[int, int]:
    return {pid: ticks(pid) for pid in tree(pids)}


def cores(before: dict[int, int], after: dict[int, int], seconds: float) -> float:
    """CPU cores used between two readings of the same processes (a process new at the end counts whole)."""
    used = sum(after[pid] - before.get(pid, 0) for pid in after)
    return used / TICKS / seconds if seconds > 0 else math.nan


# -- Prometheus text ---------------------------------------------------------------------------------


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text: str = response.read().decode()
            return text
    except OSError:
        return ""


def samples(text: str) -> list[tuple[str, str, float]]:
    """(name, labels text, value) of every sample line."""
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        try:
            found.append((match.group(1), match.group(2) or "", float(match.group(3))))
        except ValueError:
            continue
    return found


def total(texts: Iterable[str], name: str) -> float:
    """A counter summed over its labels and over several copies' texts."""
    return sum(value for text in texts for sample, _, value in samples(text) if sample == name)


@dataclass(frozen=True)
class Histogram:
    buckets: dict[float, float]  # le -> cumulative count
    count: float
    sum: float

    def minus(self, other: Histogram) -> Histogram:
        return Histogram(
            {le: n - other.buckets.get(le, 0.0) for le, n in self.buckets.items()}, self.count - other.count, self.sum - other.sum
        )

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding the q-quantile (None: empty)."""
        if self.count <= 0:
            return None
        for le in sorted(self.buckets):
            if self.buckets[le] >= q * self.count:
                return le
        return math.inf

    def highest(self) -> float | None:
        """The upper bound of the highest bucket that gained observations: the max, to a bucket."""
        if self.count <= 0:
            return None
        bounds = sorted(self.buckets)
        below = 0.0
        top = None
        for le in bounds:
            if self.buckets[le] > below:
                top = le
            below = self.buckets[le]
        return top


def histogram(texts: Iterable[str], name: str) -> Histogram | None:
    """A histogram summed over labels (other than le) and copies; None when no copy exposes it."""
    buckets: dict[float, float] = {}
    count = total_sum = 0.0
    seen = False
    for text in texts:
        for sample, labels, value in samples(text):
            if sample == f"{name}_bucket":
                seen = True
                le = re.search(r'le="([^"]+)"', labels)
                if le is not None:
                    bound = math.inf if le.group(1) == "+Inf" else float(le.group(1))
                    buckets[bound] = buckets.get(bound, 0.0) + value
            elif sample == f"{name}_count":
                count += value
            elif sample == f"{name}_sum":
                total_sum += value
    return Histogram(buckets, count, total_sum) if seen else None


# -- the database ------------------------------------------------------------------------------------

_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
_BACKGROUND = "SELECT pid FROM pg_stat_activity WHERE datname IS NULL OR backend_type NOT IN ('client backend')"


@dataclass(frozen=True)
class Database:
    backends: dict[int, int]  # pid -> ticks
    background: dict[int, int]
    size_bytes: int
    wal_lsn: str


def database(url: str) -> Database:
    with psycopg.connect(url, autocommit=True) as conn:
        backends = [int(r[0]) for r in conn.execute(_BACKENDS).fetchall()]
        background = [int(r[0]) for r in conn.execute(_BACKGROUND).fetchall()]
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    return Database(
        {pid: ticks(pid) for pid in backends},
        {pid: ticks(pid) for pid in background if pid not in backends},
        int(size[0]) if size else 0,
        str(lsn[0]) if lsn else "0/0",
    )


def wal_bytes(url: str, start: str, end: str) -> int:
    """WAL written by the whole server between two positions (every database of it, not only the run's)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)", (end, start)).fetchone()
    return int(row[0]) if row else 0
