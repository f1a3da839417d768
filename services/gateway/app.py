"""The gateway: one versioned REST API in front of the Nameko services."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, Field

from contracts.caller_seal import MIN_KEY_LENGTH, CallerSeal, parse_keys
from service_runtime import expiry
from service_runtime.config import GatewaySettings
from services.gateway import (
    api_doc,
    docs_ui,
    errors,
    repo,
    routes_admin,
    routes_analytics,
    routes_audit,
    routes_auth,
    routes_campaigns,
    routes_catalog,
    routes_coupons,
    routes_feed,
    routes_files,
    routes_fraud,
    routes_imports,
    routes_members,
    routes_notify,
    routes_points,
    routes_sync,
    routes_tickets,
    routes_wechat,
)
from services.gateway.audit import AuditEntry, Auditor, append, seal
from services.gateway.db import GatewayDb
from services.gateway.health import LivenessMiddleware, dependency_status, readiness
from services.gateway.import_runner import ImportRunner
from services.gateway.ops_server import OpsServer
from services.gateway.rpc import RemoteError, RpcClient
from services.gateway.security import secrets
from services.gateway.security.guard import Guard, GuardMiddleware
from services.gateway.telemetry import TelemetryMiddleware, rpc_context

tracer = trace.get_tracer("gateway")
log = logging.getLogger(__name__)


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="broker and database: `ok` or what failed")


class Services:
    """What a route uses to call a service: one RPC, traced, with the request's context."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client

    async def call(self, request: Request, service: str, method: str, **kwargs: Any) -> Any:
        with tracer.start_as_current_span(
            f"rpc {service}.{method}", kind=SpanKind.CLIENT,
            attributes={"rpc.system": "nameko", "rpc.service": service, "rpc.method": method},
        ):
            try:
                return await self.client.call(service, method, context=rpc_context(request), **kwargs)
            except RemoteError as exc:
                # services page with `after`; callers of this API send the position as `cursor`
                if exc.field == "after" and "after" not in request.query_params:
                    exc.field = "cursor"
                raise


def ensure_bootstrap_admin(engine: sa.Engine, settings: GatewaySettings) -> str | None:
    """Create the first admin from BOOTSTRAP_ADMIN_USER/PASSWORD when there is no admin at all."""
    user, password = settings.bootstrap_admin_user, settings.bootstrap_admin_password
    if repo.admin_exists(engine):
        return None
    if not user or not password:
        log.warning("no admin exists: set BOOTSTRAP_ADMIN_USER and BOOTSTRAP_ADMIN_PASSWORD to create the first one")
        return None
    if len(password) < secrets.MIN_PASSWORD_LENGTH:
        log.error("no admin created: BOOTSTRAP_ADMIN_PASSWORD needs at least %d characters",
                  secrets.MIN_PASSWORD_LENGTH)
        return None
    row = repo.create_staff(engine, user, secrets.hash_password(password), ["admin"], None)
    if row is None:  # the username exists without the admin role: never promote it silently
        log.error("no admin exists and BOOTSTRAP_ADMIN_USER %r is taken by a non-admin; create an admin with "
                  "`python -m services.gateway.manage create-staff <name> --role admin`", user)
        return None
    append(engine, AuditEntry(actor_kind="system", actor_name="bootstrap", action="staff.created", outcome="ok",
                              object_type="staff", object_id=str(row.id),
                              details={"username": user, "roles": ["admin"], "bootstrap": True}))
    log.info("created the first admin %r from BOOTSTRAP_ADMIN_USER", user)
    return str(row.id)


