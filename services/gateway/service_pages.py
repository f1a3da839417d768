"""Lists a service pages by position (contracts.paging): the gateway's opaque cursor
carries that position, checked here so a bad cursor is a 422 naming `cursor`, never the
service's own parameter name."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.paging import valid
from services.gateway.errors import ApiError
from services.gateway.pagination import PageParams, make_cursor


def position(paging: PageParams, shape: Sequence[str]) -> Any:
    """The service position the request's cursor carries (None for the first page)."""
    raw = paging.position()
    if raw is not None and not valid(raw, shape):
        raise ApiError(422, "invalid_input", "not a cursor this API gave out", field="cursor")
    return raw


def answer(result: dict[str, Any]) -> dict[str, Any]:
    """The service's {"items", "next"} as the API's {"items", "next_cursor"}."""
    following = result.get("next")
    return {"items": result["items"], "next_cursor": None if following is None else make_cursor(following)}
