"""The console's Prometheus metrics (requests by route template and status, their latency, and the
API calls behind them), served on its own port (CONSOLE_METRICS_PORT), never on the public one."""
from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram, start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("console")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
REQUESTS = Counter("loyalty_console_requests_total", "Console HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("loyalty_console_request_duration_seconds", "Console HTTP latency", ["method", "route"],
                    buckets=BUCKETS)
API_LATENCY = Histogram("loyalty_console_api_call_duration_seconds", "The console's calls to the gateway's API",
                        ["method", "status"], buckets=BUCKETS)


def route_of(scope: Scope) -> str:
    """The route template (/members/{member_id}), so the series do not grow with every id."""
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return str(getattr(scope.get("route"), "path", "unmatched"))


class MetricsMiddleware:
    """Plain ASGI, the outermost layer: every request counted and timed, whatever answered it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_of(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def serve(host: str, port: int) -> None:
    """/metrics on its own port, in a thread; a port already taken is logged (the pages matter more)."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error("metrics port %s:%s unavailable (%s): /metrics is not served (CONSOLE_METRICS_PORT)",
                  host, port, exc)
        return
    log.info("metrics on %s:%s/metrics", host, port)
