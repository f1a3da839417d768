"""Pools that ping only connections that sat idle: a ping per checkout cost ~7% of a service's CPU
(docs/decisions/0014-pool-pings-after-idle.md)."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from service_runtime import pool_metrics

PING_AFTER_IDLE_SECONDS = 5.0


def create_engine(url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS, **options: Any) -> sa.Engine:
    engine = sa.create_engine(url, pool_pre_ping=False, **options)
    pool_metrics.track(engine)
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < ping_after_idle:
            return  # new, or in use moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # the pool drops this connection and checks out another (up to three tries)
            raise exc.DisconnectionError(f"connection idle {time.monotonic() - idle_since:.0f}s was dead") from error

    return engine
