"""What a dropped file is (by its name) and what each of its rows becomes for the use case that
takes it: the catalog's bulk upsert, the members import, points' sale upload or history import,
or a points migration import. Pure: a row that cannot be mapped is a RowProblem naming its field."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from contracts.imports import IMPORT_COLUMNS
from services.catalog.files.formats import RowProblem

KINDS = ("stores", "categories", "products", "members", "sales", "balances", "tiers")
MODES = ("history", "accrual")
CATALOG_KINDS = {"stores": "store", "categories": "category", "products": "product"}
BATCH_ROWS = {"stores": 500, "categories": 500, "products": 500, "members": 500, "sales": 1000,
              "balances": 1000, "tiers": 1000}
_NAME = re.compile(rf"^({'|'.join(KINDS)})(?:\.({'|'.join(MODES)}))?(?:[-_ .].*)?$")
_TRUE, _FALSE = {"true", "1", "yes", "y"}, {"false", "0", "no", "n", ""}
_SALE_FIELDS = ("store", "terminal", "transaction_id", "member_id", "member_number", "amount", "currency",
                "sold_at", "items", "discounts")


def kind_of(name: str) -> tuple[str, str | None] | None:
    """(kind, mode) by the file's name: ``sales.accrual-2024-05.csv`` is sales earning points,
    ``sales-2024-05.csv`` history only (the safe default); None for a file that is not ours."""
    match = _NAME.match(Path(name).stem.lower())
    if not match:
        return None
    kind, mode = match.group(1), match.group(2)
    if kind == "sales":
        return kind, mode or "history"
    return (kind, None) if mode is None else None


def _boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(field)


def _text(value: Any) -> Any:
    """Numbers from JSON (Decimal) as the strings the contracts want; text as it is."""
    return value if isinstance(value, str | bool | list | dict) or value is None else str(value)


def catalog_item(kind: str, fields: dict[str, Any]) -> dict[str, Any] | RowProblem:
    """A store, category or product for the bulk upsert; ``version`` (the source's) when given."""
    item: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name == "version":
            text = str(value).strip()
            if not text.isdigit():
                return RowProblem("version", "a positive whole number (the source's version of the record)")
            item["version"] = int(text)
        elif name in ("excluded_from_earning", "coupon_eligible"):
            try:
                item[name] = _boolean(value, name)
            except ValueError:
                return RowProblem(name, "true or false")
        else:
            item[name] = _text(value)
    return item


def member_row(fields: dict[str, Any]) -> dict[str, Any] | RowProblem:
    """A members import row (its own columns; tags as a list or separated by ';' or '|')."""
    unknown = sorted(set(fields) - set(IMPORT_COLUMNS))
    if unknown:
        return RowProblem(unknown[0], f"not a member column; allowed: {', '.join(IMPORT_COLUMNS)}")
    return {k: (v if isinstance(v, list) else _text(v)) for k, v in fields.items()}


def _json_list(value: Any, field: str) -> list[Any] | RowProblem:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(str(value))
    except ValueError:
        return RowProblem(field, "a JSON list")
    return parsed if isinstance(parsed, list) else RowProblem(field, "a JSON list")


def sale_item(fields: dict[str, Any], zone_of: Callable[[str], str | None]) -> dict[str, Any] | RowProblem:
    """A sale as the offline upload takes it. A time without a zone (Excel has none) is read in
    the store's zone when the catalog knows the store, refused otherwise."""
    unknown = sorted(set(fields) - set(_SALE_FIELDS))
    if unknown:
        return RowProblem(unknown[0], f"not a sale column; allowed: {', '.join(_SALE_FIELDS)}")
    item: dict[str, Any] = {"kind": "sale"}
    for name in ("store", "terminal", "transaction_id", "member_id", "member_number", "amount", "currency"):
        if fields.get(name) is not None:
            item[name] = _text(fields[name])
    for name in ("items", "discounts"):
        parsed = _json_list(fields.get(name), name)
        if isinstance(parsed, RowProblem):
            return parsed
        if parsed:
            item[name] = json.loads(json.dumps(parsed, default=str))  # Decimals from JSON Lines as strings
    sold = fields.get("sold_at")
    if sold is None:
        return RowProblem("sold_at", "the time of the sale is required")
    try:
        at = datetime.fromisoformat(str(sold).strip().replace("Z", "+00:00"))
    except ValueError:
        return RowProblem("sold_at", "an ISO 8601 time, e.g. 2024-05-01T10:15:00+08:00")
    if at.tzinfo is None:
        zone = zone_of(str(item.get("store", "")))
        if zone is None:
            return RowProblem("sold_at", "a time with its zone (the store is unknown to the catalog)")
        at = at.replace(tzinfo=ZoneInfo(zone))
    item["sold_at"] = at.isoformat()
    return item


def migration_row(fields: dict[str, Any]) -> dict[str, Any]:
    """Balances and tiers rows go as they are: points checks them against its program."""
    return {k: _text(v) for k, v in fields.items()}
