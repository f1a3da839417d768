"""Request ids, a server span per request, and HTTP metrics for the gateway."""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_runtime.faults import is_unavailable
from service_runtime.logs import request_id_var
from service_runtime.tracing import extract
from services.gateway.errors import error_body, unavailable_response

HTTP_REQUESTS = Counter("loyalty_http_requests_total", "Gateway HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "loyalty_http_request_duration_seconds", "Gateway HTTP latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
tracer = trace.get_tracer("gateway")
log = logging.getLogger(__name__)


def _route_of(request: Request) -> str:
    """The route template (/v1/members/{member_id}), so metrics do not explode per id."""
    effective = (request.scope.get("fastapi") or {}).get("effective_route_context")
    if effective is not None and getattr(effective, "path", None):
        return str(effective.path)
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class TelemetryMiddleware:
    """The outermost of our middlewares, as plain ASGI (Starlette's BaseHTTPMiddleware cost about
    0.5 ms of CPU per request and layer here): a request id (the caller's X-Request-ID when it is
    sane), one server span, X-Request-ID and X-Trace-ID on every answer, HTTP metrics, and the
    error body for an unhandled error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        incoming = request.headers.get("x-request-id", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.state.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        with tracer.start_as_current_span(
            f"{request.method} {request.url.path}", context=extract(dict(request.headers)), kind=SpanKind.SERVER,
            attributes={"http.method": request.method, "http.target": request.url.path, "request_id": request_id},
        ) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")

            async def send_with_ids(message: Message) -> None:
                nonlocal status, response_started
                if message["type"] == "http.response.start":
                    status, response_started = message["status"], True
                    headers = MutableHeaders(scope=message)
                    headers["X-Request-ID"] = request_id
                    headers["X-Trace-ID"] = trace_id
                await send(message)

            try:
                await self.app(scope, receive, send_with_ids)
            except Exception as exc:  # an unhandled error still answers with the error body and our headers
                if response_started:
                    log.exception("unhandled error")
                    raise
                if is_unavailable(exc):  # the guard's own database work (keys, idempotency) during an outage
                    await unavailable_response(request, exc)(scope, receive, send_with_ids)
                else:
                    log.exception("unhandled error")
                    await JSONResponse(error_body(request, "internal_error", "internal error"),
                                       status_code=500)(scope, receive, send_with_ids)
            finally:
                request_id_var.reset(token)
            route = _route_of(request)
            span.update_name(f"{request.method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)


def rpc_context(request: Request) -> dict[str, Any]:
    """Context data sent with every RPC: request id, the authenticated caller, the trace context."""
    from service_runtime.tracing import inject_current

    context: dict[str, Any] = {"request_id": request.state.request_id}
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        context["caller"] = principal.rpc_context()
    context.update(inject_current())
    return context
