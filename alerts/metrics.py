"""Prometheus metrics of the engine, served by a tiny asyncio HTTP endpoint.

prometheus_client's own server runs in a thread that cannot be stopped cleanly; this one lives in
the engine's event loop and closes with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbox_items = Counter("eldercare_alerts_inbox_items", "inbox items handled", registry=self.registry)
        self.alerts_opened = Counter("eldercare_alerts_opened", "alerts opened", ["kind"], registry=self.registry)
        self.alerts_resolved = Counter(
            "eldercare_alerts_auto_resolved", "alerts resolved by the system", ["kind"], registry=self.registry
        )
        self.escalations = Counter("eldercare_alerts_escalations", "escalation steps", registry=self.registry)
        self.notifications = Counter(
            "eldercare_alerts_notifications", "notification outcomes", ["outcome"], registry=self.registry
        )
        self.homes_evaluated = Counter("eldercare_alerts_homes_evaluated", "periodic home evaluations", registry=self.registry)
        self.loop_errors = Counter("eldercare_alerts_loop_errors", "errors in a work loop", ["loop"], registry=self.registry)
        self.outbox_pending = Gauge("eldercare_alerts_outbox_pending", "pending notifications", registry=self.registry)
        self.outbox_oldest_due = Gauge(
            "eldercare_alerts_outbox_oldest_due_seconds", "how overdue the oldest pending notification is", registry=self.registry
        )
        self.pass_completed = Gauge(
            "eldercare_alerts_periodic_pass_completed_timestamp_seconds",
            "UNIX time this copy last completed a periodic pass",
            registry=self.registry,
        )
        self.pass_interval = Gauge(
            "eldercare_alerts_evaluation_interval_seconds", "wall seconds between periodic passes", registry=self.registry
        )
        self.gateways = Gauge("eldercare_gateways", "home gateways by last reported state", ["state"], registry=self.registry)
        self.degraded = Gauge(
            "eldercare_platform_degraded", "1 while a degradation that may delay alerts holds", ["reason"], registry=self.registry
        )
        self.heartbeats = Counter(
            "eldercare_alerts_heartbeats", "dead-man's switch pings: sent, failed, withheld", ["outcome"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


@contextlib.asynccontextmanager
async def serve(metrics: Metrics, host: str, port: int) -> AsyncIterator[int | None]:
    """Serve ``GET /metrics`` on (host, port); port 0 disables it. Yields the bound port."""
    if port == 0:
        yield None
        return

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                while (await reader.readline()).strip():
                    pass  # headers: not needed
            ok = request.split(b" ")[1:2] == [b"/metrics"]
            body = metrics.render() if ok else b"not found\n"
            status = b"200 OK" if ok else b"404 Not Found"
            head = b"HTTP/1.1 " + status + b"\r\nContent-Type: " + CONTENT_TYPE_LATEST.encode()
            writer.write(head + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
