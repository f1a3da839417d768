"""Liveness, readiness and the dependency status page.

/healthz (liveness) needs nothing: it is answered before any middleware (no database for keys or
idempotency, no broker, no tracing), so it cannot fail while the process runs. /readyz says
whether this gateway can serve (its database and the broker); /status (on the metrics port) says
how every service behind it is doing.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from starlette.types import ASGIApp, Receive, Scope, Send

from service_runtime.config import SERVICES
from services.gateway.db import GatewayDb
from services.gateway.rpc import RpcClient

_BODY = b'{"status":"ok"}'


class LivenessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(_BODY)).encode())]})
            await send({"type": "http.response.body", "body": _BODY if scope["method"] == "GET" else b""})
            return
        await self.app(scope, receive, send)


def _database_answers(engine: sa.Engine) -> None:
    """Raise unless the database answers a statement. Checking a connection out is not enough: the
    pool pings only connections idle a while, so one that died moments after its last use looks fine."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


async def database_check(db: GatewayDb, timeout: float) -> str:
    try:
        await asyncio.wait_for(db.run(_database_answers), timeout)
        return "ok"
    except Exception as exc:  # any failure means not ready; say which
        return type(exc).__name__


async def readiness(client: RpcClient, db: GatewayDb, timeout: float) -> dict[str, str]:
    """What this gateway needs to serve at all: its own database and the broker. Services are left
    out on purpose: one service down must not take every gateway out of the load balancer (its
    routes answer 503 fast through the breaker; /status says which)."""
    return {"broker": "ok" if client.connected else "unreachable", "database": await database_check(db, timeout)}


async def dependency_status(client: RpcClient, db: GatewayDb, timeout: float) -> dict[str, Any]:
    """Every dependency's state for people and dashboards: each service pinged now, with its
    breaker and the latest failure this gateway saw calling it."""

    async def service(name: str) -> tuple[str, dict[str, Any]]:
        try:
            await client.call(name, "ping", timeout=timeout)
            state = "up"
        except Exception as exc:
            state = f"down: {type(exc).__name__}"
        breaker = client.breaker(name)
        at = breaker.last_error_at
        return name, {"state": state, "breaker": breaker.state, "consecutive_failures": breaker.failures,
                      "last_error": breaker.last_error,
                      "last_error_at": None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat()}

    checks = await readiness(client, db, timeout)
    services = dict(await asyncio.gather(*(service(s) for s in SERVICES)))
    healthy = all(v == "ok" for v in checks.values()) and all(s["state"] == "up" for s in services.values())
    return {"status": "ok" if healthy else "degraded", "gateway": checks, "services": services}
