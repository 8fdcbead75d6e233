"""One structured log line per request: method, route template, status, duration.

The route template (``/api/v1/residents/{resident_id}``) is logged, never the concrete path or query
string, which carry ids and filters; that also makes the lines easy to aggregate per endpoint.
A pure ASGI middleware, so streamed responses (the alert stream) pass through untouched.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eldercare import logs

log = logs.get("api")
_FIXED_PATHS = frozenset({"/", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def _unrouted(path: str) -> str:
    if path in _FIXED_PATHS:
        return path
    return "/static" if path.startswith("/static/") else "unmatched"


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", None) or (
                "/static" if scope["path"].startswith("/static/") else "unmatched"
            )
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log.info("http_request", method=scope["method"], route=route, status=status["code"], duration_ms=duration_ms)
