"""The app factory: ``create_app(settings)`` builds the API and the dashboard around one pool and one clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.alert_wakeups import AlertWakeups
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
    devices,
    health,
    homes,
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
from eldercare.errors import ConfigError, NotFoundError, PermanentError, TransientError
from eldercare.lifecycle import clock_from
from eldercare.mqtt.dynsec import BrokerAdmin, DynsecError

log = logs.get("api")

DESCRIPTION = """
REST API of eldercare for care staff and families (智慧养老平台接口：护理人员与家属).

Log in at `/api/v1/auth/token` (OAuth2 password flow) and send `Authorization: Bearer <access_token>`.
Admins see everything; care staff see their care centre's homes, residents and alerts; families see their
linked residents only, read-only. Anything outside your scope answers 404, exactly as if it did not exist.
Invalid input answers 422 with the offending field in `detail[].loc`.
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
    stream,
    alert_catalogue,
    alerts,
    board,
    dashboard,
)


def _error(code: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail})


def _install_error_handlers(app: FastAPI) -> None:
    """Our exception kinds and psycopg's, mapped to HTTP once, here."""

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _error(status.HTTP_404_NOT_FOUND, "not found / 未找到")

    @app.exception_handler(DynsecError)
    async def broker_refused(_: Request, exc: DynsecError) -> JSONResponse:
        log.error("broker_refused_command", error=str(exc))
        return _error(status.HTTP_502_BAD_GATEWAY, "the broker refused the credentials change / 消息服务器拒绝了凭据变更")

    @app.exception_handler(PermanentError)
    async def conflict(_: Request, exc: PermanentError) -> JSONResponse:
        return _error(status.HTTP_409_CONFLICT, str(exc))

    @app.exception_handler(TransientError)
    async def unavailable(_: Request, exc: TransientError) -> JSONResponse:
        log.warning("dependency_unavailable", error=str(exc))
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, "temporarily unavailable, try again / 服务暂时不可用，请重试")

    @app.exception_handler(psycopg.DataError)
    async def bad_value(_: Request, exc: psycopg.DataError) -> JSONResponse:
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, "a value is out of range or malformed / 数值超出范围或格式错误")

    @app.exception_handler(psycopg.IntegrityError)
    async def integrity(_: Request, exc: psycopg.IntegrityError) -> JSONResponse:
        return _error(status.HTTP_409_CONFLICT, "conflicts with existing data / 与现有数据冲突")

    @app.exception_handler(psycopg.OperationalError)
    async def db_down(_: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("database_unavailable", error=type(exc).__name__)
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, "temporarily unavailable, try again / 服务暂时不可用，请重试")


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
    _install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    app.add_middleware(RequestLog)
    return app
