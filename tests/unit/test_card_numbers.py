"""A card number with a wrong check digit is a bad field (422 at the gateway, InvalidInput in
points), not an unknown member: the contracts check it as members issues it."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.points import HoldRequest, Sale, luhn_digit
from services.members.domain import is_valid_member_number, member_number

SALE = {"store": "S1", "transaction_id": "t1", "amount": "1.00", "sold_at": "2026-11-23T10:00:00+08:00"}


@given(st.integers(min_value=1, max_value=10**10 - 1))
def test_every_number_members_issues_is_accepted_and_every_other_last_digit_refused(sequence):
    number = member_number(sequence)
    assert Sale.model_validate({**SALE, "member_number": number}).member_number == number
    for digit in "0123456789":
        other = number[:-1] + digit
        if digit == number[-1]:
            continue
        assert not is_valid_member_number(other)
        with pytest.raises(ValidationError) as caught:
            HoldRequest.model_validate({"store": "S1", "transaction_id": "t", "points": 1, "member_number": other})
        assert caught.value.errors()[0]["loc"] == ("member_number",)


@pytest.mark.parametrize("number", ["800000000017", "80000001", "８０００００００００１１", "80000000001a"])
def test_the_readmes_old_example_and_other_non_numbers_are_refused(number):
    with pytest.raises(ValidationError) as caught:
        Sale.model_validate({**SALE, "member_number": number})
    assert caught.value.errors()[0]["loc"] == ("member_number",)
    assert luhn_digit("80000000001") == "1"
