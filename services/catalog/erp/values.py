"""Turning an ERP's values into ours: exact money from JSON/XML-RPC numbers, codes from names, and a
source version from a modification stamp. Pure functions."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
_NOT_CODE = re.compile(r"[^A-Za-z0-9_.\-]+")
_DASHES = re.compile(r"-{2,}")


class BadValue(ValueError):
    """A source value we cannot take; ``field`` names it in the run's errors."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def decimal(value: Any, field: str) -> Decimal:
    """An ERP amount as an exact decimal. ERPs send floats in JSON and doubles in XML-RPC: their shortest
    repr (``str``) is the decimal the ERP stored, so we go through it, never through binary arithmetic."""
    if isinstance(value, bool) or value is None or value is False:
        raise BadValue(field, "missing")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadValue(field, f"not a number: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise BadValue(field, "not a finite number")
    return number


def cents(value: Any, field: str) -> int:
    return int(decimal(value, field).quantize(CENT, rounding=ROUND_HALF_UP) * 100)


def price(value: Any, field: str) -> str:
    """A unit price as the decimal string the catalog takes."""
    number = decimal(value, field).quantize(CENT, rounding=ROUND_HALF_UP)
    if number < 0:
        raise BadValue(field, "negative")
    return str(number)


def code(value: Any, field: str) -> str:
    """A catalog code from an ERP's name or code: characters a code may not hold become ``-``."""
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value).strip() == "":
        raise BadValue(field, "missing")
    text = _DASHES.sub("-", _NOT_CODE.sub("-", str(value).strip())).strip("-._")
    if not text:
        raise BadValue(field, f"no usable characters in {str(value)[:40]!r}")
    return text[:64]


def text(value: Any) -> str | None:
    """An optional text field (Odoo sends ``false`` for an empty one)."""
    if value is None or value is False:
        return None
    out = str(value).strip()
    return out or None


def many2one_id(value: Any) -> int | None:
    """Odoo's many2one in search_read: ``[id, display_name]``, or ``false``."""
    if isinstance(value, list | tuple) and value and isinstance(value[0], int):
        return int(value[0])
    return None


def parse_stamp(stamp: Any, field: str) -> datetime:
    """An ERP's modification time (``YYYY-MM-DD HH:MM:SS[.ffffff]``), naive, in the ERP's clock."""
    if not isinstance(stamp, str):
        raise BadValue(field, "missing")
    try:
        return datetime.fromisoformat(stamp.strip().replace("T", " "))
    except ValueError:
        raise BadValue(field, f"not a date and time: {stamp[:40]!r}") from None


def stamp_version(stamp: Any, field: str) -> int:
    """The record's version for idempotent upserts: its modification time in microseconds (later is
    larger, so an older copy of a record never overwrites a newer one)."""
    moment = parse_stamp(stamp, field).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def rewind(stamp: str, seconds: int) -> str:
    """``stamp`` moved back, in the same text form (an ERP compares its own format)."""
    moved = parse_stamp(stamp, "stamp") - timedelta(seconds=seconds)
    return moved.strftime("%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S")
