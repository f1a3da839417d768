"""Money as contracts take it: what is accepted and how each refusal is named. The constraints
sit before the JSON-number check so pydantic checks them natively (docs/decisions/0031); this
pins that the order changed nothing a caller sees."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from contracts.money import Money

MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)


@pytest.mark.parametrize(("given", "value"), [
    ("12.34", Decimal("12.34")), ("12.340", Decimal("12.340")), ("0", Decimal(0)), ("-0.00", Decimal("-0.00")),
    ("999999999999.99", Decimal("999999999999.99")), (" 12.5 ", Decimal("12.5")), (Decimal("1.50"), Decimal("1.50")),
])
def test_a_decimal_string_within_the_limits_is_taken_as_it_is(given: Any, value: Decimal) -> None:
    assert MONEY.validate_python(given) == value


@pytest.mark.parametrize(("given", "error", "message"), [
    (12.5, "money_type", 'send money as a decimal string such as "12.50", not a JSON number'),
    (12, "money_type", 'send money as a decimal string such as "12.50", not a JSON number'),
    ("12.345", "decimal_max_places", "Decimal input should have no more than 2 decimal places"),
    (Decimal("1.005"), "decimal_max_places", "Decimal input should have no more than 2 decimal places"),
    ("123456789012345.00", "decimal_max_digits", "Decimal input should have no more than 14 digits in total"),
    ("1000000000000.00", "decimal_whole_digits",
     "Decimal input should have no more than 12 digits before the decimal point"),
    ("-1", "greater_than_equal", "Input should be greater than or equal to 0"),
    ("NaN", "finite_number", "Input should be a finite number"),
    ("abc", "decimal_parsing", "Input should be a valid decimal"),
    (True, "decimal_type", "Decimal input should be an integer, float, string or Decimal object"),
])
def test_a_refusal_says_what_is_wrong_with_the_amount(given: Any, error: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MONEY.validate_python(given)
    first = caught.value.errors()[0]
    assert (first["type"], first["msg"]) == (error, message)
