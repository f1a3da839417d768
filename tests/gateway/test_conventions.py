"""Idempotency-Key, rate limits, body rules, pagination, the audit chain."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.gateway import repo
from services.gateway.app import create_app
from services.gateway.security.guard import request_fingerprint
from tests.gateway.conftest import audit_count, bearer, gateway_settings, make_staff, staff_token, unique


def _staff_count(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM staff")).scalar())


def test_idempotency_key_replays_the_first_response_and_refuses_a_different_body(client, callers, engine):
    body = {"username": unique("idem"), "password": "a good long password", "roles": ["clerk"]}
    headers = {**callers["admin"], "Idempotency-Key": f"key-{uuid.uuid4()}"}
    before = _staff_count(engine)
    first = client.post("/v1/staff", headers=headers, json=body)
    again = client.post("/v1/staff", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _staff_count(engine) == before + 1
    other = client.post("/v1/staff", headers=headers, json={**body, "username": unique("idem")})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert _staff_count(engine) == before + 1
    # the same key from another caller is another key
    admin2, _ = make_staff(engine, ["admin"])
    fresh = client.post("/v1/staff", headers={**bearer(staff_token(admin2)), "Idempotency-Key": headers[
        "Idempotency-Key"]}, json={**body, "username": unique("idem")})
    assert fresh.status_code == 201


def test_idempotency_compares_the_parsed_body_not_its_bytes(client, callers, engine):
    body = {"username": unique("idem"), "password": "a good long password", "roles": ["clerk"], "stores": None}
    headers = {**callers["admin"], "Idempotency-Key": f"key-{uuid.uuid4()}", "Content-Type": "application/json"}
    before = _staff_count(engine)
    first = client.post("/v1/staff", headers=headers, content=json.dumps(body))
    # the same JSON, keys in another order and spaced differently: the same request
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = client.post("/v1/staff", headers=headers, content=reordered)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert _staff_count(engine) == before + 1


def test_replayed_key_creation_does_not_reveal_the_secret_again(client, callers):
    headers = {**callers["admin"], "Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = {"name": "replayed", "kind": "erp"}
    first = client.post("/v1/api-keys", headers=headers, json=body).json()
    again = client.post("/v1/api-keys", headers=headers, json=body).json()
    assert first["key"].startswith("lk_") and again["key"] is None and again["id"] == first["id"]


def _audited_requests(engine, *responses) -> list[int]:
    """How many audit entries each response's request wrote."""
    with engine.connect() as conn:
        return [int(conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE request_id = :r"),
                                 {"r": r.headers["X-Request-ID"]}).scalar()) for r in responses]


