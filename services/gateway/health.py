"""Liveness that needs nothing: /healthz is answered before any middleware (no database for
keys or idempotency, no broker, no tracing), so it cannot fail while the process runs."""
from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = b'{"status":"ok"}'


class LivenessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(_BODY)).encode())]})
            await send({"type": "http.response.body", "body": _BODY if scope["method"] == "GET" else b""})
            return
        await self.app(scope, receive, send)
