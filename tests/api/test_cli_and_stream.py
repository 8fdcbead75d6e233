"""The real CLI: `eldercare users add`, `eldercare api` refusing to start without a secret, the live stream over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from eldercare.cli_support import EXIT_EXISTS
from tests.api.conftest import NOW, PASSWORD, SECRET, RunningApi, World, insert_alert, wait_until_serving
from tests.support.processes import ServiceProcess, run_cli
from tests.support.proxy import TcpProxy, proxy_to_database
from tests.support.services import free_port


def test_users_add_creates_the_first_admin_and_linked_family(env_for: Callable[..., dict[str, str]], db_url: str) -> None:
    env = env_for()
    add = ["users", "add"]
    first = run_cli([*add, "--role", "admin", "--username", "Root", "--password-stdin"], env, stdin="a long password\n")
    assert first.returncode == 0, first.stderr
    assert "created admin root" in first.stdout
    again = run_cli([*add, "--role", "admin", "--username", "root", "--password-stdin"], env, stdin="a long password\n")
    assert again.returncode == EXIT_EXISTS  # a script (the demo) tells "exists" from a failure by the code
    assert "already exists" in again.stderr
    with psycopg.connect(db_url) as conn:
        centre = conn.execute("INSERT INTO care_centres (name) VALUES ('C') RETURNING id").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO homes (id, care_centre_id) VALUES ('home-c1', %s)", (centre,))
        resident = conn.execute("INSERT INTO residents (home_id, full_name) VALUES ('home-c1', 'R') RETURNING id").fetchone()[0]  # type: ignore[index]
    family = run_cli(
        [*add, "--role", "family", "--username", "daughter", "--resident", str(resident), "--password-stdin"],
        env,
        stdin="another long one\n",
    )
    assert family.returncode == 0, family.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT u.role, u.password_hash, f.resident_id FROM users u LEFT JOIN family_links f ON f.user_id = u.id ORDER BY u.id"
        ).fetchall()
    assert [(r[0], r[2]) for r in rows] == [("admin", None), ("family", resident)]
    assert all(r[1].startswith("$argon2id$") and "long" not in r[1] for r in rows)


def test_users_add_reports_every_usage_problem_with_exit_2(env_for: Callable[..., dict[str, str]]) -> None:
    result = run_cli(["users", "add", "--role", "staff", "--username", "x"], env_for())
    assert result.returncode == 2
    assert "--centre" in result.stderr
    assert "--username" in result.stderr
    add = ["users", "add", "--role", "admin", "--username", "admin2", "--password-stdin"]
    short = run_cli(add, env_for(), stdin="short\n")
    assert short.returncode == 2
    assert "at least 10 characters" in short.stderr
    # The rules of POST /api/v1/users, to the letter: a display name is at most 200 characters.
    long_name = run_cli([*add, "--display-name", "x" * 201], env_for(), stdin="a long password\n")
    assert long_name.returncode == 2
    assert "--display-name" in long_name.stderr


def test_api_refuses_to_start_without_a_real_secret(env_for: Callable[..., dict[str, str]]) -> None:
    missing = run_cli(["api"], env_for())
    assert missing.returncode == 2
    assert "ELDERCARE_API__JWT_SECRET" in missing.stderr
    placeholder = run_cli(["api"], env_for(api__jwt_secret="change-me"))
    assert placeholder.returncode == 2
    assert "ELDERCARE_API__JWT_SECRET" in placeholder.stderr


def _all_events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], "message"
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def _events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The alert events (not the clock or the end of the first batch)."""
    return [e for e in _all_events(lines) if e[0] in ("alert", "gone")]


