"""Test helpers: direct reads of a service's test database (assertions only), polling."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from service_runtime.config import database_url


def query(service: str, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(database_url(service), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


def scalar(service: str, sql: str, **params: Any) -> Any:
    rows = query(service, sql, **params)
    return rows[0][0] if rows else None


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.05,
             message: str = "condition") -> object:
    """Poll until predicate() is truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def empty_event_queues(service: str) -> None:
    """Drop the messages waiting in a service's event queues: the suite's earlier tests published
    thousands of member and points events into them (bootstrap declares every queue at the start)."""
    from urllib.parse import quote

    from service_runtime import bootstrap
    from service_runtime.config import amqp_uri, amqp_vhost

    vhost = quote(amqp_vhost(amqp_uri()), safe="")
    for queue in bootstrap._management("GET", f"/api/queues/{vhost}?columns=name") or []:
        if f"--{service}." in queue["name"]:
            bootstrap._management("DELETE", f"/api/queues/{vhost}/{quote(queue['name'], safe='')}/contents")
