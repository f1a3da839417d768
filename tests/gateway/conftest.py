"""The gateway against its real PostgreSQL database, with no broker behind it.

Routes that reach a service answer 503 here; everything in front of the services
(authentication, roles, store scope, idempotency, rate limits, audit) is exercised for real.
"""
from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service_runtime.config import GatewaySettings
from services.gateway import repo
from services.gateway.app import create_app
from services.gateway.security import secrets

JWT_SECRET = "test-only-secret-" + "k" * 40
UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/"


def gateway_settings(**overrides: object) -> GatewaySettings:
    base = replace(GatewaySettings.load(), amqp_uri=UNREACHABLE_BROKER, jwt_secret=JWT_SECRET,
                   rpc_timeout_seconds=1, ready_timeout_seconds=0.2, public_url="http://testserver",
                   rate_key=(1000, 1000), rate_staff=(1000, 1000), rate_member=(1000, 1000), rate_ip=(1000, 1000),
                   login_max_failures=3, login_lock_seconds=60, bootstrap_admin_user=None,
                   bootstrap_admin_password=None, metrics_port=None, redis_url="",
                   import_runner=False)
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(platform_env) -> GatewaySettings:
    return gateway_settings()


@pytest.fixture(scope="session")
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def engine(settings):
    engine = sa.create_engine(settings.database_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_staff(engine: sa.Engine, roles: list[str], stores: list[str] | None = None,
               password: str = "correct horse battery") -> tuple[object, str]:
    row = repo.create_staff(engine, unique("user"), secrets.hash_password(password), roles, stores)
    return row, password


def staff_token(row: object, ttl: int = 600) -> str:
    return secrets.issue_access_token(JWT_SECRET, str(row.id), "staff", ttl, name=row.username,  # type: ignore
                                      roles=list(row.roles), stores=row.stores)  # type: ignore[attr-defined]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def callers(client, engine) -> dict[str, dict[str, str]]:
    """Headers for one caller of each kind: every staff role, a POS key, an ERP key, a member."""
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ("clerk", "manager", "marketer", "admin", "auditor"):
        row, _ = make_staff(engine, [role], ["SH-001"] if role in ("clerk", "manager") else None)
        headers[role] = bearer(staff_token(row))
    admin = headers["admin"]
    for kind, store_code in (("pos", "SH-001"), ("erp", None)):
        created = client.post("/v1/api-keys", headers=admin,
                              json={"name": f"{kind} test key", "kind": kind, "store": store_code})
        assert created.status_code == 201, created.text
        headers[kind] = {"X-API-Key": created.json()["key"]}
    member_id = str(uuid.uuid4())
    headers["member"] = bearer(secrets.issue_access_token(JWT_SECRET, member_id, "member", 600))
    headers["member_id"] = {"id": member_id}
    return headers


def audit_count(engine: sa.Engine, action: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = :a"), {"a": action}).scalar())
