"""OpenTelemetry tracing whose context crosses RPC calls and events.

Context travels in AMQP headers as Nameko context data (``nameko.traceparent``), so a
Nameko worker sees it in ``worker_ctx.context_data``; events carry it in their envelope
too, and the outbox relay copies it into the headers.

Exporters, chosen by ``OTEL_TRACES_EXPORTER``: ``none`` (default), ``console``,
``jsonfile`` (one JSON line per span in ``$TRACE_FILE_DIR/<service>.jsonl``, used by the
local platform and the end-to-end test) and ``otlp`` (OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT``).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service_runtime.config import env

_propagator = TraceContextTextMapPropagator()
TRACE_KEYS = ("traceparent", "tracestate")


class JsonFileSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line; readable by people and tests alike."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            if ctx is None:  # an SDK span always has one; the type allows none
                continue
            lines.append(json.dumps({
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
                "name": span.name,
                "kind": span.kind.name,
                "service": span.resource.attributes.get("service.name"),
                "start_ns": span.start_time,
                "end_ns": span.end_time,
                "status": span.status.status_code.name,
                "attributes": dict(span.attributes or {}),
            }, default=str))
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:  # nothing to release
        return None


def setup_tracing(service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = env("OTEL_TRACES_EXPORTER", "none").lower()
    if exporter == "jsonfile":
        directory = Path(env("TRACE_FILE_DIR", "var/traces"))
        provider.add_span_processor(SimpleSpanProcessor(JsonFileSpanExporter(directory / f"{service}.jsonl")))
    elif exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter != "none":
        raise ValueError(f"OTEL_TRACES_EXPORTER must be none, console, jsonfile or otlp, not {exporter!r}")
    trace.set_tracer_provider(provider)
    return provider


def inject_current() -> dict[str, str]:
    """The current trace context as W3C headers (empty when there is no active span)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def extract(carrier: dict[str, Any]) -> otel_context.Context:
    clean = {k: str(v) for k, v in carrier.items() if k in TRACE_KEYS and v}
    return _propagator.extract(clean, getter=DefaultGetter())


def current_trace_ids() -> tuple[str | None, str | None]:
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
