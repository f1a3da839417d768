"""Each role and key can do exactly what it should on every route, and nothing more.

"Allowed" means the request got past authentication and authorisation (here, where no
service runs behind the gateway, a route that calls one answers 503); "denied" is 403
(401 for no credentials), and every 403 is in the audit log.
"""
from __future__ import annotations

import uuid

import pytest

from tests.gateway import matrix_campaigns, matrix_coupons, matrix_notify
from tests.gateway.conftest import audit_count, unique

EVERYONE = {"clerk", "manager", "marketer", "admin", "auditor", "pos", "erp", "member"}
CALLERS = sorted(EVERYONE)


def _routes(member_id: str) -> list[tuple[str, str, object, set[str]]]:
    """(method, path, json body, who may call it)."""
    return [
        ("GET", "/v1/me", None, EVERYONE),
        ("POST", "/v1/members", {"name": "Matrix", "phone": "13700000000", "registration_store": "SH-001"},
         {"clerk", "manager", "admin", "pos", "erp"}),
        ("GET", f"/v1/members/{uuid.uuid4()}", None, {"clerk", "manager", "marketer", "admin", "pos", "erp"}),
        ("GET", f"/v1/members/{member_id}", None, {"clerk", "manager", "marketer", "admin", "pos", "erp", "member"}),
        ("GET", "/v1/members?name_prefix=a", None, {"clerk", "manager", "marketer", "admin", "pos", "erp"}),
        ("PATCH", f"/v1/members/{member_id}", {"name": "Changed"}, {"manager", "admin", "member"}),
        ("GET", f"/v1/members/{member_id}/history", None, {"manager", "admin", "auditor", "member"}),
        ("GET", f"/v1/members/{member_id}/consents", None,
         {"clerk", "manager", "marketer", "admin", "pos", "erp", "member"}),
        ("PUT", f"/v1/members/{member_id}/consents/sms", {"granted": True, "text_version": "1"},
         {"clerk", "manager", "admin", "pos", "erp", "member"}),
        ("POST", f"/v1/members/{member_id}/erase", None, {"manager", "admin"}),
        ("POST", f"/v1/members/{member_id}/merge", {"merged_member_id": str(uuid.uuid4())}, {"manager", "admin"}),
        ("GET", f"/v1/members/{member_id}/export", None, {"manager", "admin", "member"}),
        ("POST", "/v1/members/bulk-tags", {"store": "SH-001", "add": ["x"]}, {"manager", "marketer", "admin"}),
        ("POST", "/v1/members/imports", None, {"admin", "erp"}),
        ("GET", "/v1/members/lifecycle/settings", None, {"admin", "marketer"}),
        ("GET", "/v1/members/me/qr", None, {"member"}),
        ("POST", "/v1/members/identify", {"code": "MQ1ABC"}, {"clerk", "manager", "admin", "pos"}),
        ("PUT", "/v1/members/lifecycle/settings", {"at_risk_days": 60, "dormant_days": 180, "lost_days": 365,
                                                   "active_min_purchases": 2}, {"admin"}),
        ("POST", "/v1/staff", {"username": unique("m"), "password": "long enough password", "roles": ["clerk"]},
         {"admin"}),
        ("GET", "/v1/staff", None, {"admin"}),
        ("PATCH", f"/v1/staff/{uuid.uuid4()}", {"disabled": True}, {"admin"}),
        ("POST", "/v1/api-keys", {"name": "matrix", "kind": "erp"}, {"admin"}),
        ("GET", "/v1/api-keys", None, {"admin"}),
        ("DELETE", f"/v1/api-keys/{uuid.uuid4()}", None, {"admin"}),
        ("GET", "/v1/audit", None, {"auditor", "admin"}),
        ("GET", "/v1/audit/verify", None, {"auditor", "admin"}),
        *_points_routes(member_id),
        *[route for _, route in matrix_coupons.routes(member_id)],
        *[route for _, route in matrix_campaigns.routes(member_id)],
        *[route for _, route in matrix_notify.routes(member_id)],
    ]


TILL = {"clerk", "manager", "admin", "pos"}
POINTS_READERS = {"clerk", "manager", "admin", "marketer", "auditor", "pos", "erp"}
SALE = {"member_number": "800000000011", "store": "SH-001", "transaction_id": "t-1", "amount": "10.00",
        "sold_at": "2026-11-23T10:00:00+08:00"}
REFUND = {"store": "SH-001", "refund_id": "r-1", "transaction_id": "t-1", "amount": "5.00",
          "refunded_at": "2026-11-23T11:00:00+08:00"}


