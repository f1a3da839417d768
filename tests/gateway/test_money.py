"""Money travels as decimal strings: a JSON number is refused with a 422 naming the field."""
from __future__ import annotations

import uuid

import pytest

MEMBER = str(uuid.uuid4())
SALE = {"store": "SH-001", "member_id": MEMBER, "transaction_id": "t-1"}


@pytest.mark.parametrize("caller, path, body, field", [
    ("pos", "/v1/points/sales", {**SALE, "amount": 12.5}, "amount"),
    ("pos", "/v1/points/sales", {**SALE, "amount": 100}, "amount"),
    ("pos", "/v1/points/refunds", {"store": "SH-001", "transaction_id": "t-1",
                                   "refund_id": "r-1", "amount": 0.1}, "amount"),
    ("pos", "/v1/coupons/validate", {"store": "SH-001", "member_id": MEMBER, "codes": ["C1"],
                                     "amount": 99.99}, "amount"),
])
def test_money_as_a_json_number_is_refused_naming_the_field(client, callers, caller, path, body, field):
    response = client.post(path, headers=callers[caller], json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and "decimal string" in error["message"]


def test_money_as_a_decimal_string_passes_validation(client, callers):
    # gets past validation to the (absent) points service: 503, not 422
    response = client.post("/v1/points/sales", headers=callers["pos"],
                           json={"store": "SH-001", "member_id": MEMBER, "transaction_id": "t-2", "amount": "12.50",
                                 "sold_at": "2026-12-01T10:00:00Z"})
    assert response.status_code == 503, response.text
