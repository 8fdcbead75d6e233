"""Helpers of the alert-engine tests: seed rows the way ingest and the API write them, a real
webhook receiver (http.server in a thread), a real SMTP server (aiosmtpd), an in-process engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller
from psycopg.types.json import Jsonb

from alerts.engine import Engine
from alerts.metrics import Metrics
from alerts.notify.channels import Senders
from eldercare.clock import Clock
from eldercare.config import Settings
from eldercare.db.pool import open_pool
from tests.support.services import free_port

SECRET = "test-webhook-secret-0123456789"


# --------------------------------------------------------------------------- database rows


def sql(db_url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def seed_home(
    db_url: str,
    home_id: str = "h1",
    *,
    tz: str = "UTC",
    quiet: tuple[str, str] | None = None,
    rule_settings: dict[str, Any] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> tuple[int, int]:
    """A care centre, a home and its resident; returns (centre id, resident id)."""
    start, end = quiet or (None, None)
    centre = sql(
        db_url,
        "INSERT INTO care_centres (name, timezone, quiet_start, quiet_end) VALUES ('c', %s, %s, %s) RETURNING id",
        (tz, start, end),
    )[0][0]
    sql(db_url, "INSERT INTO homes (id, care_centre_id, timezone) VALUES (%s, %s, %s)", (home_id, centre, tz))
    resident = sql(
        db_url,
        "INSERT INTO residents (home_id, full_name, rule_settings, emergency_contacts) VALUES (%s, 'R', %s, %s) RETURNING id",
        (home_id, Jsonb(rule_settings or {}), Jsonb(contacts or [])),
    )[0][0]
    return int(centre), int(resident)


def add_channel(db_url: str, centre: int, kind: str, target: str, *, tier: int = 0, min_severity: str = "low") -> int:
    secret = SECRET if kind == "webhook" else None
    return int(
        sql(
            db_url,
            "INSERT INTO notification_channels (care_centre_id, name, kind, target, secret, tier, min_severity)"
            " VALUES (%s, 'ch', %s, %s, %s, %s, %s) RETURNING id",
            (centre, kind, target, secret, tier, min_severity),
        )[0][0]
    )


def add_inbox(db_url: str, home_id: str, kind: str, ts: datetime, *, seq: int = 1, room: str | None = None, **data: Any) -> None:
    """What ingest does for a new event: one inbox row, then the wake-up."""
    device = None if kind == "gateway_status" else f"{home_id}-dev"
    sql(
        db_url,
        "INSERT INTO alert_inbox (home_id, device_id, seq, ts, type, room, data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (home_id, device, None if device is None else seq, ts, kind, room, Jsonb(data)),
    )
    sql(db_url, "NOTIFY eldercare_inbox")


def healthy_home(db_url: str, home_id: str, at: datetime) -> None:
    """Gateway online and a motion sensor seen at ``at``: the welfare rules can be judged."""
    sql(
        db_url,
        "INSERT INTO home_state (home_id, gateway_state, gateway_state_at, last_motion_at) VALUES (%s, 'online', %s, %s)"
        " ON CONFLICT (home_id) DO UPDATE SET gateway_state = 'online', gateway_state_at = EXCLUDED.gateway_state_at,"
        " judge_pending = true",
        (home_id, at, at),
    )
    sql(
        db_url,
        "INSERT INTO devices (id, home_id, kind, room, first_seen_at, last_seen_at) VALUES (%s, %s, 'motion', 'kitchen', %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at",
        (f"{home_id}-m1", home_id, at, at),
    )


def add_motion(db_url: str, home_id: str, at: datetime, room: str = "kitchen", seq: int = 1) -> None:
    sql(
        db_url,
        "INSERT INTO readings (home_id, device_id, seq, ts, metric, value, room) VALUES (%s, %s, %s, %s, 'motion', 1, %s)",
        (home_id, f"{home_id}-m1", seq, at, room),
    )
    mark_input(db_url, home_id)


def mark_input(db_url: str, home_id: str) -> None:
    """What ingest does with every batch that brings a home data: the engine judges it next pass."""
    sql(
        db_url,
        "INSERT INTO home_state (home_id, judge_pending) VALUES (%s, true)"
        " ON CONFLICT (home_id) DO UPDATE SET judge_pending = true",
        (home_id,),
    )


def alerts_of(db_url: str, home_id: str = "h1") -> list[tuple[Any, ...]]:
    return sql(db_url, "SELECT id, kind, severity, status FROM alerts WHERE home_id = %s ORDER BY id", (home_id,))


def outbox_of(db_url: str) -> list[tuple[Any, ...]]:
    return sql(db_url, "SELECT id, purpose, escalation_level, channel_id, status, attempts FROM notification_outbox ORDER BY id")


# --------------------------------------------------------------------------- receivers


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # UNIX time of arrival

    def signature_ok(self, secret: str = SECRET) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-eldercare-signature", ""))

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class WebhookReceiver:
    """A real HTTP server in a thread; ``start()`` may come late (the receiver was down)."""

    port: int = field(default_factory=free_port)
    status: int = 200
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(Received(self.path, headers, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


@contextmanager
def webhook_receiver(*, started: bool = True) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    if started:
        receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - the aiosmtpd API
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


# --------------------------------------------------------------------------- engine


@asynccontextmanager
async def engine_for(settings: Settings, clock: Clock) -> AsyncIterator[Engine]:
    """An in-process engine on ``settings``'s database, driven step by step with ``clock``."""
    async with open_pool(settings, name="test-alerts") as pool:
        await pool.wait(timeout=10)
        async with httpx.AsyncClient(timeout=settings.alerts.notify_timeout_s) as http:
            yield Engine(settings, pool, clock, Senders(settings.alerts, http), Metrics())
