"""The points routes in front of the service: bodies refused with the field named, store and member
scope, and (with a stand-in for the services) what each route sends and how it answers."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from services.gateway.rpc import RemoteError
from tests.gateway.conftest import audit_count, bearer, make_staff, staff_token

NOW = "2026-11-23T10:00:00+08:00"
SALE = {"member_id": str(uuid.uuid4()), "store": "SH-001", "transaction_id": "t-100", "amount": "128.50",
        "sold_at": NOW}
REFUND = {"store": "SH-001", "refund_id": "r-1", "transaction_id": "t-100", "amount": "10.00", "refunded_at": NOW}
HOLD = {"member_id": str(uuid.uuid4()), "store": "SH-001", "transaction_id": "t-200", "points": 100}
RULE = {"name": "Double weekend", "starts_at": "2026-12-05T00:00:00Z", "ends_at": "2026-12-07T00:00:00Z",
        "multiplier": "2"}


def _without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


def _batch(count: int) -> dict[str, Any]:
    return {"items": [{**SALE, "kind": "sale", "transaction_id": f"t-{i}"} for i in range(count)]}


MEMBER = str(uuid.uuid4())
BAD_BODIES = [
    ("POST", "/v1/points/sales", {**SALE, "amount": "-1"}, "amount"),
    ("POST", "/v1/points/sales", {**SALE, "amount": "1.005"}, "amount"),
    ("POST", "/v1/points/sales", {**SALE, "currency": "cny"}, "currency"),
    ("POST", "/v1/points/sales", {**SALE, "member_number": "80000001"}, "member_number"),
    ("POST", "/v1/points/sales", _without(SALE, "member_id"), "member_id"),
    ("POST", "/v1/points/sales", {**SALE, "member_phone": "13800000001"}, "member_phone"),
    ("POST", "/v1/points/sales", _without(SALE, "sold_at"), "sold_at"),
    ("POST", "/v1/points/sales", {**SALE, "sold_at": "0001-01-01T00:00:00+01:00"}, "sold_at"),
    ("POST", "/v1/points/sales", {**SALE, "transaction_id": "t 1; DROP TABLE"}, "transaction_id"),
    ("POST", "/v1/points/sales", {**SALE, "store": ""}, "store"),
    ("POST", "/v1/points/sales", {**SALE, "points": 1000}, "points"),
    ("POST", "/v1/points/sales", {**SALE, "items": [{"sku": "A1", "amount": "100.00"}]}, "amount"),
    ("POST", "/v1/points/sales", {**SALE, "items": [{"sku": "A1", "amount": "-128.50"}]}, "items.0.amount"),
    ("POST", "/v1/points/sales", {**SALE, "items": [{"sku": "A1", "amount": "128.50", "qty": 0}]}, "items.0.qty"),
    ("POST", "/v1/points/sales", {**SALE, "discounts": [{"code": "X", "amount": "200"}]}, "discounts"),
    ("POST", "/v1/points/sales/batch", {"items": []}, "items"),
    ("POST", "/v1/points/sales/batch", _batch(1001), "items"),
    ("POST", "/v1/points/refunds", {**REFUND, "amount": "-10.00"}, "amount"),
    ("POST", "/v1/points/refunds", _without(REFUND, "refund_id"), "refund_id"),
    ("POST", "/v1/points/holds", {**HOLD, "points": 0}, "points"),
    ("POST", "/v1/points/holds", {**HOLD, "ttl_seconds": 5}, "ttl_seconds"),
    ("POST", "/v1/points/holds", _without(HOLD, "member_id"), "member_id"),
    ("POST", f"/v1/members/{MEMBER}/points/adjustments", {"points": 0, "reason": "goodwill"}, "points"),
    ("POST", f"/v1/members/{MEMBER}/points/adjustments", {"points": 10, "reason": "x"}, "reason"),
    ("POST", f"/v1/members/{MEMBER}/points/adjustments", {"points": 10}, "reason"),
    ("POST", f"/v1/members/{MEMBER}/points/adjustments", {"points": 10**9, "reason": "typo"}, "points"),
    ("POST", f"/v1/members/{MEMBER}/points/activities", {"kind": "lottery"}, "kind"),
    ("POST", f"/v1/members/{MEMBER}/points/activities", {"kind": "checkin", "at": NOW}, "at"),
    ("POST", "/v1/members/42/points/activities", {"kind": "checkin"}, "member_id"),
    ("PUT", "/v1/points/program", {"program": {"tiers": [{"name": "basic", "threshold": 5, "multiplier": 1}]}},
     "program.tiers"),
    ("PUT", "/v1/points/program", {"program": {"rates": {"CNY": -1}}}, "program.rates"),
    ("PUT", "/v1/points/program", {"program": {"expiry": {"mode": "sometimes"}}}, "program.expiry.mode"),
    ("PUT", "/v1/points/program", {}, "program"),
    ("POST", "/v1/points/bonus-rules", {**RULE, "ends_at": "2026-12-01T00:00:00Z"}, "ends_at"),
    ("POST", "/v1/points/bonus-rules", {**RULE, "points_per_sale": 10}, "multiplier"),
    ("POST", "/v1/points/bonus-rules", _without(RULE, "multiplier"), "multiplier"),
    ("POST", "/v1/points/holds/bad%20id/commit", None, "hold_id"),
    ("POST", "/v1/points/jobs/everything", None, "name"),
    ("POST", "/v1/points/jobs/expiry?at=0001-01-01T00:00:00%2B01:00", None, "at"),
    ("GET", f"/v1/members/{MEMBER}/points/history?limit=0", None, "limit"),
    ("GET", f"/v1/members/{MEMBER}/points/history?cursor=garbage!", None, "cursor"),
    ("GET", f"/v1/members/{MEMBER}/points/lots?cursor=garbage!", None, "cursor"),
    ("GET", "/v1/points/reports/liability?to=2026-11-30", None, "from"),
    ("GET", "/v1/points/reports/liability?from=2026-11-30&to=2026-11-01", None, "to"),
    ("GET", "/v1/points/reports/settlement?from=2026-11-01&to=someday", None, "to"),
    ("GET", "/v1/points/reports/settlement?from=0001-01-01&to=0001-01-01", None, "from"),
    ("GET", "/v1/points/reports/settlement?from=2025-01-01&to=2026-01-03", None, "to"),
    ("GET", "/v1/points/reports/liability?from=9999-12-31&to=9999-12-31", None, "from"),
]


@pytest.mark.parametrize("method, path, body, field", BAD_BODIES,
                         ids=[f"{m} {p.split('/v1/')[1][:30]} {f}" for m, p, _, f in BAD_BODIES])
def test_bad_input_is_422_naming_the_field(client, callers, method, path, body, field):
    response = client.request(method, path, headers=callers["admin"], json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["field"] == field, response.json()


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/v1/points/sales", {**SALE, "store": "BJ-009"}),
    ("POST", "/v1/points/refunds", {**REFUND, "store": "BJ-009"}),
    ("POST", "/v1/points/holds", {**HOLD, "store": "BJ-009"}),
])
def test_store_bound_callers_cannot_act_for_another_store(client, callers, engine, method, path, body):
    before = audit_count(engine, "access.denied")
    for caller in ("clerk", "manager", "pos"):
        response = client.request(method, path, headers=callers[caller], json=body)
        assert response.status_code == 403, (caller, response.text)
    assert audit_count(engine, "access.denied") - before == 3
    assert client.request(method, path, headers=callers["admin"], json=body).status_code == 503  # chain-wide


BAD_ITEMS = [  # an upload's bad item is that item's answer, its field named as in the request
    ({**SALE, "kind": "void"}, "items.1.kind"),
    ({**SALE, "kind": "sale", "amount": "-5"}, "items.1.amount"),
    ({**SALE, "kind": "sale", "member_number": "8"}, "items.1.member_number"),
    ({**SALE, "kind": "sale", "member_number": "800000000017", "member_id": None}, "items.1.member_number"),
    ({**SALE, "kind": "sale", "member_phone": "13800000001"}, "items.1.member_phone"),
    ({**SALE, "kind": "sale", "member_id": None}, "items.1.member_id"),
    ({**SALE, "kind": "sale", "discounts": [{"code": "X", "amount": "200"}]}, "items.1.discounts"),
    ({**REFUND, "kind": "refund", "refunded_at": "yesterday"}, "items.1.refunded_at"),
    ({**REFUND, "kind": "refund", "store": "BJ-009"}, "items.1.store"),
]


@pytest.mark.parametrize("bad, field", BAD_ITEMS, ids=[f for _, f in BAD_ITEMS])
def test_a_bad_item_is_that_items_answer_and_the_others_are_posted(client, callers, fake, bad, field):
    def post(kw: dict[str, Any]) -> dict[str, Any]:
        return {"results": [{"index": i, "kind": "sale", "ok": i != 1, "sale": _receipt(item) if i != 1 else None,
                             "error": None if i != 1 else {"code": "not_found", "message": "unknown member",
                                                           "field": "items.1.member_id"}}
                            for i, item in enumerate(kw["items"])], "accepted": 1, "failed": 1}

    services = fake({("points", "record_batch"): post})
    good = [{**SALE, "kind": "sale", "transaction_id": f"t-{i}"} for i in range(3)]
    response = client.post("/v1/points/sales/batch", headers=callers["pos"],
                           json={"items": [good[0], bad, good[1], good[2]]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3] and [r["ok"] for r in results] == [True, False, False, True]
    assert results[1]["error"]["field"] == field, results[1]
    assert results[1]["error"]["code"] == ("forbidden" if field.endswith("store") else "invalid_input")
    assert results[2]["error"]["field"] == "items.2.member_id"  # the service's item 1 is the upload's item 2
    sent = services.calls[0][2]["items"]
    assert [item["transaction_id"] for item in sent] == ["t-0", "t-1", "t-2"]
    assert response.json()["accepted"] == 2 and response.json()["failed"] == 2


def test_the_default_erp_key_uploads_offline_sales(client, callers, fake):
    fake({("points", "record_batch"): lambda kw: {"results": [{"index": 0, "kind": "sale", "ok": True,
                                                                "sale": _receipt(kw["items"][0])}],
                                                   "accepted": 1, "failed": 0}})
    response = client.post("/v1/points/sales/batch", headers=callers["erp"], json=_batch(1))
    assert response.status_code == 200, response.text
    refused = client.post("/v1/points/sales", headers=callers["erp"], json=SALE)  # uploads, not till sales
    assert refused.status_code == 403


def test_a_hold_id_that_is_not_one_is_named_as_a_hold_id(client, callers):
    response = client.post("/v1/points/holds/None/commit", headers=callers["admin"])
    assert response.status_code in (422, 503)
    if response.status_code == 422:
        assert response.json()["error"]["field"] == "hold_id"
        assert "member" not in response.json()["error"]["message"]


def test_store_bound_adjustments_and_activities_stay_in_their_stores(client, callers):
    adjust = f"/v1/members/{MEMBER}/points/adjustments"
    assert client.post(adjust, headers=callers["manager"], json={"points": 5, "reason": "goodwill",
                                                                 "store": "BJ-009"}).status_code == 403
    assert client.post(adjust, headers=callers["manager"], json={"points": 5, "reason": "goodwill"}).status_code == 503
    activity = f"/v1/members/{MEMBER}/points/activities"
    assert client.post(activity, headers=callers["clerk"], json={"kind": "checkin", "store": "BJ-009"}
                       ).status_code == 403


def test_a_manager_of_several_stores_names_the_store_an_adjustment_is_booked_to(client, engine):
    row, _ = make_staff(engine, ["manager"], ["SH-001", "SH-002"])
    path = f"/v1/members/{MEMBER}/points/adjustments"
    response = client.post(path, headers=bearer(staff_token(row)), json={"points": 5, "reason": "goodwill"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "store"
    assert client.post(path, headers=bearer(staff_token(row)), json={"points": 5, "reason": "goodwill",
                                                                     "store": "SH-002"}).status_code == 503


def test_members_record_only_check_ins_and_shares_themselves(client, callers):
    path = f"/v1/members/{callers['member_id']['id']}/points/activities"
    for kind in ("referral", "profile_completion"):
        response = client.post(path, headers=callers["member"], json={"kind": kind, "key": str(uuid.uuid4())})
        assert response.status_code == 403 and response.json()["error"]["field"] == "kind"
    assert client.post(path, headers=callers["member"], json={"kind": "checkin"}).status_code == 503


def test_store_bound_managers_see_liability_of_their_stores_only(client, callers):
    path = "/v1/points/reports/liability?from=2026-11-01&to=2026-11-30"
    missing = client.get(path, headers=callers["manager"])
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "store"
    assert client.get(path + "&store=BJ-009", headers=callers["manager"]).status_code == 403
    assert client.get(path + "&store=SH-001", headers=callers["manager"]).status_code == 503
    assert client.get(path, headers=callers["auditor"]).status_code == 503  # chain-wide: the whole chain


# ---- with a stand-in for the services --------------------------------------------------------------------
class FakeServices:
    """Answers RPCs from a table (a value, a function of the kwargs, or an exception) and records them."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def call(self, request: Any, service: str, method: str, **kwargs: Any) -> Any:
        self.calls.append((service, method, kwargs))
        answer = self.answers[(service, method)]
        if isinstance(answer, Exception):
            raise answer
        return answer(kwargs) if callable(answer) else answer

    def methods(self) -> list[str]:
        return [f"{service}.{method}" for service, method, _ in self.calls]


