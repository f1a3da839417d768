"""Tracing for Nameko workers (kept apart from tracing.py so the gateway never imports Nameko)."""
from __future__ import annotations

from contextvars import Token
from typing import Any

from nameko.extensions import DependencyProvider
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from service_runtime.logs import request_id_var
from service_runtime.tracing import extract, inject_current


class Tracing(DependencyProvider):
    """Opens a span per worker (RPC or event), parented by the caller's trace context.

    The worker's context data is updated with the new span's context, so RPC calls and
    events made by the worker carry this span as their parent.
    """

    def setup(self) -> None:
        self.tracer = trace.get_tracer("service_runtime")
        self._state: dict[object, tuple[Span, Token[Context], Token[str | None]]] = {}

    def worker_setup(self, worker_ctx: Any) -> None:
        data = worker_ctx.context_data
        entrypoint = worker_ctx.entrypoint
        kind = SpanKind.CONSUMER if hasattr(entrypoint, "event_type") else SpanKind.SERVER
        span = self.tracer.start_span(
            f"{worker_ctx.service_name}.{entrypoint.method_name}",
            context=extract(data),
            kind=kind,
            attributes={
                "rpc.system": "nameko",
                "rpc.service": worker_ctx.service_name,
                "rpc.method": entrypoint.method_name,
                "request_id": data.get("request_id") or "",
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        rid_token = request_id_var.set(data.get("request_id"))
        data.update(inject_current())
        self._state[worker_ctx] = (span, token, rid_token)

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        state = self._state.get(worker_ctx)
        if state and exc_info is not None:
            span = state[0]
            span.record_exception(exc_info[1])
            span.set_status(Status(StatusCode.ERROR, type(exc_info[1]).__name__))

    def worker_teardown(self, worker_ctx: Any) -> None:
        state = self._state.pop(worker_ctx, None)
        if state is None:
            return
        span, token, rid_token = state
        span.end()
        request_id_var.reset(rid_token)
        otel_context.detach(token)
