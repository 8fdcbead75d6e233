"""Readiness and the small HTTP endpoint every service serves it on, with its metrics.

A service starts, and stays up, through a database or broker that is not there (yet): it retries
with backoff (:mod:`eldercare.retry`) and says so in two places, its log (``dependency_waiting``
on every failed attempt, ``dependency_ready`` when it is back) and ``GET /ready`` (503 with what
it waits for, 200 once nothing). ``GET /metrics`` serves the Prometheus text of the service.

The endpoint lives in the service's own event loop (prometheus_client's server runs in a thread
that cannot be stopped cleanly) and takes the metrics as a callable, so this module needs neither
prometheus_client nor anything else outside the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

MetricsText = Callable[[], tuple[bytes, str]]  # (body, content type)
_NOT_REACHED = "not reached yet"


class Readiness:
    """What a service still waits for; ready when nothing. Dependencies start as not yet reached."""

    def __init__(self, log: Any, *dependencies: str) -> None:
        self._log = log
        self._waiting: dict[str, str] = dict.fromkeys(dependencies, _NOT_REACHED)

    @property
    def ready(self) -> bool:
        return not self._waiting

    @property
    def waiting_for(self) -> dict[str, str]:
        return dict(self._waiting)

    def unavailable(self, dependency: str, error: BaseException | str, *, attempt: int, retry_in_s: float) -> None:
        """A failed attempt to reach ``dependency``; logged every time (with the library's error
        class only: a message could quote data)."""
        reason = error if isinstance(error, str) else type(error.__cause__ or error).__name__
        self._waiting[dependency] = reason
        self._log.warning(
            "dependency_waiting", dependency=dependency, error=reason, attempt=attempt, retry_in_s=round(retry_in_s, 2)
        )

    def lost(self, dependency: str, reason: str) -> None:
        """``dependency`` is gone (its own retry loop logs the attempts): logged once, when it goes."""
        if self._waiting.get(dependency, _NOT_REACHED) == _NOT_REACHED:
            self._log.warning("dependency_waiting", dependency=dependency, error=reason)
        self._waiting[dependency] = reason

    def available(self, dependency: str) -> None:
        if self._waiting.pop(dependency, None) is not None:
            self._log.info("dependency_ready", dependency=dependency)

    def reporter(self, dependency: str) -> Callable[[Exception, int, float], None]:
        """An ``on_retry`` for :func:`eldercare.retry.retrying` that reports ``dependency`` waiting."""
        return lambda error, attempt, delay: self.unavailable(dependency, error, attempt=attempt, retry_in_s=delay)


@contextlib.asynccontextmanager
async def serve(host: str, port: int, *, readiness: Readiness, metrics: MetricsText) -> AsyncIterator[int | None]:
    """Serve ``GET /ready`` and ``GET /metrics`` on (host, port); port 0 disables it. Yields the bound port."""
    if port == 0:
        yield None
        return

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readline()
                while (await reader.readline()).strip():
                    pass  # headers: not needed
            status, content_type, body = _answer(request.split(b" ")[1:2], readiness, metrics)
            head = b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type.encode()
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


def _answer(path: list[bytes], readiness: Readiness, metrics: MetricsText) -> tuple[bytes, str, bytes]:
    if path == [b"/metrics"]:
        body, content_type = metrics()
        return b"200 OK", content_type, body
    if path == [b"/ready"]:
        document = {"ready": readiness.ready, "waiting_for": readiness.waiting_for}
        status = b"200 OK" if readiness.ready else b"503 Service Unavailable"
        return status, "application/json", json.dumps(document).encode()
    return b"404 Not Found", "text/plain", b"not found\n"
