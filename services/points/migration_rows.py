"""The rows of a migration import (a legacy program's opening balances and tiers), checked one
by one: a bad row becomes an error naming its field, the others are staged. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contracts.errors import InvalidInput

KINDS = ("balances", "tiers")
MAX_POINTS = 100_000_000  # one legacy balance; above it is a typo or a unit mix-up (cents for points)
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_CODE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


@dataclass(frozen=True)
class StagedRow:
    """A checked row: its key, line, member reference and what it will do once applied."""

    row_key: str
    line: int
    member_ref: str
    by_number: bool
    payload: dict[str, Any]


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def member_ref(fields: dict[str, Any]) -> tuple[str, bool]:
    """(reference, is a card number): a row names its member by member_id or member_number."""
    member_id, number = _text(fields, "member_id"), _text(fields, "member_number")
    if member_id:
        return member_id.lower(), False
    if number:
        return number, True
    raise InvalidInput("member_id or member_number is required", "member_number")


def row_key(fields: dict[str, Any], line: int) -> str:
    """The legacy system's key of the row (``row_key``), or its line: a row applies once per import."""
    key = _text(fields, "row_key")
    if key is None:
        return f"line-{line}"
    if not _KEY.match(key):
        raise InvalidInput("1 to 64 letters, digits, '_', '.', ':' or '-'", "row_key")
    return key


def points(fields: dict[str, Any]) -> int:
    raw = fields.get("points")
    if isinstance(raw, bool) or raw is None or str(raw).strip() == "":
        raise InvalidInput("a whole number of points is required", "points")
    text = str(raw).strip()
    if not re.fullmatch(r"\d+", text):
        raise InvalidInput("a whole number of points above 0 (no sign, no decimals)", "points")
    value = int(text)
    if not 0 < value <= MAX_POINTS:
        raise InvalidInput(f"above 0 and at most {MAX_POINTS}", "points")
    return value


def expiry(fields: dict[str, Any], zone: str, now: datetime) -> datetime | None:
    """The legacy lot's own expiry: a date (the end of that day in the store's zone) or a time
    with its zone; empty means never. A lot that has already expired is refused."""
    raw = _text(fields, "expires_at")
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            at = datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(zone)) - timedelta(microseconds=1)
        else:
            at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if at.tzinfo is None:
                raise InvalidInput("a date (YYYY-MM-DD) or a time with its zone", "expires_at")
    except ValueError:
        raise InvalidInput("a date (YYYY-MM-DD) or a time with its zone", "expires_at") from None
    at = at.astimezone(UTC)
    if at <= now:
        raise InvalidInput("already expired: there is nothing to bring over", "expires_at")
    return at


def store(fields: dict[str, Any]) -> str | None:
    code = _text(fields, "store")
    if code is not None and not _CODE.match(code):
        raise InvalidInput("a store code", "store")
    return code


def check(kind: str, line: int, fields: Any, tiers: set[str], zone_of: Any, now: datetime) -> StagedRow:
    """One row of a ``kind`` import, or InvalidInput naming its field."""
    if not isinstance(fields, dict):
        raise InvalidInput("each row is an object of named fields", None)
    key = row_key(fields, line)
    ref, by_number = member_ref(fields)
    if kind == "balances":
        code = store(fields)
        payload: dict[str, Any] = {"points": points(fields), "store": code}
        expires = expiry(fields, zone_of(code), now)
        payload["expires_at"] = expires.isoformat() if expires else None
    else:
        tier = _text(fields, "tier")
        if tier not in tiers:
            raise InvalidInput(f"one of the program's tiers: {', '.join(sorted(tiers))}", "tier")
        payload = {"tier": tier}
    return StagedRow(key, line, ref, by_number, payload)
