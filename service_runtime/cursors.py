"""Positions in newest-first lists a service pages by (created_at, id): opaque to callers."""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from contracts.errors import InvalidInput


def cursor(row: dict[str, Any]) -> str:
    """The position after ``row`` (its created_at and id)."""
    return base64.urlsafe_b64encode(f"{row['created_at'].isoformat()}|{row['id']}".encode()).decode()


def position(raw: str | None) -> tuple[datetime, str] | None:
    """The (created_at, id) a cursor names; InvalidInput naming ``after`` when it is not one of ours."""
    if raw is None:
        return None
    try:
        at, _, row_id = base64.urlsafe_b64decode(raw.encode()).decode().partition("|")
        return datetime.fromisoformat(at), row_id
    except ValueError:
        raise InvalidInput("not a position this service gave out", "after") from None
