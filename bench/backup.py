"""Backup and restore time and size, on both flavours: what recovery costs an operator.

    .venv/bin/python -m bench.backup [--days 30] [--jobs 1] [--flavour postgres|timescaledb ...]

For each flavour it stores :mod:`bench.api`'s data for 1,000 homes over ``--days`` days (TimescaleDB
compressed as its policy would), then times ``eldercare db backup`` (pg_dump, directory format) and
``eldercare db restore`` into a new database (pg_restore, TimescaleDB's pre/post-restore steps, and
the check of row counts, hypertables and policies against the manifest), and prints the backup's
size against the database's size on disk. The load average is printed beside each figure: the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bench import api
from bench.databases import admin_url_for
from eldercare.db.backup import backup, restore
from tests.support.databases import RunLease, url_for
from tests.support.services import FLAVOURS, Flavour


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def database_bytes(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def measure(flavour: Flavour, days: int, jobs: int, workdir: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    with api.prepared(flavour, days=days) as (url, _):
        with psycopg.connect(url) as conn:
            readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]  # type: ignore[index]
        figures["readings"] = readings
        figures["database_mb"] = database_bytes(url) / 1e6
        folder = workdir / f"{flavour}-backup"
        print(f"  backing up ({readings:,} readings; load average {load()})", flush=True)
        made = backup(url, folder, jobs=jobs)
        figures["backup_s"], figures["backup_mb"] = made.seconds, made.bytes / 1e6
        print(f"  backup: {made.seconds:.0f} s, {made.bytes / 1e6:.0f} MB (database {figures['database_mb']:.0f} MB)", flush=True)
    admin = admin_url_for(flavour)
    lease = RunLease(admin)
    target = url_for(admin, lease.database_name("restored"))
    try:
        print(f"  restoring into a new database (load average {load()})", flush=True)
        done = restore(target, folder, jobs=jobs)
        figures["restore_s"] = done.seconds
        figures["restored_mb"] = database_bytes(target) / 1e6
        print(f"  restore, checked against the manifest: {done.seconds:.0f} s ({'; '.join(done.checked)})", flush=True)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.rsplit("/", 1)[1])))
        lease.release()
        shutil.rmtree(folder, ignore_errors=True)
    return figures


_ROWS = (
    ("readings", "readings", "{:,.0f}"),
    ("database on disk (MB)", "database_mb", "{:,.0f}"),
    ("backup size (MB)", "backup_mb", "{:,.0f}"),
    ("backup time (s)", "backup_s", "{:,.0f}"),
    ("restore + check time (s)", "restore_s", "{:,.0f}"),
    ("restored database (MB)", "restored_mb", "{:,.0f}"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=1, help="pg_dump/pg_restore --jobs")
    parser.add_argument("--flavour", choices=FLAVOURS, action="append", help="default: both")
    args = parser.parse_args()
    flavours = args.flavour or list(FLAVOURS)
    print(f"backup and restore, {args.days} days x {api.HOMES:,} homes, --jobs {args.jobs}, {os.cpu_count()} CPUs;"
          f" load average {load()} (1, 5, 15 min), the machine is shared")  # fmt: skip
    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory(prefix="eldercare-bench-backup-") as tmp:
        for flavour in flavours:
            print(f"\n===== {flavour} (load average {load()})", flush=True)
            results[flavour] = measure(flavour, args.days, args.jobs, Path(tmp))
    print(f"\n{'':28}" + "".join(f"{flavour:>14}" for flavour in flavours))
    for label, key, fmt in _ROWS:
        print(f"{label:28}" + "".join(f"{fmt.format(results[flavour][key]):>14}" for flavour in flavours))
    print(f"\n{(time.monotonic() - started) / 60:.0f} min; load average at the end {load()}")


if __name__ == "__main__":
    main()