def test_idempotency_refusals_by_the_guard_are_not_audited(client, engine):
    admin, _ = make_staff(engine, ["admin"])
    headers = {**bearer(staff_token(admin)), "Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = {"username": unique("idem"), "password": "a good long password", "roles": ["clerk"]}
    accepted = client.post("/v1/staff", headers=headers, json=body)
    replayed = client.post("/v1/staff", headers=headers, json=body)
    reused = client.post("/v1/staff", headers=headers, json={**body, "username": unique("idem")})
    malformed = client.post("/v1/staff", headers={**headers, "Idempotency-Key": "has spaces"}, json=body)
    # a claim still in progress for exactly this request (another gateway is handling it)
    content = json.dumps({**body, "username": unique("idem")}).encode()
    pending_key = f"key-{uuid.uuid4()}"
    fingerprint = request_fingerprint("POST", "/v1/staff", "", content)
    assert repo.claim_idempotency_key(engine, f"staff:{admin.id}", pending_key, fingerprint, 3600) is None
    in_progress = client.post("/v1/staff", content=content, headers={
        **headers, "Idempotency-Key": pending_key, "Content-Type": "application/json"})
    assert (accepted.status_code, replayed.status_code) == (201, 201)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert (malformed.status_code, malformed.json()["error"]["field"]) == (422, "Idempotency-Key")
    assert (in_progress.status_code, in_progress.json()["error"]["code"]) == (409, "idempotency_in_progress")
    assert _audited_requests(engine, accepted, replayed, reused, malformed, in_progress) == [1, 0, 0, 0, 0]


def test_bad_idempotency_key_is_422(client, callers):
    response = client.post("/v1/staff", headers={**callers["admin"], "Idempotency-Key": "has spaces"},
                           json={"username": unique("x"), "password": "a good long password", "roles": ["clerk"]})
    assert response.status_code == 422 and response.json()["error"]["field"] == "Idempotency-Key"


def test_rate_limits_answer_429_with_retry_after(engine, platform_env):
    # slow refill: on a loaded host one login takes seconds, which must not refill the bucket
    settings = gateway_settings(rate_staff=(0.01, 3), rate_ip=(0.01, 2))
    with TestClient(create_app(settings), raise_server_exceptions=False) as limited:
        row, _ = make_staff(engine, ["auditor"])
        headers = bearer(staff_token(row))
        statuses = [limited.get("/v1/me", headers=headers).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        refused = limited.get("/v1/me", headers=headers)
        assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
        other, _ = make_staff(engine, ["auditor"])  # another user has their own bucket
        assert limited.get("/v1/me", headers=bearer(staff_token(other))).status_code == 200
        anonymous = [limited.post("/v1/auth/token", data={"username": "x", "password": "y"}).status_code
                     for _ in range(4)]
        assert anonymous[:2] == [401, 401] and anonymous[2:] == [429, 429]


@pytest.mark.parametrize("content, content_type, status, code", [
    (b"{" + b" " * 2_000_000 + b"}", "application/json", 413, "payload_too_large"),
    (b"username=x", "text/plain", 415, "unsupported_media_type"),
    (b"<staff/>", "application/xml", 415, "unsupported_media_type"),
    (b'{"username": ', "application/json", 400, "invalid_json"),
    (b'\xff\xfe{}', "application/json", 400, "invalid_json"),
    (b'[' * 100_000, "application/json", 400, "invalid_json"),
    (b'["not", "an", "object"]', "application/json", 422, "invalid_input"),
])
def test_bad_bodies_get_the_right_4xx_and_write_nothing(client, callers, engine, content, content_type, status,
                                                        code):
    before = _staff_count(engine)
    response = client.post("/v1/staff", headers={**callers["admin"], "Content-Type": content_type}, content=content)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert _staff_count(engine) == before


def test_unknown_fields_and_snippets_are_refused(client, callers, engine):
    before = _staff_count(engine)
    for body, field in (
        ({"username": unique("u"), "password": "a good long password", "roles": ["clerk"], "is_root": True},
         "is_root"),
        ({"username": "x'; DROP TABLE staff; --", "password": "a good long password", "roles": ["clerk"]},
         "username"),
        ({"username": "<script>alert(1)</script>", "password": "a good long password", "roles": ["clerk"]},
         "username"),
        ({"username": unique("u"), "password": "a good long password", "roles": ["root"]}, "roles.0"),
    ):
        response = client.post("/v1/staff", headers=callers["admin"], json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field
    assert _staff_count(engine) == before


def test_cursor_pagination_walks_every_item_once(client, callers, engine):
    for _ in range(3):
        make_staff(engine, ["clerk"])
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/staff", headers=callers["admin"], params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == _staff_count(engine)
    bad = client.get("/v1/staff", headers=callers["admin"], params={"cursor": "garbage!"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "cursor"


def test_audit_log_filters_and_pages(client, callers, engine):
    row, _ = make_staff(engine, ["clerk"])
    client.get("/v1/staff", headers=bearer(staff_token(row)))  # denied, audited
    entries = client.get("/v1/audit", headers=callers["auditor"],
                         params={"actor_id": str(row.id), "action": "access.denied"}).json()["items"]
    assert len(entries) == 1
    assert entries[0]["details"]["route"] == "/v1/staff" and entries[0]["request_id"]
    first = client.get("/v1/audit", headers=callers["auditor"], params={"limit": 2}).json()
    second = client.get("/v1/audit", headers=callers["auditor"],
                        params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert first["items"][-1]["id"] > second["items"][0]["id"]


def _verify_cli() -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.gateway.audit", "verify"], capture_output=True, text=True)


def test_audit_chain_verifies_and_detects_an_edited_entry(client, callers, engine):
    assert client.get("/v1/audit/verify", headers=callers["auditor"]).json()["ok"] is True
    assert _verify_cli().returncode == 0
    with engine.begin() as conn:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with conn.begin_nested():
                conn.execute(sa.text("UPDATE audit_log SET outcome = 'ok' WHERE id = (SELECT min(id) FROM audit_log)"))
    with engine.begin() as conn:  # a superuser can switch the trigger off; the chain still tells
        target = conn.execute(sa.text("SELECT id, outcome FROM audit_log ORDER BY id DESC OFFSET 3 LIMIT 1")).one()
        conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
        conn.execute(sa.text("UPDATE audit_log SET outcome = 'tampered' WHERE id = :id"), {"id": target.id})
    try:
        verdict = client.get("/v1/audit/verify", headers=callers["auditor"]).json()
        assert verdict["ok"] is False and verdict["first_bad_id"] == target.id
        cli = _verify_cli()
        assert cli.returncode == 1 and f"BROKEN at entry {target.id}" in cli.stdout
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_log SET outcome = :o WHERE id = :id"),
                         {"o": target.outcome, "id": target.id})
            conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update"))
    assert client.get("/v1/audit/verify", headers=callers["auditor"]).json()["ok"] is True


def test_every_write_by_staff_is_audited(client, callers, engine):
    before = audit_count(engine, "staff.created")
    client.post("/v1/staff", headers=callers["admin"],
                json={"username": unique("aud"), "password": "a good long password", "roles": ["auditor"]})
    assert audit_count(engine, "staff.created") == before + 1


def test_nul_characters_are_refused_before_they_reach_the_database(client, callers, engine):
    before = _staff_count(engine)
    response = client.post("/v1/api-keys", headers=callers["admin"], json={"name": "a\u0000b", "kind": "erp"})
    assert response.status_code == 422
    assert client.get("/v1/audit", headers=callers["auditor"], params={"action": "a\x00b"}).status_code == 422
    assert _staff_count(engine) == before


def test_path_ids_must_be_uuids(client, callers):
    response = client.get("/v1/members/42", headers=callers["admin"])
    assert response.status_code == 422 and response.json()["error"]["field"] == "member_id"


def test_sealing_cannot_change_an_entry_and_a_removed_entry_is_detected(client, callers, engine):
    from services.gateway import audit

    entry_id = audit.append(engine, audit.AuditEntry(actor_kind="system", action="test.unsealed", outcome="ok"))
    with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.text("UPDATE audit_log SET hash = 'x', seq = -1, outcome = 'forged' WHERE id = :id"),
                     {"id": entry_id})
    next_id = audit.append(engine, audit.AuditEntry(actor_kind="system", action="test.next", outcome="ok"))
    audit.seal(engine)  # (the app's own sealer may have been quicker: either way both are sealed now)
    with engine.connect() as conn:
        unsealed = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE id IN (:a, :b) AND seq IS NULL"),
                                {"a": entry_id, "b": next_id}).scalar()
    assert unsealed == 0
    with engine.begin() as conn:  # remove an entry from the middle of the chain (trigger off, as a superuser could)
        removed = conn.execute(sa.text("SELECT * FROM audit_log WHERE id = :id"), {"id": entry_id}).mappings().one()
        conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": entry_id})
        conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update"))
    try:
        verdict = audit.verify(engine)
        assert verdict.ok is False and verdict.reason.startswith("chain broken")
    finally:  # put the entry back as it was, so the chain of the shared test database holds again
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO audit_log (id, occurred_at, actor_kind, action, outcome, details, "
                                 "prev_hash, hash, seq) VALUES (:id, :occurred_at, :actor_kind, :action, :outcome, "
                                 "'{}'::jsonb, :prev_hash, :hash, :seq)"), dict(removed))
    assert audit.verify(engine).ok is True


def test_times_with_offsets_postgresql_cannot_store_are_normalised(client, callers):
    response = client.get("/v1/audit", headers=callers["auditor"],
                          params={"since": "0194-04-24T16:46:46-20:32", "until": "2999-01-01T00:00:00+14:00"})
    assert response.status_code == 200, response.text


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(client, callers, engine):
    before = _staff_count(engine)

    def chunks():
        yield b'{"username": "chunked", "padding": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = client.post("/v1/staff", headers={**callers["admin"], "Content-Type": "application/json"},
                           content=chunks())
    assert response.status_code == 413
    assert _staff_count(engine) == before
    small = client.post("/v1/staff", headers={**callers["admin"], "Content-Type": "application/json"},
                        content=iter([b'{"username": "', unique("chunk").encode(), b'", "password": "a good long ',
                                      b'password", "roles": ["clerk"]}']))
    assert small.status_code == 201, small.text  # a small chunked body still reaches the route
