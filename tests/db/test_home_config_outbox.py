"""Which writes ask for a new gateway config: the triggers of 0080_home_config.sql.

A change to what a config carries must add an outbox row in its own transaction (so it is published
even if its writer dies right after); ingest's per-batch device updates (last seen, battery) must not.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

NOW = datetime(2026, 3, 1, 7, tzinfo=UTC)


def _causes(conn: psycopg.Connection) -> list[tuple[str, str]]:
    rows = conn.execute("DELETE FROM home_config_outbox RETURNING home_id, cause").fetchall()
    return sorted((str(home), str(cause)) for home, cause in rows)


def test_each_change_a_config_carries_is_queued_and_nothing_else(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        centre = conn.execute("INSERT INTO care_centres (name) VALUES ('C') RETURNING id").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO homes (id, care_centre_id) VALUES ('h1', %s), ('h2', %s)", (centre, centre))
        assert _causes(conn) == [("h1", "home"), ("h2", "home")]  # registered: the first config

        conn.execute("UPDATE homes SET label = 'x', credentials_rotated_at = %s WHERE id = 'h1'", (NOW,))
        assert _causes(conn) == []
        conn.execute("UPDATE homes SET timezone = 'Asia/Shanghai' WHERE id = 'h1'")
        assert _causes(conn) == [("h1", "home")]

        conn.execute(
            "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at) VALUES ('d1', 'h1', 'motion', NULL, %s, %s)",
            (NOW, NOW),
        )
        assert _causes(conn) == [("h1", "devices")]
        conn.execute("UPDATE devices SET last_seen_at = %s, battery_pct = 50, room = room WHERE id = 'd1'", (NOW,))
        assert _causes(conn) == []  # what ingest writes on every batch
        conn.execute("UPDATE devices SET room = 'kitchen' WHERE id = 'd1'")
        assert _causes(conn) == [("h1", "devices")]
        conn.execute("UPDATE devices SET home_id = 'h2' WHERE id = 'd1'")
        assert _causes(conn) == [("h1", "devices"), ("h2", "devices")]
        conn.execute("DELETE FROM devices WHERE id = 'd1'")
        assert _causes(conn) == [("h2", "devices")]

        resident = conn.execute("INSERT INTO residents (home_id, full_name) VALUES ('h1', 'R') RETURNING id").fetchone()[0]  # type: ignore[index]
        assert _causes(conn) == [("h1", "residents")]
        conn.execute("UPDATE residents SET notes = 'n', phone = '1' WHERE id = %s", (resident,))
        assert _causes(conn) == []
        conn.execute("""UPDATE residents SET rule_settings = '{"fall": {"enabled": false}}' WHERE id = %s""", (resident,))
        assert _causes(conn) == [("h1", "residents")]


def test_a_rolled_back_change_asks_for_nothing(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        centre = conn.execute("INSERT INTO care_centres (name) VALUES ('C') RETURNING id").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO homes (id, care_centre_id) VALUES ('h1', %s)", (centre,))
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM home_config_outbox").fetchone() == (0,)
