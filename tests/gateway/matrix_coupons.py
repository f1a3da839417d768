"""The coupons routes in the access matrix (tests/gateway/test_access_matrix.py): (test id, (method,
path, json body, who may call it)). A route that reaches its service answers 503 in that test."""
from __future__ import annotations

import uuid

Route = tuple[str, str, object, set[str]]

MARKETING = {"admin", "marketer"}
TILL = {"clerk", "manager", "admin", "pos"}
READERS = {"clerk", "manager", "marketer", "admin", "auditor"}
CODE = "23456789ABCDEF2"
BASKET = {"codes": [CODE], "store": "SH-001", "amount": "120.00"}
TEMPLATE = {"name": "20 off 100", "kind": "threshold", "amount": "20.00", "min_spend": "100.00", "valid_days": 30}


def routes(member_id: str) -> list[tuple[str, Route]]:
    other = str(uuid.uuid4())
    some_id = str(uuid.uuid4())
    return [
        ("create coupon template", ("POST", "/v1/coupons/templates", TEMPLATE, MARKETING)),
        ("preview coupon template", ("POST", "/v1/coupons/templates/preview", {
            "template": TEMPLATE, "basket": {"store": "SH-001", "amount": "120.00"}}, MARKETING)),
        ("list coupon templates", ("GET", "/v1/coupons/templates", None, {"admin", "marketer", "manager", "auditor"})),
        ("get coupon template", ("GET", f"/v1/coupons/templates/{some_id}", None,
                                 {"admin", "marketer", "manager", "auditor"})),
        ("issue coupon", ("POST", "/v1/coupons/issue", {"template_id": some_id, "member_id": other}, MARKETING)),
        ("start issue job", ("POST", "/v1/coupons/issue-jobs", {"template_id": some_id, "member_ids": [other]},
                             MARKETING)),
        ("get issue job", ("GET", f"/v1/coupons/issue-jobs/{some_id}", None, MARKETING)),
        ("validate coupons", ("POST", "/v1/coupons/validate", BASKET, TILL)),
        ("redeem coupons", ("POST", "/v1/coupons/redeem", {**BASKET, "transaction_id": "t-1"}, TILL)),
        ("refund coupons", ("POST", "/v1/coupons/refunds", {"store": "SH-001", "transaction_id": "t-1"}, TILL)),
        ("member coupons", ("GET", f"/v1/members/{other}/coupons", None, READERS | {"pos"})),
        ("own coupons", ("GET", f"/v1/members/{member_id}/coupons?status=valid", None, READERS | {"pos", "member"})),
        ("rewards catalog", ("GET", "/v1/rewards", None, READERS | {"member"})),
        ("create reward", ("POST", "/v1/rewards", {"name": "Mug", "kind": "gift", "gift_sku": "MUG", "points": 100,
                                                   "stock": 5}, MARKETING)),
        ("restock reward", ("POST", f"/v1/rewards/{some_id}/restock", {"add": 5}, MARKETING)),
        ("exchange for another", ("POST", f"/v1/members/{other}/rewards/exchanges",
                                  {"item_id": some_id, "exchange_key": "k-1", "store": "SH-001"},
                                  {"clerk", "manager", "admin"})),
        ("own exchange", ("POST", f"/v1/members/{member_id}/rewards/exchanges",
                          {"item_id": some_id, "exchange_key": "k-1"}, {"clerk", "manager", "admin", "member"})),
    ]
