"""The app factory: ``create_app(settings)`` builds the API and the dashboard around one pool and one clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import errors
from api.alert_wakeups import AlertWakeups
from api.body_limit import BodyLimit
from api.deps import ApiContext
from api.request_log import RequestLog
from api.routes import (
    activity,
    alert_catalogue,
    alerts,
    audit,
    auth,
    board,
    centres,
    clock,
    dashboard,
    dead_letters,
    devices,
    handover,
    health,
    homes,
    oversight,
    readings,
    residents,
    stream,
    summary,
    telecare,
    users,
)
from eldercare import __version__, logs
from eldercare.clock import Clock, SystemClock
from eldercare.config import Settings
from eldercare.db.pool import open_pool
from eldercare.errors import ConfigError
from eldercare.lifecycle import clock_from
from eldercare.mqtt.dynsec import BrokerAdmin

log = logs.get("api")

DESCRIPTION = """
REST API of eldercare for care staff and families (智慧养老平台接口：护理人员与家属).

Log in at `/api/v1/auth/token` (OAuth2 password flow) and send `Authorization: Bearer <access_token>`.
Admins see everything; care staff see their care centre's homes, residents, alerts and the dead letters of
their homes (messages a gateway sent that the platform refused, with the reason); families see their linked
residents only, read-only. Anything outside your scope answers 404, exactly as if it did not exist.
Invalid input answers 422 with every offending field: `{"detail": [{"loc": ["body", "notes"], "msg": "...", "type": "..."}]}`
(`loc` starts with `body`, `query` or `path`). Every other error answers `{"detail": "<English / 中文>"}`: 401 not
logged in, 403 not allowed for your role, 404 not found or outside your scope, 409 conflicts with the current state,
413 body larger than 64 KiB, 429 too many attempts (`Retry-After`), 503 temporarily unavailable.
Date-times are RFC 3339 text with an offset (`2026-05-01T08:00:00+08:00`), dates `YYYY-MM-DD`; numbers are refused.
"""

# Every router, in matching order: the stream's fixed path must come before `/alerts/{alert_id}`.
ROUTERS = (
    health,
    auth,
    clock,
    users,
    audit,
    centres,
    telecare,
    homes,
    residents,
    activity,
    readings,
    summary,
    devices,
    dead_letters,
    oversight,
    handover,
    stream,
    alert_catalogue,
    alerts,
    board,
    dashboard,
)


def create_app(settings: Settings, *, clock: Clock | None = None, wall_clock: Clock | None = None) -> FastAPI:
    """The API with the dashboard at ``/``. Refuses to build without a real JWT secret (ConfigError).

    ``clock`` is the data clock (the settings' simulated one by default), ``wall_clock`` the one
    security runs on (the system's by default).
    """
    if settings.api.jwt_secret is None:
        raise ConfigError(["ELDERCARE_API__JWT_SECRET: required to run the API (at least 32 random characters)"])
    the_clock = clock or clock_from(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_pool(settings, name="api") as pool:
            wakeups = AlertWakeups()
            stop = asyncio.Event()
            listening = asyncio.create_task(wakeups.run(settings, stop), name="alert-wakeups")
            app.state.ctx = ApiContext(
                settings=settings,
                pool=pool,
                clock=the_clock,
                wall=wall_clock or SystemClock(),
                broker=BrokerAdmin.from_settings(settings),
                wakeups=wakeups,
            )
            log.info("api_ready", broker_admin=app.state.ctx.broker is not None)
            try:
                yield
            finally:
                stop.set()
                await listening

    app = FastAPI(title="eldercare API", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    errors.install(app, [module.router for module in ROUTERS])
    for module in ROUTERS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestLog)
    return app
