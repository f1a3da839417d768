"""Money as every contract takes it: a decimal string ("128.50"), never a JSON number.

A JSON number is refused rather than converted, because the client's float may already have
lost the cents (``0.1 + 0.2`` is 0.30000000000000004), and ``12.5`` accepted today would make
clients depend on what the docs and the decision record (0004) rule out.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError("money_type", 'send money as a decimal string such as "12.50", not a JSON number')
    return value


Money = Annotated[
    Decimal,
    # the constraints before the validator: after it pydantic checks digits in Python, ~3x slower
    Field(ge=0, max_digits=14, decimal_places=2),
    BeforeValidator(_not_a_number),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "examples": ["128.50"],
                    "description": "Money: a decimal string with at most 2 decimals, never a JSON number"},
                   mode="validation"),
]
