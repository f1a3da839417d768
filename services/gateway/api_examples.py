"""Examples for the OpenAPI document, keyed by operationId: a request body and/or a success answer
as an integrator would really send and get them. Operations not listed get examples built from
their schemas (services/gateway/api_doc.py); a test checks every request example validates."""
from __future__ import annotations

from typing import Any

from services.gateway.routes_catalog_examples import CATALOG_EXAMPLES
from services.gateway.routes_feed_examples import FEED_EXAMPLES
from services.gateway.routes_sync_examples import SYNC_EXAMPLES

MEMBER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
HOLD = "9b2d7c1e-4f3a-4e5b-8c6d-1a2b3c4d5e6f"
SOLD_AT = "2026-12-01T10:15:00Z"

_SALE = {"member_id": MEMBER, "store": "SH-001", "terminal": "till-3", "transaction_id": "T-20261201-000123",
         "amount": "128.50", "currency": "CNY",
         "items": [{"sku": "SKU-10023", "category": "dairy", "qty": "2", "amount": "38.50", "discount": "0"},
                   {"sku": "SKU-20410", "category": "household", "qty": "1", "amount": "90.00", "discount": "10.00"}],
         "sold_at": SOLD_AT}
_RECEIPT = {"store": "SH-001", "transaction_id": "T-20261201-000123", "member_id": MEMBER, "points_earned": 118,
            "breakdown": [{"rule": "base", "points": 118}], "balance": 1318, "available": 1218, "pending": 0,
            "debt_repaid": 0, "tier": "silver", "tier_changed": False,
            "expiring": {"points": 200, "expires_at": "2026-12-31T15:59:59Z"}, "replayed": False}
_MEMBER = {"member_id": MEMBER, "member_number": "800000001233", "name": "Zhang San", "phone": "139****1111",
           "email": "z***@example.com", "id_number": None, "contact_masked": True, "gender": "male",
           "birthday": "1990-05-17", "registration_store": "SH-001", "channel": "pos", "tags": ["vip"],
           "preferences": {}, "status": "active", "version": 1, "created_at": SOLD_AT, "updated_at": SOLD_AT,
           "points": {"balance": 1318, "tier": "silver", "held": 0, "available": 1318}}
_HOLD = {"hold_id": HOLD, "member_id": MEMBER, "store": "SH-001", "transaction_id": "T-20261201-000124",
         "points": 500, "status": "held", "expires_at": "2026-12-01T10:20:00Z", "balance": 1318, "available": 818,
         "replayed": False}

_PROGRAM = {"rates": {"CNY": "1"}, "rounding": "floor", "min_spend": "0", "net_of_discounts": True,
            "tiers": [{"name": "normal", "threshold": "0", "multiplier": "1"},
                      {"name": "silver", "threshold": "2000", "multiplier": "1.2"},
                      {"name": "gold", "threshold": "10000", "multiplier": "1.5"}],
            "tier_basis": "spend", "tier_window_days": 365, "expiry": {"mode": "months_after", "count": 24},
            "point_value": "0.01"}
_VERSION = {"version": 3, "effective_from": "2027-01-01T00:00:00+08:00", "program": _PROGRAM, "created_by": "admin",
            "created_at": SOLD_AT}
_BONUS = {"name": "Double points weekend", "starts_at": "2026-12-05T00:00:00+08:00",
          "ends_at": "2026-12-07T00:00:00+08:00", "multiplier": "2", "stores": ["SH-001"], "min_spend": "50.00"}
_BONUS_RULE = {**_BONUS, "rule_id": "5c1e2d3f-6a7b-4c8d-9e0f-112233445566", "source": "staff", "active": True,
               "audience": None}

EXAMPLES: dict[str, dict[str, Any]] = {
    "healthz": {"response": {"status": "ok"}},
    "login": {"request": {"grant_type": "password", "username": "li.clerk", "password": "at least twelve chars"}},
    "readyz": {"503": {"status": "not_ready", "checks": {"broker": "ok", "database": "OperationalError"}},
               "response": {"status": "ready", "checks": {"broker": "ok", "database": "ok"}}},
    "record_sale": {"request": _SALE, "response": _RECEIPT},
    "record_batch": {"request": {"items": [{"kind": "sale", **_SALE}]},
                     "response": {"results": [{"index": 0, "kind": "sale", "ok": True, "sale": _RECEIPT}],
                                  "accepted": 1, "failed": 0}},
    "refund_sale": {"request": {"store": "SH-001", "refund_id": "R-20261201-000007",
                                "transaction_id": "T-20261201-000123", "terminal": "till-3", "amount": "38.50",
                                "refunded_at": "2026-12-01T11:02:00Z"}},
    "hold_points": {"request": {"member_number": "800000001233", "store": "SH-001", "terminal": "till-3",
                                "transaction_id": "T-20261201-000124", "points": 500, "ttl_seconds": 300},
                    "response": _HOLD},
    "commit_hold": {"response": {**_HOLD, "status": "committed", "balance": 818, "available": 818}},
    "release_hold": {"response": {**_HOLD, "status": "released", "available": 1318}},
    "register_member": {"request": {"name": "Zhang San", "phone": "139 0000 1111", "registration_store": "SH-001",
                                    "channel": "pos", "gender": "male", "birthday": "1990-05-17"},
                        "response": {"member": {**_MEMBER, "points": None}, "created": True}},
    "get_member": {"response": _MEMBER},
    "search_members": {"response": {"items": [_MEMBER], "next_cursor": None}},
    "member_token": {"request": {"phone": "+8613900001111", "code": "482913"}},
    "self_register": {"request": {"phone": "+8613900001111", "code": "482913", "name": "Zhang San",
                                  "channel": "app", "gender": "male", "birthday": "1990-05-17"}},
    "create_bonus_rule": {"request": _BONUS, "response": _BONUS_RULE},
    "set_program": {"request": {"program": _PROGRAM, "effective_from": "2027-01-01T00:00:00+08:00"},
                    "response": _VERSION},
    "get_program": {"response": _VERSION},
    "program_versions": {"response": {"items": [_VERSION], "next_cursor": None}},
    "list_bonus_rules": {"response": {"items": [_BONUS_RULE], "next_cursor": None}},
    "end_bonus_rule": {"response": {**_BONUS_RULE, "active": False}},
    # 9折 capped at 50: the share paid (price_percent 90) or, the same coupon, discount_percent "10"
    "create_template": {"request": {"name": "9折 up to 50 off", "kind": "percent", "price_percent": "90",
                                    "max_discount": "50.00", "valid_days": 30, "budget_count": 10000}},
    "preview_template": {
        "request": {"template": {"name": "9折 up to 50 off", "kind": "percent", "price_percent": "90",
                                 "max_discount": "50.00", "valid_days": 30},
                    "basket": {"store": "SH-001", "amount": "128.50",
                               "items": [{"sku": "SKU-10023", "category": "dairy", "qty": "2", "amount": "38.50"},
                                         {"sku": "SKU-20410", "category": "household", "amount": "90.00"}]}},
        "response": {"store": "SH-001", "amount": "128.50", "applies": True, "discount": "12.85",
                     "amount_due": "115.65", "gift_sku": None, "refusal": None}},
}
EXAMPLES.update(CATALOG_EXAMPLES)
EXAMPLES.update(SYNC_EXAMPLES)
EXAMPLES.update(FEED_EXAMPLES)
