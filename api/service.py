"""The API process: ``run(settings, stop)`` serves the API and the dashboard with uvicorn until ``stop``.

The database may be absent at start or go away later: the pool keeps trying in the background,
requests that need it answer 503, and ``GET /healthz`` says 503 until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from api.app import create_app
from eldercare import logs
from eldercare.config import Settings
from eldercare.errors import PermanentError
from eldercare.retry import stopped_first


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: our lifecycle owns SIGTERM/SIGINT and exits 0.

    (Uvicorn re-raises a captured SIGTERM after shutting down, which would end the process with
    -15 instead of the clean exit code the CLI promises.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until ``stop``. ConfigError without a real JWT secret; PermanentError when the server
    could not start (the port is taken, or the app's start-up failed: uvicorn logged why)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,
        access_log=False,  # request paths carry resident ids; our own logs carry what is needed
        timeout_graceful_shutdown=3,  # open alert streams are cut after this on SIGTERM
        # Behind Caddy, the client address (login throttling, logs) comes from X-Forwarded-For, but only
        # when the connection comes from the proxy itself; anyone else's header is ignored.
        proxy_headers=bool(settings.api.forwarded_allow_ips),
        forwarded_allow_ips=settings.api.forwarded_allow_ips or None,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    await stopped_first(stop, serving)
    server.should_exit = True
    await serving
    if not server.started:
        raise PermanentError("the API did not start (see the log above)")
    logs.get("api").info("api_stopped")