def test_stream_sends_new_alerts_and_changes_in_scope_only(api_server: RunningApi, world: World, db_url: str) -> None:
    token = httpx.post(
        f"{api_server.url}/api/v1/auth/token", data={"username": "staff_a", "password": "correct horse battery"}, timeout=10
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    seen: list[str] = []
    with (
        httpx.Client(timeout=30) as http,
        http.stream("GET", f"{api_server.url}/api/v1/alerts/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()

        def until(predicate: Callable[[list[tuple[str, dict[str, Any]]]], bool]) -> list[tuple[str, dict[str, Any]]]:
            for line in lines:
                seen.append(line)
                if line == "" and predicate(_events(seen)):
                    return _events(seen)
            raise AssertionError(f"stream ended: {seen}")

        until(lambda ev: any(e[1].get("id") == world.alert_x for e in ev))  # the snapshot
        with psycopg.connect(db_url) as conn:
            other = insert_alert(
                conn, home="home-b1", resident=world.resident_z, centre=world.centre_b, kind="fall", severity="high", opened=NOW
            )
            new = insert_alert(
                conn,
                home="home-a1",
                resident=world.resident_y,
                centre=world.centre_a,
                kind="inactivity",
                severity="medium",
                opened=NOW,
            )
        until(lambda ev: any(e[1].get("id") == new for e in ev))
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE alerts SET status = 'resolved', updated_at = now() WHERE id = %s", (new,))
        events = until(lambda ev: any(e == ("gone", {**e[1], "id": new, "status": "resolved"}) for e in ev))
    ids = {e[1]["id"] for e in events}
    assert other not in ids
    assert world.alert_z not in ids
    assert [e[0] for e in events if e[1]["id"] == new] == ["alert", "gone"]
    assert api_server.process.stop() == 0
    log = api_server.process.log_text()
    assert "Resident" not in log  # names never reach the logs


def test_family_stream_holds_only_their_resident(api_server: RunningApi, world: World) -> None:
    token = httpx.post(
        f"{api_server.url}/api/v1/auth/token", data={"username": "family_x", "password": "correct horse battery"}, timeout=10
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    lines: list[str] = []
    with (
        httpx.Client(timeout=30) as http,
        http.stream("GET", f"{api_server.url}/api/v1/alerts/stream", headers=headers) as response,
    ):
        for line in response.iter_lines():
            lines.append(line)
            if _events(lines):
                break
    assert [e[1]["id"] for e in _events(lines)] == [world.alert_x]
    assert SECRET not in api_server.process.log_text()


def test_healthz_needs_no_token(api_server: RunningApi, world: World) -> None:
    response = httpx.get(f"{api_server.url}/healthz", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_stream_ends_cleanly_when_the_database_goes_away(
    env_for: Callable[..., dict[str, str]], world: World, db_url: str, tcp_proxy: Callable[[str, int], TcpProxy], tmp_path: Path
) -> None:
    proxy, via_proxy = proxy_to_database(tcp_proxy, db_url)
    port = free_port()
    env = env_for(api__jwt_secret=SECRET, api__port=str(port), api__stream_poll_interval_s="0.25", clock__start=NOW.isoformat())
    env["ELDERCARE_DATABASE_URL"] = via_proxy
    api = ServiceProcess(["api"], env, tmp_path / "api.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, api)
        token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "staff_a", "password": PASSWORD}, timeout=10).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with httpx.Client(timeout=30) as http, http.stream("GET", f"{url}/api/v1/alerts/stream", headers=headers) as response:
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if _events(lines):
                    proxy.cut()  # the database vanishes while the stream is open
            # iter_lines returned: the server ended the stream instead of hanging or crashing
        proxy.restore()
        # Once the database is back, a new stream works again. The API may still hold a connection
        # broken by the cut: that stream ends cleanly too, and the next one gets the events.
        deadline = time.monotonic() + 60
        lines = []
        while not _events(lines) and time.monotonic() < deadline:
            with httpx.Client(timeout=30) as http, http.stream("GET", f"{url}/api/v1/alerts/stream", headers=headers) as again:
                lines = []
                for line in again.iter_lines():
                    lines.append(line)
                    if _events(lines):
                        break
        assert [e[1]["id"] for e in _events(lines)] == [world.alert_x]
        assert "alert_stream_database_unavailable" in api.log_text()
        assert "Traceback" not in api.log_text()
    finally:
        assert api.stop() == 0


def test_starts_and_stays_up_while_the_database_is_away(
    env_for: Callable[..., dict[str, str]], world: World, db_url: str, tcp_proxy: Callable[[str, int], TcpProxy], tmp_path: Path
) -> None:
    proxy, via_proxy = proxy_to_database(tcp_proxy, db_url)
    proxy.cut()
    port = free_port()
    env = env_for(api__jwt_secret=SECRET, api__port=str(port), db__connect_timeout_s="1")
    env["ELDERCARE_DATABASE_URL"] = via_proxy
    api = ServiceProcess(["api"], env, tmp_path / "api.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, api, ready=False)
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 503
        login = {"username": "staff_a", "password": PASSWORD}
        assert httpx.post(f"{url}/api/v1/auth/token", data=login, timeout=30).status_code == 503
        proxy.restore()
        wait_until_serving(url, api)
        assert httpx.post(f"{url}/api/v1/auth/token", data=login, timeout=10).status_code == 200
    finally:
        assert api.stop() == 0


def _stream_lines(url: str, headers: dict[str, str], stop: Callable[[list[str]], bool]) -> list[str]:
    lines: list[str] = []
    with httpx.Client(timeout=30) as http, http.stream("GET", f"{url}/api/v1/alerts/stream", headers=headers) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            lines.append(line)
            if line == "" and stop(lines):
                return lines
    raise AssertionError(f"stream ended: {lines}")


def test_database_notifications_drive_the_stream_and_a_reconnection_misses_nothing(
    env_for: Callable[..., dict[str, str]], world: World, db_url: str, tmp_path: Path
) -> None:
    # Polling once a minute: only the database's notification can bring the new alert within the
    # 30 s the client waits for it.
    port = free_port()
    env = env_for(api__jwt_secret=SECRET, api__port=str(port), api__stream_poll_interval_s="60", clock__start=NOW.isoformat())
    api = ServiceProcess(["api"], env, tmp_path / "api.log").start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, api)
        token = httpx.post(f"{url}/api/v1/auth/token", data={"username": "staff_a", "password": PASSWORD}, timeout=10).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        first = _stream_lines(url, headers, lambda lines: any(e[0] == "synced" for e in _all_events(lines)))
        events = _all_events(first)
        assert events[0][0] == "clock"
        assert events[0][1]["speed"] == 1.0
        assert ("synced", {"ids": [world.alert_x]}) in events
        last_id = [line[4:] for line in first if line.startswith("id: ")][-1]

        with psycopg.connect(db_url) as conn:  # while the page is away: one resolved, one new
            conn.execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = %s, outcome = 'visited', updated_at = %s WHERE id = %s",
                (NOW, NOW, world.alert_x),
            )
            new = insert_alert(
                conn,
                home="home-a1",
                resident=world.resident_y,
                centre=world.centre_a,
                kind="sos",
                severity="critical",
                opened=NOW,
            )
        again = _all_events(
            _stream_lines(url, {**headers, "Last-Event-ID": last_id}, lambda ls: any(e[0] == "gone" for e in _all_events(ls)))
        )
        assert ("synced", {"ids": [new]}) in again
        gone = [e[1] for e in again if e[0] == "gone"]
        assert [(g["id"], g["status"], g["outcome"]) for g in gone] == [(world.alert_x, "resolved", "visited")]

        inserted: list[int] = []

        def arrives(lines: list[str]) -> bool:
            events = _all_events(lines)
            if not inserted and any(e[0] == "synced" for e in events):
                with psycopg.connect(db_url) as conn:  # the page is connected and up to date: now the fall
                    inserted.append(
                        insert_alert(
                            conn,
                            home="home-a1",
                            resident=world.resident_x,
                            centre=world.centre_a,
                            kind="fall",
                            severity="critical",
                            opened=NOW,
                        )
                    )
            return bool(inserted) and any(e[0] == "alert" and e[1]["id"] == inserted[0] for e in events)

        _stream_lines(url, headers, arrives)  # within 30 s: a notification, not the 60 s poll
    finally:
        assert api.stop() == 0
