"""Refusals that name their field, for request bodies built on the contracts' models.

The contracts check some rules on the whole model (exactly one member reference, amounts that
add up, a time window), and pydantic then reports no field. Bodies in the gateway re-raise
those refusals with a ``field`` in the error's context, which the 422 handler reports.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from contracts.rpc import to_utc

M = TypeVar("M")


def field_error(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("value_error", message, {"field": field})


def exactly_one(model: M, *names: str) -> M:
    """Exactly one of ``names`` is given; a superfluous one is named, else the first."""
    given = [name for name in names if getattr(model, name) is not None]
    if len(given) != 1:
        raise field_error(given[1] if given else names[0], "give exactly one of " + ", ".join(names))
    return model


def rule_of(model_cls: type[BaseModel], name: str) -> Callable[[M], M]:
    """A contract's model-level rule, which returns the model it checks, as the function it is at
    run time (pydantic types it as a descriptor proxy)."""
    rule: Callable[[M], M] = getattr(model_cls, name)
    return rule


def named(check: Callable[[M], M], model: M, *fields: str) -> M:
    """Run a contract's model-level rule; a refusal names the first of ``fields`` its message mentions."""
    try:
        return check(model)
    except ValueError as exc:
        message = str(exc)
        raise field_error(next((f for f in fields if f in message), fields[0]), message) from None


def query_time(value: datetime | None, field: str) -> datetime | None:
    """A time from a query string in UTC; one with no UTC equivalent (year 1 with a positive
    offset) is a 422 naming ``field``, not a 500 from the conversion."""
    from services.gateway.errors import ApiError

    try:
        return to_utc(value)
    except ValueError:
        raise ApiError(422, "invalid_input", "out of range once converted to UTC", field=field) from None


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def utc(cls: Any, value: datetime | None) -> datetime | None:
    """The contracts' ``to_utc`` as a field validator: a time with no UTC equivalent (year 1
    with a positive offset) is a ValueError there, so a 422 here."""
    return to_utc(value)
