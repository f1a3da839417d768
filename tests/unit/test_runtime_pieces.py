"""Runtime pieces that need no broker and no database."""
from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from service_runtime.config import ServiceSettings, amqp_vhost, database_url, redact_url
from service_runtime.logs import JsonFormatter, request_id_var
from service_runtime.outbox import ConfirmingPublisher
from service_runtime.tracing import extract, inject_current


def test_settings_come_from_the_environment_with_defaults(monkeypatch):
    monkeypatch.setenv("POINTS_MAX_WORKERS", "32")
    monkeypatch.setenv("DB_NAME_PREFIX", "chain_")
    monkeypatch.delenv("POINTS_DATABASE_URL", raising=False)
    settings = ServiceSettings.load("points")
    assert settings.max_workers == 32
    assert settings.db_pool_size >= settings.max_workers + 1  # workers plus the relay
    assert settings.database_url.endswith("/chain_points")
    monkeypatch.setenv("POINTS_DATABASE_URL", "postgresql://u:p@db:5432/pts")
    assert database_url("points") == "postgresql://u:p@db:5432/pts"


def test_bad_setting_says_which_variable(monkeypatch):
    monkeypatch.setenv("MEMBERS_MAX_WORKERS", "ten")
    with pytest.raises(ValueError, match="MEMBERS_MAX_WORKERS"):
        ServiceSettings.load("members")


def test_vhost_and_redaction():
    assert amqp_vhost("amqp://guest:guest@h:5672/") == "/"
    assert amqp_vhost("amqp://guest:guest@h:5672/loyalty%2Fe2e") == "loyalty/e2e"
    assert redact_url("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_json_logs_carry_service_trace_and_request_id():
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    formatter = JsonFormatter("points")
    token = request_id_var.set("req-1")
    try:
        with tracer.start_as_current_span("work") as span:
            record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
            entry = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert entry["service"] == "points" and entry["msg"] == "hello world" and entry["request_id"] == "req-1"
    assert entry["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_trace_context_survives_inject_and_extract():
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("parent") as span:
        carrier = inject_current()
    assert carrier["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")
    restored = trace.get_current_span(extract(carrier)).get_span_context()
    assert restored.span_id == span.get_span_context().span_id
    assert extract({"traceparent": "garbage"}) is not None  # a bad header starts a new trace, no error


def test_publisher_confirm_bookkeeping_handles_multiple_acks_and_nacks():
    publisher = ConfirmingPublisher("amqp://unused", "members")
    publisher._unconfirmed = {1, 2, 3, 4, 5}
    publisher._on_ack(3, multiple=True)
    assert publisher._unconfirmed == {4, 5}
    publisher._on_nack(4, multiple=False)
    assert publisher._unconfirmed == {5} and publisher._nacked == {4}


def test_the_gateway_never_imports_eventlet_or_nameko():
    code = "import sys, services.gateway.app; print(sorted(m for m in ('eventlet', 'nameko') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
