"""Cursor pagination for every list: ``?limit=&cursor=``, answered with ``next_cursor``."""
from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from services.gateway.errors import ApiError

T = TypeVar("T")
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams:
    def __init__(self, limit: int, cursor: str | None) -> None:
        self.limit = limit
        self.cursor = cursor

    def position(self, kind: type | None = None) -> Any:
        """The position a cursor encodes (opaque to clients); with ``kind``, it must be of that type."""
        if self.cursor is None:
            return None
        try:
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            position = json.loads(base64.urlsafe_b64decode(padded.encode()))["p"]
        except (ValueError, KeyError, TypeError):
            position = None
        valid = position is not None and (kind is None or (isinstance(position, kind)
                                                           and not isinstance(position, bool)))
        if kind is int and valid and not 0 <= position < 2**62:
            valid = False
        if not valid:
            raise ApiError(422, "invalid_input", "not a cursor this API gave out", field="cursor")
        return position


async def page_params(limit: int = Query(50, ge=1, le=MAX_LIMIT),
                      cursor: str | None = Query(None, max_length=500,
                                                 description="next_cursor of the previous page")) -> PageParams:
    """The paging query parameters (a coroutine: FastAPI runs a plain class or function dependency
    in a worker thread, a thread hop per request)."""
    return PageParams(limit, cursor)


def make_cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position}).encode()).decode().rstrip("=")


def page(items: list[Any], limit: int, position_of: Any) -> tuple[list[Any], str | None]:
    """Fetch limit+1 rows; this cuts them to limit and gives the cursor of the next page."""
    if len(items) > limit:
        items = items[:limit]
        return items, make_cursor(position_of(items[-1]))
    return items, None


def page_of_all(items: list[Any], paging: PageParams) -> tuple[list[Any], str | None]:
    """Pages of a list a service answers whole (a member's consents or history, the templates):
    the cursor is the offset of the next item, enough for lists this short and this stable."""
    start = paging.position(int) or 0
    return page(items[start:start + paging.limit + 1], paging.limit, lambda _: start + paging.limit)


def page_by_time(rows: list[Any], limit: int, asked: int, time_of: Any) -> tuple[list[Any], str | None]:
    """A page of newest-first rows fetched with ``before`` (strictly older) and ``asked`` rows
    (limit + 1, or limit when the service caps it there): the cursor is the last row's time."""
    if len(rows) > limit or (asked == limit and len(rows) == limit):
        rows = rows[:limit]
        return rows, make_cursor(time_of(rows[-1]))
    return rows, None
