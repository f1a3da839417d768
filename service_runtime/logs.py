"""JSON logs: one object per line with service, trace id and request id."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import trace

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ExpectedErrorFilter(logging.Filter):
    """Nameko logs an expected error (bad input, not found) with its traceback: keep the
    line, drop the traceback, which says nothing about a caller's mistake."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "nameko.containers" and str(record.msg).startswith("(expected)"):
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class UnavailableFilter(logging.Filter):
    """A database or broker outage fails every worker the same way: keep each line, but only
    one traceback per ``window`` seconds."""

    def __init__(self, window: float = 10.0) -> None:
        super().__init__()
        self.window, self._last = window, 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        from service_runtime.faults import is_unavailable

        if record.exc_info and is_unavailable(record.exc_info[1]):
            if record.created - self._last < self.window:
                record.exc_info, record.exc_text = None, None
            else:
                self._last = record.created
        return True


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(ExpectedErrorFilter())
    handler.addFilter(UnavailableFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # libraries that are chatty at INFO
    for noisy in ("amqp", "kombu", "aiormq", "aio_pika", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
