"""The gateway: one versioned REST API in front of the Nameko services."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import make_asgi_app

from service_runtime.config import SERVICES, GatewaySettings
from services.gateway import errors, routes_members
from services.gateway.rpc import RpcClient
from services.gateway.telemetry import rpc_context, telemetry_middleware

tracer = trace.get_tracer("gateway")


class Services:
    """What a route uses to call a service: one RPC, traced, with the request's context."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client

    async def call(self, request: Request, service: str, method: str, **kwargs: Any) -> Any:
        with tracer.start_as_current_span(
            f"rpc {service}.{method}", kind=SpanKind.CLIENT,
            attributes={"rpc.system": "nameko", "rpc.service": service, "rpc.method": method},
        ):
            return await self.client.call(service, method, context=rpc_context(request), **kwargs)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings.load()
    client = RpcClient(settings.amqp_uri, settings.rpc_timeout_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client.start()
        yield
        await client.close()

    app = FastAPI(
        title="Loyalty platform API",
        version="1.0.0",
        description="Members, points and tiers, coupons and campaigns, notifications. "
                    "Errors share one body: {\"error\": {\"code\", \"message\", \"field\", \"request_id\"}}.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = Services(client)
    app.middleware("http")(telemetry_middleware)
    errors.install(app)
    app.mount("/metrics", make_asgi_app())

    @app.get("/healthz", tags=["operations"], summary="The gateway process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Broker reachable and every service answering a ping",
             responses={503: {"description": "Not ready"}})
    async def readyz(request: Request) -> JSONResponse:
        async def check(service: str) -> tuple[str, str]:
            try:
                await client.call(service, "ping", timeout=settings.ready_timeout_seconds,
                                  context=rpc_context(request))
                return service, "ok"
            except Exception as exc:  # any failure means not ready; say which
                return service, type(exc).__name__

        broker = "ok" if client.connected else "unreachable"
        checks = dict([("broker", broker)] + list(await asyncio.gather(*(check(s) for s in SERVICES))))
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                            status_code=200 if ready else 503)

    app.include_router(routes_members.router, prefix="/v1")
    return app
