"""Staff login, lockout, refresh rotation, logout; forged and expired tokens; API keys."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import jwt
import sqlalchemy as sa

from services.gateway.security import secrets
from tests.gateway.conftest import JWT_SECRET, audit_count, bearer, make_staff, staff_token


def _login(client, username: str, password: str):
    return client.post("/v1/auth/token", data={"username": username, "password": password})


def test_login_returns_tokens_that_work(client, engine):
    row, password = make_staff(engine, ["manager"], ["SH-001"])
    response = _login(client, row.username, password)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer" and tokens["refresh_token"].startswith("rt_")
    me = client.get("/v1/me", headers=bearer(tokens["access_token"])).json()
    assert (me["kind"], me["name"], me["roles"], me["stores"]) == ("staff", row.username, ["manager"], ["SH-001"])


def test_wrong_password_is_401_and_audited_and_repeated_failures_lock_the_account(client, engine):
    row, password = make_staff(engine, ["clerk"])
    failed, locked = audit_count(engine, "login.failed"), audit_count(engine, "login.locked")
    for _ in range(3):  # LOGIN_MAX_FAILURES is 3 in these tests
        response = _login(client, row.username, "wrong password!")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_credentials"
    assert audit_count(engine, "login.failed") - failed == 3
    assert audit_count(engine, "login.locked") - locked == 1
    refused = _login(client, row.username, password)  # even the right password, while locked
    assert refused.status_code == 423
    assert refused.json()["error"]["code"] == "account_locked"
    assert int(refused.headers["Retry-After"]) > 0


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client, engine):
    before = audit_count(engine, "login.failed")
    response = _login(client, "nobody-by-this-name", "whatever password")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_credentials"
    assert audit_count(engine, "login.failed") == before + 1


def test_refresh_tokens_rotate_and_logout_revokes(client, engine):
    row, password = make_staff(engine, ["auditor"])
    first = _login(client, row.username, password).json()
    second = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).status_code == 401
    refresh = second.json()["refresh_token"]
    assert client.post("/v1/auth/logout", json={"refresh_token": refresh}).status_code == 204
    assert client.post("/v1/auth/refresh", json={"refresh_token": refresh}).status_code == 401


def test_disabling_staff_revokes_their_refresh_tokens(client, engine, callers):
    row, password = make_staff(engine, ["clerk"])
    tokens = _login(client, row.username, password).json()
    assert client.patch(f"/v1/staff/{row.id}", headers=callers["admin"], json={"disabled": True}).status_code == 200
    assert client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert _login(client, row.username, password).status_code == 401


def test_expired_forged_and_malformed_tokens_are_401_and_audited(client, engine):
    row, _ = make_staff(engine, ["admin"])
    before = audit_count(engine, "auth.failed")
    expired = staff_token(row, ttl=-10)
    forged = secrets.issue_access_token("another-secret-" + "x" * 40, str(row.id), "staff", 600, roles=["admin"])
    unsigned = jwt.encode({"sub": str(row.id), "kind": "staff", "roles": ["admin"], "iss": "loyalty-gateway"},
                          key="", algorithm="none")
    cases = {expired: "token_expired", forged: "invalid_token", unsigned: "invalid_token", "not-a-jwt": "invalid_token"}
    for token, code in cases.items():
        response = client.get("/v1/staff", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.json()["error"]["code"] == code
    assert client.get("/v1/staff", headers={"Authorization": "Basic abc"}).status_code == 401
    assert audit_count(engine, "auth.failed") - before == len(cases) + 1


def test_both_credentials_at_once_is_400(client, callers):
    response = client.get("/v1/me", headers={**callers["admin"], **callers["pos"]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ambiguous_credentials"


def test_api_keys_are_shown_once_stored_hashed_and_revocable(client, engine, callers):
    created = client.post("/v1/api-keys", headers=callers["admin"],
                          json={"name": "till 9", "kind": "pos", "store": "SH-002"}).json()
    key = created["key"]
    assert key.startswith("lk_") and created["scopes"] and created["store"] == "SH-002"
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT secret_hash FROM api_keys WHERE id = :id"), {"id": created["id"]}).one()
    assert key.split("_", 2)[2] not in stored.secret_hash and len(stored.secret_hash) == 64
    listed = client.get("/v1/api-keys", headers=callers["admin"], params={"limit": 200}).json()["items"]
    assert all("key" not in item for item in listed)
    me = client.get("/v1/me", headers={"X-API-Key": key}).json()
    assert (me["kind"], me["roles"], me["stores"]) == ("key", ["pos"], ["SH-002"])
    with engine.connect() as conn:
        used = conn.execute(sa.text("SELECT last_used_at FROM api_keys WHERE id = :id"), {"id": created["id"]}).one()
    assert used.last_used_at is not None
    before = audit_count(engine, "api_key.revoked")
    assert client.delete(f"/v1/api-keys/{created['id']}", headers=callers["admin"]).status_code == 204
    assert audit_count(engine, "api_key.revoked") == before + 1
    refused = client.get("/v1/me", headers={"X-API-Key": key})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/me", headers={"X-API-Key": key[:-2] + "xx"}).status_code == 401


def test_bad_key_requests_write_nothing(client, engine, callers):
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM api_keys")).scalar()
    for body, field in (({"name": "x", "kind": "pos"}, "store"),
                        ({"name": "x", "kind": "erp", "store": "SH-001"}, "store"),
                        ({"name": "x", "kind": "pos", "store": "SH-001", "scopes": ["root"]}, "scopes"),
                        ({"name": "x", "kind": "atm"}, "kind")):
        response = client.post("/v1/api-keys", headers=callers["admin"], json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM api_keys")).scalar() == before


def test_staff_management(client, callers, engine):
    created = client.post("/v1/staff", headers=callers["admin"],
                          json={"username": "new.clerk-" + JWT_SECRET[:4], "password": "a good long password",
                                "roles": ["clerk"], "stores": ["SH-001"]})
    assert created.status_code == 201, created.text
    assert client.post("/v1/staff", headers=callers["admin"],
                       json={"username": created.json()["username"].upper(), "password": "a good long password",
                             "roles": ["clerk"]}).status_code == 409
    short = client.post("/v1/staff", headers=callers["admin"],
                        json={"username": "short-pw", "password": "short", "roles": ["clerk"]})
    assert short.status_code == 422 and short.json()["error"]["field"] == "password"
    patched = client.patch(f"/v1/staff/{created.json()['id']}", headers=callers["admin"],
                           json={"roles": ["manager"], "chain_wide": True})
    assert patched.json()["roles"] == ["manager"] and patched.json()["stores"] is None


def test_a_disabled_or_demoted_user_loses_access_at_once(client, engine, callers):
    row, _ = make_staff(engine, ["admin"])
    headers = bearer(staff_token(row))
    assert client.get("/v1/staff", headers=headers).status_code == 200
    client.patch(f"/v1/staff/{row.id}", headers=callers["admin"], json={"roles": ["clerk"]})
    assert client.get("/v1/staff", headers=headers).status_code == 403  # the token still says admin
    client.patch(f"/v1/staff/{row.id}", headers=callers["admin"], json={"disabled": True})
    assert client.get("/v1/me", headers=headers).status_code == 401


def test_admins_cannot_demote_or_disable_themselves(client, engine):
    row, _ = make_staff(engine, ["admin"])
    headers = bearer(staff_token(row))
    for change in ({"roles": ["clerk"]}, {"disabled": True}, {"stores": ["SH-001"]}):
        response = client.patch(f"/v1/staff/{row.id}", headers=headers, json=change)
        assert response.status_code == 409, change
    assert client.get("/v1/staff", headers=headers).status_code == 200


def _manage(*args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.gateway.manage", *args], capture_output=True, text=True,
                          env={**os.environ, "STAFF_PASSWORD": password}, timeout=60)


def test_operator_cli_creates_staff_and_resets_a_locked_password(client, engine):
    username = "cli-" + uuid.uuid4().hex[:8]
    assert _manage("create-staff", username, "--role", "manager", "--store", "SH-001", password="short").returncode == 1
    created = _manage("create-staff", username, "--role", "manager", "--store", "SH-001",
                      password="cli password one")
    assert created.returncode == 0, created.stderr
    assert _login(client, username, "cli password one").status_code == 200
    for _ in range(3):  # lock the account
        _login(client, username, "wrong password!!")
    assert _login(client, username, "cli password one").status_code == 423
    reset = _manage("set-password", username, password="cli password two")
    assert reset.returncode == 0, reset.stderr
    assert _login(client, username, "cli password two").status_code == 200
    assert audit_count(engine, "staff.created") >= 1
