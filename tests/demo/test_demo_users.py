"""The demo's users: made with the real ``eldercare users add``; a second demo on the same database
finds them by the CLI's exit code (3: exists) and keeps their passwords."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import psycopg

from demo.system import Demo, DemoOptions, _demo_users
from eldercare.config import Settings


async def test_demo_users_are_created_once_then_found(
    make_settings: Callable[..., Settings], env_for: Callable[..., dict[str, str]], db_url: str, tmp_path: Path
) -> None:
    settings = make_settings()
    with psycopg.connect(db_url) as conn:
        centre = conn.execute("INSERT INTO care_centres (name) VALUES ('Demo') RETURNING id").fetchone()[0]  # type: ignore[index]
        home = f"{settings.simulator.home_prefix}-00000"
        conn.execute("INSERT INTO homes (id, care_centre_id) VALUES (%s, %s)", (home, centre))
        conn.execute("INSERT INTO residents (home_id, full_name) VALUES (%s, 'R')", (home,))
    demo = Demo(settings, DemoOptions(), dict(os.environ), tmp_path)
    first = await _demo_users(demo, env_for(), centre, settings)
    assert [u.role for u in first] == ["admin", "staff", "family", "district"]
    assert all(u.password for u in first)
    again = await _demo_users(demo, env_for(), centre, settings)
    assert [(u.username, u.password) for u in again] == [(u.username, None) for u in first]