@pytest.fixture
def fake(client):
    real = client.app.state.services  # (monkeypatch cannot restore attributes of starlette's State)

    def install(answers: dict[tuple[str, str], Any]) -> FakeServices:
        client.app.state.services = FakeServices(answers)
        return client.app.state.services
    yield install
    client.app.state.services = real


def _receipt(sale: dict[str, Any], replayed: bool = False) -> dict[str, Any]:
    return {"store": sale["store"], "transaction_id": sale["transaction_id"], "member_id": sale["member_id"],
            "points_earned": 128, "breakdown": [{"rule": "base", "points": 128}], "balance": 128, "available": 128,
            "pending": 0, "tier": "normal", "expiring": {"points": 128, "expires_at": "2027-11-30T15:59:59Z"},
            "replayed": replayed}


def test_a_sale_by_phone_resolves_the_member_then_makes_one_points_call(client, callers, fake):
    member_id = str(uuid.uuid4())
    services = fake({("members", "lookup_phone"): {"phone": "+8613800000001", "member_id": member_id},
                     ("points", "record_sale"): lambda kw: _receipt(kw)})
    body = {**_without(SALE, "member_id"), "member_phone": "138 0000 0001"}
    response = client.post("/v1/points/sales", headers=callers["pos"], json=body)
    assert response.status_code == 201, response.text
    assert response.json()["member_id"] == member_id and response.json()["points_earned"] == 128
    assert services.methods() == ["members.lookup_phone", "points.record_sale"]
    sent = services.calls[1][2]
    assert sent["member_id"] == member_id and sent["member_number"] is None and "member_phone" not in sent
    assert sent["amount"] == "128.50" and sent["sold_at"] == "2026-11-23T02:00:00Z"  # UTC, money as a string


