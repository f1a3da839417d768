"""Keyset paging of the campaigns service's lists: each list RPC takes ``limit`` and ``after`` (the
position of the last item of the previous page, as the RPC gave it in ``next``) and answers
{"items": [...], "next": position or None}. The gateway turns positions into opaque cursors;
both read the positions from here."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from contracts.errors import InvalidInput

MAX_LIMIT = 500
# each list's position: the values of its sort key, last item of a page
CAMPAIGN_POSITION = ("time", "uuid")  # campaigns, newest first: created_at, id
SEGMENT_POSITION = ("time", "uuid")  # segments, oldest first: created_at, id
HISTORY_POSITION = ("int",)  # a campaign's history, oldest first: entry number
COUPON_POSITION = ("time", "uuid")  # a member's coupons, newest first: issued_at, coupon id
TEMPLATE_POSITION = ("time", "uuid")  # templates, newest first: created_at, id
ITEM_POSITION = ("int", "text", "uuid")  # catalog items, cheapest first: points, name, id
MEMBER_ID_POSITION = ("uuid",)  # a segment's member ids, in id order


def check_limit(limit: Any, most: int = MAX_LIMIT) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise InvalidInput(f"must be 1 to {most}", "limit")
    return limit


def _uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("no zone")
    return parsed


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


PARTS: dict[str, Callable[[Any], Any]] = {"uuid": _uuid, "time": _time, "int": _int, "text": _text}


def position(after: Any, shape: Sequence[str]) -> tuple[Any, ...] | None:
    """``after`` read as a position of this shape (e.g. ("time", "uuid")); None for the first page."""
    if after is None:
        return None
    parts = after if isinstance(after, list | tuple) else [after]
    try:
        if len(parts) != len(shape):
            raise ValueError("wrong length")
        return tuple(PARTS[kind](part) for kind, part in zip(shape, parts, strict=True))
    except (ValueError, TypeError):
        raise InvalidInput("not a position this list gave out", "after") from None


def valid(after: Any, shape: Sequence[str]) -> bool:
    """Whether ``after`` is a position of this shape (the gateway checks cursors with it)."""
    try:
        position(after, shape)
    except InvalidInput:
        return False
    return True


def cut(rows: list[Any], limit: int, position_of: Callable[[Any], list[Any]]) -> tuple[list[Any], list[Any] | None]:
    """Rows fetched as limit + 1: the page, and the position after it (None at the end)."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, position_of(rows[-1])
    return rows, None
