"""Every error the API answers, translated once, here, and documented as it is answered.

Two shapes, and only two:

- 422: ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` — what was wrong and where, from
  the models (:class:`fastapi.exceptions.RequestValidationError`) and from the routes
  (:class:`InvalidInputError`) alike. The input is never echoed back: it may be a password, or not
  even Unicode (an unpaired surrogate in the echo made FastAPI's own handler answer 500).
- every other error status: ``{"detail": "<text in English / 中文>"}``.

:func:`install` wires the handlers into the app and rewrites its OpenAPI document so that every
operation lists the error statuses it can answer (401 behind a login, 403 for writers or admins
only, 413 and 422 for a body, 503 when it needs the database) with these two schemas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import deps
from api.bounds import MAX_BODY_BYTES
from eldercare import logs
from eldercare.errors import EldercareError, NotFoundError, PermanentError, TransientError
from eldercare.mqtt.dynsec import DynsecError

log = logs.get("api")

Loc = Sequence[str | int]
UNAVAILABLE = "temporarily unavailable, try again / 服务暂时不可用，请重试"
BROKER_REFUSED = "the broker refused the credentials change / 消息服务器拒绝了凭据变更"
BAD_VALUE = "a value is out of range or malformed / 数值超出范围或格式错误"


class Error(BaseModel):
    """Every error but 422."""

    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrors(BaseModel):
    """422: what was wrong, and where (``loc``: ``body``, ``query`` or ``path``, then the field)."""

    detail: list[ValidationIssue]


class InvalidInputError(EldercareError):
    """Input the models accept but the route refuses (a reversed range, an assignee of another centre): 422."""

    def __init__(self, loc: Loc, msg: str, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.loc, self.msg, self.kind = tuple(loc), msg, kind


def _text(value: object) -> str:
    """Printable and encodable: an unpaired surrogate (in an unknown key, say) becomes ``\\ud800``."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _issue(loc: Loc, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": [part if isinstance(part, int) else _text(part) for part in loc], "msg": _text(msg), "type": kind}


def invalid(issues: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": issues})


def error(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail}, headers=headers)


def _allowed_methods(routes: Sequence[APIRoute], path: str) -> str:
    """Every method of every route at this path (Starlette names only the first route's)."""
    return ", ".join(sorted({method for route in routes if route.path_regex.match(path) for method in route.methods or ()}))


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    return invalid([_issue(e.get("loc", ()), e.get("msg", ""), e.get("type", "value_error")) for e in exc.errors()])


async def _invalid_input(_: Request, exc: InvalidInputError) -> JSONResponse:
    return invalid([_issue(exc.loc, exc.msg, exc.kind)])


def _http(routes: Sequence[APIRoute]) -> Callable[[Request, Exception], Any]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
            return invalid([_issue((), str(exc.detail), "value_error")])
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            headers["Allow"] = _allowed_methods(routes, request.url.path)
        return error(exc.status_code, _text(exc.detail), headers)

    return handle


def _fixed(code: int, detail: str, event: str | None = None) -> Callable[[Request, Exception], Any]:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        if event:
            log.warning(event, error=type(exc).__name__)
        if code == status.HTTP_422_UNPROCESSABLE_CONTENT:
            return invalid([_issue((), detail, "value_error")])
        return error(code, detail)

    return handle


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return error(status.HTTP_409_CONFLICT, _text(exc))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("request_failed", error=type(exc).__name__)
    return error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error / 内部错误")


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """The handlers, and the OpenAPI document that says what they answer (``routers``: every
    router of the app, whose routes the 405 answers and the document are built from)."""
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidInputError, _invalid_input)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http(routes))
    for kind, handler in (
        (NotFoundError, _fixed(status.HTTP_404_NOT_FOUND, "not found / 未找到")),
        (DynsecError, _fixed(status.HTTP_502_BAD_GATEWAY, BROKER_REFUSED, "broker_refused_command")),
        (PermanentError, _conflict),
        (TransientError, _fixed(status.HTTP_503_SERVICE_UNAVAILABLE, UNAVAILABLE, "dependency_unavailable")),
        (psycopg.DataError, _fixed(status.HTTP_422_UNPROCESSABLE_CONTENT, BAD_VALUE)),
        (psycopg.IntegrityError, _fixed(status.HTTP_409_CONFLICT, "conflicts with existing data / 与现有数据冲突")),
        (psycopg.OperationalError, _fixed(status.HTTP_503_SERVICE_UNAVAILABLE, UNAVAILABLE, "database_unavailable")),
    ):
        app.add_exception_handler(kind, handler)
    app.add_exception_handler(Exception, _unexpected)
    _document(app, routes)


_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _calls(dependant: Dependant) -> set[Any]:
    found: set[Any] = {dependant.call} if dependant.call is not None else set()
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _errors_of(route: APIRoute) -> dict[int, str]:
    """The error statuses an operation can answer, from what it depends on."""
    calls = _calls(route.dependant)
    found: dict[int, str] = {}
    if deps.current_user in calls:
        found[401] = "not logged in, or the access token expired or was revoked"
    if deps.require_writer in calls:
        found[403] = "read-only account (families, district offices)"
    if deps.require_staff in calls:
        found[403] = "care staff and administrators only (not families or district offices)"
    if deps.require_overseer in calls:
        found[403] = "not for family accounts"
    if deps.require_admin in calls:
        found[403] = "administrators only"
    if route.body_field is not None:
        found[400] = "the body could not be read (not UTF-8)"
        found[413] = f"the body is larger than {MAX_BODY_BYTES} bytes"
    if deps.get_conn in calls:
        found[503] = "the database is unreachable: try again"
    return found


def _document_operation(operation: dict[str, Any], extra: dict[int, str]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status_code, description in extra.items():
        responses.setdefault(str(status_code), {"description": description})
    for code, response in responses.items():
        if code.startswith(("4", "5")) and code != "422" and "content" not in response:
            response["content"] = _ERROR_CONTENT


def _document(app: FastAPI, routes: Sequence[APIRoute]) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for route in routes:
            if route.include_in_schema:
                for method in route.methods or ():
                    _document_operation(schema["paths"][route.path_format][method.lower()], _errors_of(route))
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = Error.model_json_schema()
        schemas["ValidationError"] = ValidationIssue.model_json_schema()
        schemas["HTTPValidationError"] = {
            **ValidationErrors.model_json_schema(ref_template="#/components/schemas/{model}"),
            "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}},
        }
        schemas["HTTPValidationError"].pop("$defs", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
