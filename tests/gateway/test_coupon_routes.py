"""The coupon and rewards routes in front of the campaigns service: bodies refused with the field
named, store and member scope, and (with a stand-in for the services) what each route sends and how
it answers."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.campaigns.coupons.domain import new_code
from services.gateway.rpc import RemoteError
from tests.gateway.conftest import audit_count
from tests.gateway.test_points_routes import FakeServices

CODE = new_code()
TEMPLATE = {"name": "20 off 100", "kind": "threshold", "amount": "20.00", "min_spend": "100.00", "valid_days": 30}
BASKET = {"codes": [CODE], "store": "SH-001", "amount": "120.00"}
MEMBER = str(uuid.uuid4())

BAD_BODIES = [
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "kind": "percent", "discount_percent": "150"}, "discount_percent"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "kind": "percent", "price_percent": "0"}, "price_percent"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "kind": "percent", "discount_percent": "10",
                                       "price_percent": "90"}, "price_percent"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "amount": "-20.00"}, "amount"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "min_spend": "-1"}, "min_spend"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "kind": "half-price"}, "kind"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "budget_value": "-100"}, "budget_value"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "valid_until": "tomorrow"}, "valid_until"),
    ("POST", "/v1/coupons/templates", {**TEMPLATE, "stores": ["SH 001"]}, "stores.0"),
    ("POST", "/v1/coupons/issue", {"template_id": str(uuid.uuid4())}, "member_id"),
    ("POST", "/v1/coupons/issue", {"template_id": str(uuid.uuid4()), "member_id": MEMBER, "source": "gift"},
     "source"),
    ("POST", "/v1/coupons/issue-jobs", {"template_id": str(uuid.uuid4()), "member_ids": []}, "member_ids"),
    ("POST", "/v1/coupons/validate", {**BASKET, "codes": [CODE[:-1] + ("2" if CODE[-1] != "2" else "3")]}, "code"),
    ("POST", "/v1/coupons/validate", {**BASKET, "codes": [CODE, "0OIL1"]}, "codes.1"),
    ("POST", "/v1/coupons/validate", {**BASKET, "codes": []}, "codes"),
    ("POST", "/v1/coupons/validate", {**BASKET, "amount": "-1"}, "amount"),
    ("POST", "/v1/coupons/redeem", BASKET, "transaction_id"),
    ("POST", "/v1/coupons/redeem", {**BASKET, "transaction_id": "t-1", "codes": [CODE[1:] + CODE[0]]}, "code"),
    ("POST", "/v1/coupons/refunds", {"store": "SH-001"}, "transaction_id"),
    ("GET", f"/v1/members/{MEMBER}/coupons?status=lost", None, "status"),
    ("GET", "/v1/members/42/coupons", None, "member_id"),
    ("POST", "/v1/rewards", {"name": "Mug", "kind": "gift", "gift_sku": "MUG", "points": 0, "stock": 1}, "points"),
    ("POST", "/v1/rewards", {"name": "Mug", "kind": "gift", "gift_sku": "MUG", "points": 10, "stock": -1}, "stock"),
    ("POST", f"/v1/rewards/{uuid.uuid4()}/restock", {"add": 0}, "add"),
    ("POST", f"/v1/members/{MEMBER}/rewards/exchanges", {"item_id": "mug", "exchange_key": "k"}, "item_id"),
    ("POST", f"/v1/members/{MEMBER}/rewards/exchanges", {"item_id": str(uuid.uuid4())}, "exchange_key"),
]


def test_the_bare_percent_field_is_refused_naming_it_and_the_two_that_replace_it(client, callers):
    """"90" meant 90% off, where a 9折 coupon (pay 90%) was meant: the field no longer guesses."""
    response = client.post("/v1/coupons/templates", headers=callers["admin"],
                           json={**TEMPLATE, "kind": "percent", "amount": None, "percent": "90"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "percent"
    assert "discount_percent" in error["message"] and "price_percent" in error["message"]


@pytest.mark.parametrize("method, path, body, field", BAD_BODIES,
                         ids=[f"{m} {p.split('/v1/')[1][:30]} {f}" for m, p, _, f in BAD_BODIES])
def test_bad_input_is_422_naming_the_field(client, callers, method, path, body, field):
    response = client.request(method, path, headers=callers["admin"], json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["field"] == field, response.json()


@pytest.mark.parametrize("path, body", [
    ("/v1/coupons/validate", {**BASKET, "store": "BJ-009"}),
    ("/v1/coupons/redeem", {**BASKET, "store": "BJ-009", "transaction_id": "t-9"}),
    ("/v1/coupons/refunds", {"store": "BJ-009", "transaction_id": "t-9"}),
])
def test_tills_act_only_for_their_stores(client, callers, engine, path, body):
    before = audit_count(engine, "access.denied")
    for caller in ("clerk", "manager", "pos"):
        assert client.post(path, headers=callers[caller], json=body).status_code == 403, caller
    assert audit_count(engine, "access.denied") - before == 3
    assert client.post(path, headers=callers["admin"], json=body).status_code == 503  # chain-wide


@pytest.fixture
def stub(client):
    """Install a FakeServices (the points route tests' stand-in) for one test."""
    real = client.app.state.services

    def install(answers: dict[tuple[str, str], Any]) -> FakeServices:
        client.app.state.services = FakeServices(answers)
        return client.app.state.services
    yield install
    client.app.state.services = real


def _redemption(kw: dict[str, Any], replayed: bool = False) -> dict[str, Any]:
    return {"store": kw["store"], "amount": kw["amount"], "discount": "20.00", "amount_due": "100.00",
            "coupons": [{"code": kw["codes"][0], "coupon_id": str(uuid.uuid4()), "template_id": str(uuid.uuid4()),
                         "kind": "threshold", "discount": "20.00"}],
            "redemption_id": str(uuid.uuid4()), "transaction_id": kw["transaction_id"],
            "redeemed_at": "2026-11-23T10:00:00Z", "replayed": replayed}


def test_redeem_makes_one_call_and_answers_201_then_200_when_replayed(client, callers, stub):
    services = stub({("campaigns", "redeem_coupons"): lambda kw: _redemption(kw)})
    body = {**BASKET, "transaction_id": "t-100", "terminal": "till-1"}
    response = client.post("/v1/coupons/redeem", headers=callers["pos"], json=body)
    assert response.status_code == 201, response.text
    assert services.methods() == ["campaigns.redeem_coupons"]
    assert services.calls[0][2]["codes"] == [CODE] and services.calls[0][2]["transaction_id"] == "t-100"
    stub({("campaigns", "redeem_coupons"): lambda kw: _redemption(kw, replayed=True)})
    assert client.post("/v1/coupons/redeem", headers=callers["pos"], json=body).status_code == 200


def test_service_refusals_keep_their_status_and_field(client, callers, stub):
    stub({("campaigns", "redeem_coupons"): RemoteError("Conflict", "this coupon has been used", "code"),
          ("campaigns", "validate_coupons"): RemoteError("InvalidInput", "not valid at store SH-001", "store")})
    used = client.post("/v1/coupons/redeem", headers=callers["clerk"], json={**BASKET, "transaction_id": "t-2"})
    assert used.status_code == 409 and used.json()["error"]["field"] == "code"
    elsewhere = client.post("/v1/coupons/validate", headers=callers["clerk"], json=BASKET)
    assert elsewhere.status_code == 422 and elsewhere.json()["error"]["field"] == "store"


def test_members_see_and_exchange_only_for_themselves(client, callers, engine, stub):
    me = callers["member_id"]["id"]
    services = stub({("campaigns", "member_coupons"): {"items": [], "next": None},
                     ("campaigns", "exchange"): lambda kw: {
                         "exchange_id": str(uuid.uuid4()), "item_id": kw["item_id"], "member_id": kw["member_id"],
                         "points": 100, "status": "completed", "gift_sku": "MUG", "created_at": "2026-11-23T10:00:00Z",
                         "replayed": False}})
    assert client.get(f"/v1/members/{me}/coupons", headers=callers["member"]).status_code == 200
    before = audit_count(engine, "access.denied")
    assert client.get(f"/v1/members/{MEMBER}/coupons", headers=callers["member"]).status_code == 403
    item = str(uuid.uuid4())
    made = client.post(f"/v1/members/{me}/rewards/exchanges", headers=callers["member"],
                       json={"item_id": item, "exchange_key": "k-1"})
    assert made.status_code == 201, made.text
    assert services.calls[-1][2] == {"item_id": item, "member_id": me, "exchange_key": "k-1", "store": "ONLINE"}
    assert client.post(f"/v1/members/{MEMBER}/rewards/exchanges", headers=callers["member"],
                       json={"item_id": item, "exchange_key": "k-1"}).status_code == 403
    assert audit_count(engine, "access.denied") - before == 2
    clerk = client.post(f"/v1/members/{MEMBER}/rewards/exchanges", headers=callers["clerk"],
                        json={"item_id": item, "exchange_key": "k-2"})
    assert clerk.status_code == 201 and services.calls[-1][2]["store"] == "SH-001"  # the clerk's own store
    assert client.post(f"/v1/members/{MEMBER}/rewards/exchanges", headers=callers["clerk"],
                       json={"item_id": item, "exchange_key": "k-3", "store": "BJ-009"}).status_code == 403