async def _housekeeping(db: GatewayDb, hours: int) -> None:
    """Seal audit entries a few times a second; expire idempotency keys hourly."""
    last_expiry = 0.0
    while True:
        try:
            await db.run(seal)
            if time.monotonic() - last_expiry > 3600:
                await db.run(repo.expire_idempotency_keys, hours)
                await db.run(repo.purge_member_codes)
                last_expiry = time.monotonic()
        except Exception:  # the database may be briefly away; try again next round
            log.warning("gateway housekeeping failed", exc_info=True)
        await asyncio.sleep(0.25)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings.load()
    if not settings.jwt_secret or len(settings.jwt_secret) < 32:
        raise RuntimeError("GATEWAY_JWT_SECRET must be set to a random string of at least 32 characters")
    if len(settings.caller_signing_key) < MIN_KEY_LENGTH:
        raise RuntimeError(f"CALLER_SIGNING_KEY must be set to a random string of at least {MIN_KEY_LENGTH} "
                           "characters, the same in the gateway and every service")
    client = RpcClient(settings.amqp_uri, settings.rpc_timeout_seconds, settings.rpc_till_timeout_seconds,
                       settings.breaker_threshold, settings.breaker_open_seconds,
                       seal=CallerSeal(settings.caller_signing_key, tuple(parse_keys(settings.caller_accepted_keys))))
    db = GatewayDb(settings.database_url)
    imports = ImportRunner(db, client, settings.import_lease_seconds)
    expiry.register("gateway")  # the JWT signing key's rotation date on /metrics
    ops = None if settings.metrics_port is None else OpsServer(
        settings.metrics_host, settings.metrics_port,
        lambda: dependency_status(client, db, settings.ready_timeout_seconds))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client.start()
        if ops is not None:
            await ops.start()
        try:
            await db.run(ensure_bootstrap_admin, settings)
        except Exception:  # the database may be down at start; readiness reports it
            log.exception("could not check for a first admin")
        janitor = asyncio.get_running_loop().create_task(_housekeeping(db, settings.idempotency_hours))
        if settings.import_runner:
            imports.start()
        yield
        janitor.cancel()
        await imports.stop()  # the import in hand is released for another gateway at once
        if ops is not None:
            await ops.close()
        await app.state.guard.limiter.close()
        await client.close()
        db.dispose()

    app = FastAPI(
        title="Loyalty platform API",
        version="1.0.0",
        description="Members, points and tiers, coupons and campaigns, notifications. "
                    "Staff authenticate with `POST /v1/auth/token` (Bearer token); POS and ERP systems send "
                    "`X-API-Key`. Errors share one body: "
                    "`{\"error\": {\"code\", \"message\", \"field\", \"request_id\"}}`. "
                    "POSTs honour `Idempotency-Key` (file imports excepted: re-importing creates nothing twice).",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # docs_ui serves both, with their assets, from the gateway itself
        generate_unique_id_function=api_doc.operation_id,  # operationIds are the route functions' names
        # our middleware already makes one server span per request (parented by an incoming
        # traceparent, id in X-Trace-ID); FastAPI's native spans would double the cost
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.db = db
    app.state.ops = ops
    app.state.services = Services(client)
    app.state.auditor = Auditor(db)
    app.state.guard = Guard(settings, db)
    app.state.imports = imports
    app.add_middleware(GuardMiddleware, guard=app.state.guard)  # inner: runs after telemetry set the request id
    app.add_middleware(TelemetryMiddleware)
    app.add_middleware(LivenessMiddleware)  # outermost: /healthz needs nothing else
    errors.install(app)
    docs_ui.install(app)

    @app.get("/healthz", tags=["operations"], summary="The gateway process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="This gateway can serve: its database and the broker",
             description="Services are not checked here: one service down must not take every gateway out of "
                         "the load balancer. Each service's state is on the metrics port's `/status`.",
             response_model=Readiness,
             responses={503: {"description": "Not ready: `checks` says which failed", "model": Readiness}})
    async def readyz() -> JSONResponse:
        checks = await readiness(client, db, settings.ready_timeout_seconds)
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                            status_code=200 if ready else 503)

    for router in (routes_auth.router, routes_members.auth_router, routes_imports.router, routes_members.router,
                   routes_points.router, routes_coupons.router, routes_campaigns.router, routes_notify.router,
                   routes_admin.router, routes_audit.router, routes_catalog.router, routes_sync.router,
                   routes_feed.router, routes_files.router, routes_tickets.router, routes_wechat.router,
                   routes_analytics.router):
        app.include_router(router, prefix="/v1")
    app.include_router(routes_fraud.router, prefix="/v1")
    api_doc.install(app)  # error statuses, headers, examples and descriptions, from each route's metadata
    return app