def test_a_replayed_sale_is_200_with_the_first_answer(client, callers, fake):
    fake({("points", "record_sale"): lambda kw: _receipt(kw, replayed=True)})
    response = client.post("/v1/points/sales", headers=callers["pos"], json=SALE)
    assert response.status_code == 200 and response.json()["replayed"] is True


@pytest.mark.parametrize("lookup, status, code", [
    ({"phone": "+8613800000009", "member_id": None}, 404, "not_found"),
    (RemoteError("InvalidInput", "not a phone number", "phone"), 422, "invalid_input"),
])
def test_an_unknown_or_malformed_phone_names_member_phone_and_credits_nothing(client, callers, fake, lookup, status,
                                                                              code):
    services = fake({("members", "lookup_phone"): lookup, ("points", "record_sale"): _receipt})
    body = {**_without(SALE, "member_id"), "member_phone": "13800000009"}
    response = client.post("/v1/points/sales", headers=callers["clerk"], json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and response.json()["error"]["field"] == "member_phone"
    assert services.methods() == ["members.lookup_phone"]


def test_a_sale_at_a_store_the_catalog_closed_is_a_409_naming_the_store(client, callers, fake):
    fake({("points", "record_sale"): RemoteError("StoreNotOpen", "store SH-001 is closed: it may not record sales",
                                                 "store")})
    response = client.post("/v1/points/sales", headers=callers["pos"], json=SALE)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "store_not_open" and response.json()["error"]["field"] == "store"
    assert "SH-001 is closed" in response.json()["error"]["message"]


@pytest.mark.parametrize("error, status, code", [
    (RemoteError("InsufficientPoints", "only 40 points available", "points"), 409, "insufficient_points"),
    (RemoteError("Forbidden", "not your store's hold", None), 403, "forbidden"),
    (RemoteError("NotFound", "no hold h-1", "hold_id"), 404, "not_found"),
])
def test_the_services_typed_errors_reach_the_till(client, callers, fake, error, status, code):
    fake({("points", "hold"): error, ("points", "commit_hold"): error})
    for method, path, body in (("POST", "/v1/points/holds", HOLD), ("POST", "/v1/points/holds/h-1/commit", None)):
        response = client.request(method, path, headers=callers["pos"], json=body)
        assert response.status_code == status and response.json()["error"]["code"] == code


def test_an_adjustment_is_audited_and_a_retry_with_the_same_key_is_one_request_to_the_service(
        client, callers, engine, fake):
    entry = {"entry_id": 7, "kind": "adjustment", "points": -30, "store": "SH-001", "at_store": "SH-001",
             "reference": None, "detail": {}, "created_at": "2026-11-23T02:00:00Z"}
    services = fake({("points", "adjust"): {"entry": entry, "balance": 70}})
    path = f"/v1/members/{MEMBER}/points/adjustments"
    before = audit_count(engine, "points.adjusted")
    key = {"Idempotency-Key": f"adjust-{uuid.uuid4()}"}
    body = {"points": -30, "reason": "returned gift card"}
    first = client.post(path, headers={**callers["manager"], **key}, json=body)
    again = client.post(path, headers={**callers["manager"], **key}, json=body)
    assert first.status_code == again.status_code == 201, first.text
    assert again.headers["Idempotent-Replayed"] == "true"
    sent = services.calls[0][2]
    assert len(services.calls) == 1
    assert sent["member_id"] == MEMBER and sent["store"] == "SH-001"  # a store-bound manager's own store
    assert sent["request_id"] == key["Idempotency-Key"]  # the service scopes it to the caller
    long_key = {"Idempotency-Key": "k" * 200}
    assert client.post(path, headers={**callers["admin"], **long_key}, json=body).status_code == 201
    assert services.calls[1][2]["request_id"].startswith("sha256:") and len(services.calls[1][2]["request_id"]) == 64
    assert client.post(path, headers=callers["admin"], json=body).status_code == 201
    assert services.calls[2][2]["request_id"] is None  # no key: no idempotency asked for
    assert audit_count(engine, "points.adjusted") == before + 3
    entries = client.get("/v1/audit", headers=callers["auditor"],
                         params={"action": "points.adjusted", "object_id": MEMBER}).json()["items"]
    assert entries[-1]["details"]["points"] == -30 and entries[-1]["details"]["reason"] == "returned gift card"


def test_history_pages_with_the_api_cursor(client, callers, fake):
    entry = {"entry_id": 9, "kind": "accrual", "points": 128, "store": "SH-001", "at_store": "SH-001",
             "reference": "t-100", "detail": {}, "created_at": "2026-11-23T02:00:00Z"}
    services = fake({("points", "history"): lambda kw: {"items": [entry], "next": "9" if kw["after"] is None
                                                        else None}})
    path = f"/v1/members/{callers['member_id']['id']}/points/history"
    first = client.get(path, headers=callers["member"], params={"limit": 1}).json()
    assert first["items"][0]["entry_id"] == 9 and first["next_cursor"]
    second = client.get(path, headers=callers["member"], params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    assert [c[2]["after"] for c in services.calls] == [None, "9"]


def test_lots_page_with_the_api_cursor(client, callers, fake):
    lot = {"lot_id": 3, "source": "accrual", "store": "SH-001", "reference": "t-100", "points": 128, "remaining": 28,
           "available_at": "2026-11-23T02:00:00Z", "expires_at": None, "created_at": "2026-11-23T02:00:00Z"}
    position = "9999-12-31T00:00:00+00:00|3"
    services = fake({("points", "lots"): lambda kw: {"items": [lot], "next": position if kw["after"] is None
                                                     else None}})
    path = f"/v1/members/{callers['member_id']['id']}/points/lots"
    first = client.get(path, headers=callers["member"], params={"limit": 1}).json()
    assert first["items"][0]["remaining"] == 28 and first["next_cursor"]
    second = client.get(path, headers=callers["member"], params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    assert [c[2]["after"] for c in services.calls] == [None, position]


def test_settlement_for_a_store_bound_manager_shows_rows_of_their_stores(client, callers, fake):
    rows = [{"earned_store": "SH-001", "spent_store": "BJ-001", "points": 10, "value": "0.10"},
            {"earned_store": "BJ-001", "spent_store": "SH-001", "points": 20, "value": "0.20"},
            {"earned_store": "BJ-001", "spent_store": "GZ-001", "points": 30, "value": "0.30"}]
    fake({("points", "settlement"): rows})
    path = "/v1/points/reports/settlement?from=2026-11-01&to=2026-11-30"
    assert [r["points"] for r in client.get(path, headers=callers["manager"]).json()["items"]] == [10, 20]
    assert [r["points"] for r in client.get(path, headers=callers["auditor"]).json()["items"]] == [10, 20, 30]


def test_program_changes_and_jobs_are_audited(client, callers, engine, fake):
    version = {"version": 2, "effective_from": "2026-12-01T00:00:00Z", "program": {}, "created_by": "x",
               "created_at": "2026-11-23T02:00:00Z"}
    services = fake({("points", "set_program"): version,
                     ("points", "run_job"): {"job": "expiry", "processed": 3, "events": 3}})
    before = (audit_count(engine, "points.program_changed"), audit_count(engine, "points.job_run"))
    changed = client.put("/v1/points/program", headers=callers["marketer"],
                         json={"program": {"rates": {"CNY": "2"}}, "effective_from": "2026-12-01T08:00:00+08:00"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["program"]["rates"] == {"CNY": "1"}  # the defaults filled in by the contract
    assert services.calls[0][2]["effective_from"] == "2026-12-01T00:00:00Z"
    ran = client.post("/v1/points/jobs/expiry", headers=callers["admin"], params={"at": "2027-01-01T00:00:00+08:00"})
    assert ran.status_code == 200 and ran.json()["processed"] == 3
    assert services.calls[1][2] == {"name": "expiry", "at": "2026-12-31T16:00:00+00:00", "timeout": 300.0}
    assert (audit_count(engine, "points.program_changed"), audit_count(engine, "points.job_run")) == (
        before[0] + 1, before[1] + 1)


ROWS = {
    "program_versions": lambda n: {"version": n, "effective_from": NOW, "program": {}, "created_by": None,
                                   "created_at": NOW},
    "bonus_rules": lambda n: {**RULE, "rule_id": str(n), "source": "manual", "active": False},
    "liability": lambda n: {"store": None if n == 0 else "SH-001", "bucket": "chain" if n == 0 else "store",
                            "day": f"2026-11-0{n + 1}", "points": n, "value": "0.00"},
    "settlement": lambda n: {"earned_store": "SH-001", "spent_store": "BJ-001", "points": n, "value": "0.00"},
}
LISTS = [("/v1/points/program/versions", "program_versions"), ("/v1/points/bonus-rules", "bonus_rules"),
         ("/v1/points/reports/liability?from=2026-11-01&to=2026-11-30", "liability"),
         ("/v1/points/reports/settlement?from=2026-11-01&to=2026-11-30", "settlement")]


@pytest.mark.parametrize("path, method", LISTS)
def test_points_lists_are_items_and_next_cursor_and_page(client, callers, fake, path, method):
    fake({("points", method): [ROWS[method](n) for n in range(5)]})
    separator = "&" if "?" in path else "?"
    first = client.get(f"{path}{separator}limit=2", headers=callers["admin"])
    assert first.status_code == 200, first.text
    assert set(first.json()) == {"items", "next_cursor"} and len(first.json()["items"]) == 2
    seen = []
    cursor = None
    while True:
        page = client.get(f"{path}{separator}limit=2" + (f"&cursor={cursor}" if cursor else ""),
                          headers=callers["admin"]).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5


def test_points_list_routes_declare_the_page_shape_in_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, _ in LISTS:
        schema = paths[path.split("?")[0]]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in schema and "Page" in schema["$ref"], (path, schema)


def test_the_daily_report_is_for_a_store_its_managers_may_see(client, callers, fake):
    report = {"store": "SH-001", "day": "2026-11-23", "members_share": "0.4000", "sales": {
        "count": 3, "amount": "420.00", "net_amount": "400.00", "members": 2, "refunds": 0, "refunded_amount": "0"},
        "points": {"issued": 400, "redeemed": 100, "expired": 0, "reversed": 0}}
    services = fake({("points", "daily_report"): report})
    path = "/v1/points/reports/daily?day=2026-11-23&store="
    response = client.get(path + "SH-001&total_sales=1000.00", headers=callers["manager"])
    assert response.status_code == 200 and response.json()["points"]["issued"] == 400, response.text
    assert services.calls[0][2] == {"store": "SH-001", "day": "2026-11-23", "total_sales": "1000.00",
                                    "timeout": 60.0} or services.calls[0][2]["store"] == "SH-001"
    assert client.get(path + "BJ-009", headers=callers["manager"]).status_code == 403
    assert client.get("/v1/points/reports/daily?day=2026-11-23", headers=callers["manager"]).json()["error"][
        "field"] == "store"
    assert client.get(path + "SH-001", headers=callers["clerk"]).status_code == 403


def _member(member_id: str) -> dict[str, Any]:
    return {"member_id": member_id, "member_number": "800000000011", "name": "Li Lei", "phone": "+8613800000001",
            "registration_store": "SH-001", "channel": "pos", "status": "active", "version": 1,
            "created_at": NOW}


def test_the_tills_member_lookup_shows_balance_tier_and_points_held_in_one_more_call(client, callers, fake, engine):
    member_id = str(uuid.uuid4())
    services = fake({("members", "search"): {"items": [_member(member_id)], "next": None},
                     ("points", "brief_accounts"): {member_id: {"balance": 320, "tier": "silver", "held": 80,
                                                                "available": 240}}})
    found = client.get("/v1/members?member_number=800000000011", headers=callers["pos"])
    assert found.status_code == 200, found.text
    assert found.json()["items"][0]["points"] == {"balance": 320, "tier": "silver", "held": 80, "available": 240}
    assert services.methods() == ["members.search", "points.brief_accounts"]
    assert services.calls[1][2]["member_ids"] == [member_id]
    others = [_member(str(uuid.uuid4())) for _ in range(3)]
    browse = fake({("members", "search"): {"items": [_member(member_id), *others], "next": None}})
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT max(id) FROM audit_log")).scalar()
    assert client.get("/v1/members?name_prefix=Li", headers=callers["admin"]).json()["items"][0]["points"] is None
    assert browse.methods() == ["members.search"]  # browsing lists pay no points call
    with engine.connect() as conn:  # every full read of the page audited, in one write
        read = conn.execute(sa.text("SELECT object_id, occurred_at FROM audit_log WHERE action = "
                                    "'member.contact_data_read' AND id > :i"), {"i": before or 0}).all()
    assert {r.object_id for r in read} == {member_id, *(m["member_id"] for m in others)}
    assert len({r.occurred_at for r in read}) == 1


def test_the_lookup_answers_without_points_when_points_does_not(client, callers, fake):
    member_id = str(uuid.uuid4())
    fake({("members", "search"): {"items": [_member(member_id)], "next": None},
          ("points", "brief_accounts"): RemoteError("NotFound", "gone", None)})
    found = client.get("/v1/members?phone=13800000001", headers=callers["pos"])
    assert found.status_code == 200 and found.json()["items"][0]["points"] is None


def test_refusals_name_the_fields_of_the_request_not_the_services(client, callers, fake):
    from services.gateway.pagination import make_cursor

    fake({("points", "history"): RemoteError("InvalidInput", "not a position from a previous page", "after"),
          ("points", "adjust"): RemoteError("Conflict", "this request_id was used for another adjustment",
                                            "request_id")})
    history = client.get(f"/v1/members/{MEMBER}/points/history?cursor={make_cursor('abc')}", headers=callers["admin"])
    assert history.status_code == 422 and history.json()["error"]["field"] == "cursor"
    adjusted = client.post(f"/v1/members/{MEMBER}/points/adjustments", json={"points": 5, "reason": "goodwill"},
                           headers={**callers["admin"], "Idempotency-Key": "adj-1"})
    assert adjusted.status_code == 409 and adjusted.json()["error"]["field"] == "Idempotency-Key"


def test_an_upload_names_members_by_phone_as_a_single_sale_does(client, callers, fake):
    known = str(uuid.uuid4())

    def lookup(kw: dict[str, Any]) -> dict[str, Any]:
        return {"phone": "+86" + kw["phone"], "member_id": known if kw["phone"] == "13800000001" else None}

    def post(kw: dict[str, Any]) -> dict[str, Any]:
        return {"results": [{"index": i, "kind": "sale", "ok": True, "sale": _receipt(item)}
                            for i, item in enumerate(kw["items"])], "accepted": len(kw["items"]), "failed": 0}

    services = fake({("members", "lookup_phone"): lookup, ("points", "record_batch"): post})
    by_phone = {**_without(SALE, "member_id"), "kind": "sale"}
    body = {"items": [{**by_phone, "member_phone": "13800000001", "transaction_id": "p-1"},
                      {**by_phone, "member_phone": "13800000009", "transaction_id": "p-2"}]}
    response = client.post("/v1/points/sales/batch", headers=callers["pos"], json=body)
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["ok"] and first["sale"]["member_id"] == known
    assert not second["ok"] and second["error"]["field"] == "items.1.member_phone"
    sent = services.calls[-1][2]["items"]
    assert len(sent) == 1 and sent[0]["member_id"] == known and "member_phone" not in sent[0]


def test_a_sale_by_phone_whose_member_points_does_not_know_names_the_phone(client, callers, fake):
    fake({("members", "lookup_phone"): {"phone": "+8613800000001", "member_id": str(uuid.uuid4())},
          ("points", "record_sale"): RemoteError("NotFound", "unknown member: no member has this id", "member_id")})
    response = client.post("/v1/points/sales", headers=callers["pos"],
                           json={**_without(SALE, "member_id"), "member_phone": "13800000001"})
    assert response.status_code == 404 and response.json()["error"]["field"] == "member_phone"
