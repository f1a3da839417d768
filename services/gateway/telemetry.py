"""Request ids, a server span per request, and HTTP metrics for the gateway."""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from service_runtime.logs import request_id_var
from service_runtime.tracing import extract
from services.gateway.errors import error_body

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


async def telemetry_middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    incoming = request.headers.get("x-request-id", "")
    request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request.state.request_id = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    parent = extract(dict(request.headers))
    with tracer.start_as_current_span(
        f"{request.method} {request.url.path}", context=parent, kind=SpanKind.SERVER,
        attributes={"http.method": request.method, "http.target": request.url.path, "request_id": request_id},
    ) as span:
        try:
            response = await call_next(request)
        except Exception:  # an unhandled error still answers with the error body and our headers
            log.exception("unhandled error")
            response = JSONResponse(error_body(request, "internal_error", "internal error"), status_code=500)
        finally:
            request_id_var.reset(token)
        route = _route_of(request)
        span.update_name(f"{request.method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        trace_id = format(span.get_span_context().trace_id, "032x")
    response.headers["X-Request-ID"] = request_id
    response.headers["X-Trace-ID"] = trace_id
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def rpc_context(request: Request) -> dict[str, Any]:
    """Context data sent with every RPC: request id, the authenticated caller, the trace context."""
    from service_runtime.tracing import inject_current

    context: dict[str, Any] = {"request_id": request.state.request_id}
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        context["caller"] = principal.rpc_context()
    context.update(inject_current())
    return context