def _points_routes(member_id: str) -> list[tuple[str, str, object, set[str]]]:
    other = str(uuid.uuid4())
    rule = {"name": "Double weekend", "starts_at": "2026-12-05T00:00:00Z", "ends_at": "2026-12-07T00:00:00Z",
            "multiplier": "2"}
    return [
        ("GET", "/v1/points/ping", None, TILL),
        ("POST", "/v1/points/sales", SALE, TILL),
        ("POST", "/v1/points/sales", {**SALE, "member_number": None, "member_phone": "13800000001"}, TILL),
        ("POST", "/v1/points/sales/batch", {"items": [{**SALE, "kind": "sale"}, {**REFUND, "kind": "refund"}]},
         {"manager", "admin", "pos", "erp"}),
        ("POST", "/v1/points/refunds", REFUND, TILL),
        ("POST", "/v1/points/holds", {"member_number": "800000000011", "store": "SH-001", "transaction_id": "t-2",
                                      "points": 100}, TILL),
        ("POST", "/v1/points/holds/h-1/commit", None, TILL),
        ("POST", "/v1/points/holds/h-1/release", None, TILL),
        ("GET", f"/v1/members/{other}/points", None, POINTS_READERS),
        ("GET", f"/v1/members/{member_id}/points", None, POINTS_READERS | {"member"}),
        ("GET", f"/v1/members/{other}/points/history", None, POINTS_READERS),
        ("GET", f"/v1/members/{member_id}/points/history?limit=10", None, POINTS_READERS | {"member"}),
        ("GET", f"/v1/members/{other}/points/lots", None, POINTS_READERS),
        ("POST", f"/v1/members/{member_id}/points/adjustments", {"points": 10, "reason": "goodwill", "store": "SH-001"},
         {"manager", "admin"}),
        ("POST", f"/v1/members/{other}/points/activities", {"kind": "checkin"}, {"clerk", "manager", "admin"}),
        ("POST", f"/v1/members/{member_id}/points/activities", {"kind": "share", "key": "post-1"},
         {"clerk", "manager", "admin", "member"}),
        ("GET", "/v1/points/program", None, {"admin", "marketer", "manager", "auditor"}),
        ("GET", "/v1/points/program/versions", None, {"admin", "marketer", "manager", "auditor"}),
        ("PUT", "/v1/points/program", {"program": {}}, {"admin", "marketer"}),
        ("GET", "/v1/points/bonus-rules?active_only=true", None, {"admin", "marketer"}),
        ("POST", "/v1/points/bonus-rules", rule, {"admin", "marketer"}),
        ("POST", "/v1/points/bonus-rules/rule-1/end", None, {"admin", "marketer"}),
        ("GET", "/v1/points/reports/liability?from=2026-11-01&to=2026-11-30&store=SH-001", None,
         {"admin", "auditor", "manager"}),
        ("GET", "/v1/points/reports/settlement?from=2026-11-01&to=2026-11-30", None, {"admin", "auditor", "manager"}),
        ("GET", "/v1/points/reports/daily?day=2026-11-23&store=SH-001", None, {"admin", "auditor", "manager"}),
        ("POST", "/v1/points/jobs/expiry", None, {"admin"}),
    ]


POINTS_ROUTE_IDS = ["till ping", "sale", "sale by phone", "sales batch", "refund", "hold", "commit hold",
                    "release hold", "points", "own points", "points history", "own points history", "adjust",
                    "activity", "own activity", "program", "program versions", "set program", "bonus rules",
                    "create bonus rule", "end bonus rule", "liability", "settlement", "run job"]


ROUTE_IDS = ["me", "register member", "get member", "get own member", "search members", "update member",
             "member history", "member consents", "set consent", "erase", "merge", "export", "bulk tags", "import",
             "create staff", "list staff", "patch staff",
             "create key", "list keys", "revoke key", "audit", "audit verify", *POINTS_ROUTE_IDS,
             *[name for name, _ in matrix_coupons.routes("m")], *[name for name, _ in matrix_campaigns.routes("m")],
             *[name for name, _ in matrix_notify.routes("m")]]


@pytest.mark.parametrize("route_index", range(len(ROUTE_IDS)), ids=ROUTE_IDS)
def test_every_caller_on_every_route(client, callers, engine, route_index):
    member_id = callers["member_id"]["id"]
    method, path, body, allowed = _routes(member_id)[route_index]
    outcomes = {}
    denied_before = audit_count(engine, "access.denied")
    for caller in CALLERS:
        if method == "POST" and isinstance(body, dict) and "username" in body:
            body = {**body, "username": unique("m")}
        response = client.request(method, path, headers={**callers[caller], "If-Match": '"1"'}, json=body)
        outcomes[caller] = response.status_code
    expected_denials = 0
    for caller, status in outcomes.items():
        if caller in allowed:
            assert status not in (401, 403), f"{caller} should be allowed {method} {path}: {status}"
            if "/points" in path:  # each reaches the points service (or members for a phone): 503 here
                assert status == 503, f"{caller} should reach the service on {method} {path}: {status}"
        else:
            expected_denials += 1
            assert status == 403, f"{caller} should be refused {method} {path}: {status}"
    assert client.request(method, path, json=body).status_code == 401  # no credentials at all
    assert audit_count(engine, "access.denied") - denied_before == expected_denials


def test_store_bound_callers_cannot_act_for_another_store(client, callers, engine):
    before = audit_count(engine, "access.denied")
    for caller in ("clerk", "manager", "pos"):
        response = client.post("/v1/members", headers=callers[caller],
                               json={"name": "Elsewhere", "phone": "13700000001", "registration_store": "BJ-009"})
        assert response.status_code == 403, caller
        assert response.json()["error"]["code"] == "forbidden"
    assert audit_count(engine, "access.denied") - before == 3
    # chain-wide callers may
    response = client.post("/v1/members", headers=callers["erp"],
                           json={"name": "Elsewhere", "phone": "13700000001", "registration_store": "BJ-009"})
    assert response.status_code == 503  # allowed; no members service runs behind this test gateway
