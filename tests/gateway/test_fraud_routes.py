"""Who may reach /v1/fraud: loss prevention reads (managers, admins, auditors), managers and admins
acknowledge, admins change rules; cashiers, keys and members are refused (the alerts are about
them), and every refusal is audited. "Allowed" is 503 here: no fraud service runs behind this
gateway, so the request got past authentication, roles and validation."""
from __future__ import annotations

import uuid

import pytest

from tests.gateway.conftest import audit_count

ALERT = str(uuid.uuid4())
READERS = {"manager", "admin", "auditor"}
ROUTES = [
    ("GET", "/v1/fraud/alerts?status=open&rule=refund_velocity", None, READERS),
    ("GET", f"/v1/fraud/alerts/{ALERT}", None, READERS),
    ("POST", f"/v1/fraud/alerts/{ALERT}/ack", {"note": "Checked with the cashier"}, {"manager", "admin"}),
    ("GET", "/v1/fraud/rules", None, READERS),
    ("PATCH", "/v1/fraud/rules/refund_velocity", {"threshold": 4, "window_seconds": 1800}, {"admin"}),
]
CALLERS = ("clerk", "manager", "marketer", "admin", "auditor", "pos", "erp", "member")


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_each_role_reaches_exactly_its_fraud_routes(client, callers, engine, method, path, body, allowed):
    for who in CALLERS:
        denied_before = audit_count(engine, "access.denied")
        answer = client.request(method, path, headers=callers[who], json=body)
        if who in allowed:
            assert answer.status_code == 503, (who, answer.text)
        else:
            assert answer.status_code == 403, (who, answer.text)
            assert audit_count(engine, "access.denied") == denied_before + 1, who
    assert client.request(method, path, json=body).status_code == 401


def test_bad_fraud_requests_name_their_field(client, callers):
    admin = callers["admin"]
    short = client.post(f"/v1/fraud/alerts/{ALERT}/ack", headers=admin, json={"note": "ok"})
    assert short.status_code == 422 and short.json()["error"]["field"] == "note"
    unknown = client.patch("/v1/fraud/rules/no_such_rule", headers=admin, json={"threshold": 3})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "rule"
    zero = client.patch("/v1/fraud/rules/refund_velocity", headers=admin, json={"threshold": 0})
    assert zero.status_code == 422 and zero.json()["error"]["field"] == "threshold"
    elsewhere = client.get("/v1/fraud/alerts?store=BJ-009", headers=callers["manager"])  # bound to SH-001
    assert elsewhere.status_code == 403
