"""Refuse a request body larger than :data:`api.bounds.MAX_BODY_BYTES` before anything parses it.

A declared ``Content-Length`` over the limit is answered 413 at once; a body without one (chunked)
is counted as it arrives and refused as soon as it passes the limit. Nothing the API accepts comes
near it, so a larger body is an attack or a bug, never data to keep.
"""

from __future__ import annotations

from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.bounds import MAX_BODY_BYTES
from api.errors import error

TOO_LARGE = f"request body larger than {MAX_BODY_BYTES} bytes / 请求内容超过 {MAX_BODY_BYTES} 字节"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error(status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI lets an HTTPException out of its body parsing: answered by api.errors.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, TOO_LARGE)
            return message

        await self.app(scope, counted, send)
