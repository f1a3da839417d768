"""Prometheus metrics for Nameko services: per-entrypoint counts and latency, outbox
backlog, inbox duplicates; served on the service's own port (``<SERVICE>_METRICS_PORT``).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger(__name__)

ENTRYPOINT_CALLS = Counter(
    "loyalty_entrypoint_calls_total",
    "Entrypoint invocations (RPC, event, timer) by outcome",
    ["service", "kind", "method", "outcome"],
)
ENTRYPOINT_LATENCY = Histogram(
    "loyalty_entrypoint_duration_seconds",
    "Entrypoint latency, from worker start to result",
    ["service", "kind", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("loyalty_outbox_backlog", "Outbox events not yet published", ["service"])
OUTBOX_PUBLISHED = Counter("loyalty_outbox_published_total", "Outbox events published and confirmed", ["service"])
OUTBOX_UNROUTABLE = Counter(
    "loyalty_outbox_unroutable_total", "Published events no queue was bound for", ["service", "event_type"]
)
OUTBOX_ERRORS = Counter(
    "loyalty_outbox_relay_errors_total", "Relay batches that failed and will be retried", ["service"]
)
INBOX_DUPLICATES = Counter(
    "loyalty_inbox_duplicates_total", "Events delivered again and skipped by the inbox", ["service", "event_type"]
)


def entrypoint_kind(entrypoint: Any) -> str:
    if hasattr(entrypoint, "event_type"):
        return "event"
    if hasattr(entrypoint, "interval"):
        return "timer"
    return "rpc"


class Metrics(DependencyProvider):
    """Times every worker of the service it is declared on."""

    def setup(self) -> None:
        self._started: dict[object, float] = {}

    def worker_setup(self, worker_ctx: Any) -> None:
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx: Any, result: Any = None, exc_info: Any = None) -> None:
        started = self._started.pop(worker_ctx, None)
        if started is None:
            return
        service, method = worker_ctx.service_name, worker_ctx.entrypoint.method_name
        kind = entrypoint_kind(worker_ctx.entrypoint)
        ENTRYPOINT_LATENCY.labels(service, kind, method).observe(time.perf_counter() - started)
        outcome = "ok" if exc_info is None else type(exc_info[1]).__name__
        ENTRYPOINT_CALLS.labels(service, kind, method, outcome).inc()

    def worker_teardown(self, worker_ctx: Any) -> None:
        self._started.pop(worker_ctx, None)


class MetricsServer(SharedExtension):
    """Serves /metrics (and /healthz, /readyz) for the whole process on the configured port (a green
    WSGI server)."""

    def setup(self) -> None:
        from service_runtime.config import settings_for

        self.port: int | None = settings_for(self.container.service_name).metrics_port
        from service_runtime import expiry

        expiry.register(self.container.service_name)  # its keys' rotation dates, beside the other metrics
        self.bound_port: int | None = None
        self._sock: Any = None

    def start(self) -> None:
        if self.port is None:
            return
        import eventlet
        import eventlet.wsgi

        self._sock = eventlet.listen(("0.0.0.0", self.port))
        self.bound_port = self._sock.getsockname()[1]
        from service_runtime import health

        app = health.wsgi(make_wsgi_app())  # /healthz and /readyz: its consumers, not just the process
        self.container.spawn_managed_thread(
            lambda: eventlet.wsgi.server(self._sock, app, log_output=False),
            identifier="metrics-server",
        )
        log.info("metrics on :%s/metrics", self.bound_port)

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def kill(self) -> None:
        self.stop()


REFUSED_CALLERS = Counter(
    "loyalty_refused_callers_total",
    "RPCs refused (their method not run): no caller signed by an accepted key, or signed too long ago",
    ["service"],
)
CONTAINED_FAILURES = Counter(
    "loyalty_contained_failures_total",
    "Failures outside a service method (reply publish, ack, worker hooks) logged and survived",
    ["service", "stage"],
)
UNAVAILABLE_ERRORS = Counter(
    "loyalty_dependency_unavailable_total",
    "Requests answered ServiceUnavailable because the database or broker was away",
    ["service"],
)
