"""The console's web application: sessions, security headers, static files and the page routes."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from service_runtime.resp import RedisError
from services.console import (
    routes_audit,
    routes_auth,
    routes_campaigns,
    routes_desk,
    routes_me,
    routes_member,
    routes_ops,
    routes_reports,
    routes_segments,
    routes_sync,
    routes_templates,
)
from services.console.access import Permissions
from services.console.api import Api
from services.console.metrics import MetricsMiddleware
from services.console.session_backends import MemoryBackend, RedisBackend
from services.console.sessions import COOKIE, LANGS, SessionStore
from services.console.settings import ConsoleSettings
from services.console.web import Refused

log = logging.getLogger("console")

# scripts and styles from this site only (htmx and our own file; no inline script or style),
# no framing, forms post only here; QR codes and charts are inline SVG elements, not images
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.api.close()
        await app.state.sessions.close()

    app = FastAPI(title="Loyalty console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    backend = (RedisBackend(settings.session_redis_url, settings.session_redis_timeout_seconds)
               if settings.session_redis_url else MemoryBackend())
    app.state.sessions = SessionStore(settings.session_idle_seconds, backend)
    app.state.api = Api(settings.gateway_url, settings.api_timeout_seconds, app.state.sessions)
    app.state.permissions = Permissions()
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (routes_auth, routes_desk, routes_member, routes_audit, routes_me, routes_segments,
                   routes_campaigns, routes_reports, routes_ops, routes_templates, routes_sync):
        app.include_router(module.router)

    @app.middleware("http")
    async def sessions_and_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith("/static/") or request.url.path in ("/healthz", "/favicon.ico"):
            plain = await call_next(request)  # no session for probes and assets
            plain.headers["X-Content-Type-Options"] = "nosniff"
            return plain
        store: SessionStore = app.state.sessions
        sid = request.cookies.get(COOKIE)
        try:
            session = await store.get(sid)
        except (OSError, TimeoutError, RedisError) as exc:
            return _unavailable(exc)
        if session is None:
            wanted = request.headers.get("Accept-Language", "zh")[:2].lower()
            session = store.new("en" if wanted == "en" else "zh")
        request.state.session = session
        if not app.state.permissions.loaded:
            document = await app.state.api.call("GET", "/openapi.json")
            if document.ok:
                app.state.permissions.load(document.body)
        try:
            response = await call_next(request)
        except Refused as refused:  # raised inside a handler and passed through Starlette's middleware
            response = refused.response
        current = request.state.session  # login and logout replace it
        try:
            await store.save(current)
        except (OSError, TimeoutError, RedisError) as exc:
            return _unavailable(exc)
        if current.sid != sid:
            response.set_cookie(COOKIE, current.sid, httponly=True, secure=settings.secure_cookies,
                                samesite="strict", path="/")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        if current.lang in LANGS:
            response.headers["Content-Language"] = "zh-CN" if current.lang == "zh" else "en"
        return response

    app.add_middleware(MetricsMiddleware)  # added last: the outermost, so it times the session work too

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return exc.response

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _unavailable(exc: BaseException) -> Response:
    log.warning("session store unavailable: %s", exc)
    return PlainTextResponse("Sessions are unavailable for a moment; please try again.", status_code=503,
                             headers={"Retry-After": "5", "Cache-Control": "no-store"})
