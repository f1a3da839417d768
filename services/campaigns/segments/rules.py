"""The segment rule language, validated strictly (pure: no I/O, no clock).

A rule is a group ``{"all": [...]}`` or ``{"any": [...]}`` (optionally ``{"not": rule}``) whose
items are groups or conditions ``{"field": ..., "op": ..., "value": ...}``; the window fields
(purchase_count, spend) also take ``"window_days"``. ``parse_rule`` returns the same structure
with values normalised (Decimal spend, dates, ints) or raises InvalidInput naming the offending
path, e.g. ``rule.all.1.op``. segments/repo compiles the result into one SQL query.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.errors import InvalidInput

MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_LIST = 1000
MAX_WINDOW_DAYS = 3660

EQUALITY = ("eq", "ne", "in", "not_in")
ORDERED = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in")
TAG_OPS = ("has", "has_any", "has_all", "has_none")
PRESENCE = ("is_null", "not_null")

# field -> (value kind, allowed operators)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tier": ("text", EQUALITY),
    "store": ("text", EQUALITY + PRESENCE),
    "tags": ("text", TAG_OPS),
    "age": ("int", ORDERED + PRESENCE),
    "gender": ("text", EQUALITY + PRESENCE),
    "birthday_month": ("month", ORDERED + PRESENCE),
    "channel": ("text", EQUALITY),
    "registered_at": ("date", ("gt", "gte", "lt", "lte", "between")),
    "days_since_last_purchase": ("int", ORDERED + PRESENCE),
    "purchase_count": ("int", ORDERED),
    "spend": ("money", ORDERED),
    "points_balance": ("int", ORDERED),
    "rfm_r": ("score", ORDERED + PRESENCE),
    "rfm_f": ("score", ORDERED + PRESENCE),
    "rfm_m": ("score", ORDERED + PRESENCE),
    "rfm_group": ("text", EQUALITY + PRESENCE),
    "abcd": ("abcd", EQUALITY + PRESENCE),
    "lifecycle": ("lifecycle", EQUALITY),
    "lifecycle_class": ("lifecycle_class", EQUALITY),
}
WINDOW_FIELDS = ("purchase_count", "spend")
LIFECYCLE_STAGES = ("new", "active", "recently_lapsed", "lapsed", "dormant")  # the RFM job's (segments/rfm.py)
LIFECYCLE_CLASSES = ("new", "active", "at_risk", "dormant", "lost")  # the member record's (docs/lifecycle.md)
ABCD_CLASSES = ("A", "B", "C", "D")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any  # a scalar, a list (in/not_in/has_*), a (low, high) pair (between), or None (is_null)
    window_days: int | None = None


@dataclass(frozen=True)
class Group:
    kind: str  # all | any | not
    items: tuple["Group | Condition", ...]


def parse_rule(raw: Any, path: str = "rule") -> Group:
    """The validated rule; InvalidInput naming the first bad part."""
    counter = [0]
    node = _node(raw, path, 1, counter)
    return node if isinstance(node, Group) else Group("all", (node,))


def required_fields(rule: Group) -> set[str]:
    """Fields every member of the segment is tested on (conditions of the top-level "all" chain,
    nested "all" groups included; alternatives under "any" or "not" do not count)."""
    if rule.kind != "all":
        return set()
    out: set[str] = set()
    for item in rule.items:
        out |= {item.field} if isinstance(item, Condition) else required_fields(item)
    return out


def _node(raw: Any, path: str, depth: int, counter: list[int]) -> Group | Condition:
    if not isinstance(raw, dict):
        raise InvalidInput("must be an object: a group {all|any|not} or a condition {field, op, value}", path)
    if depth > MAX_DEPTH:
        raise InvalidInput(f"groups nest at most {MAX_DEPTH} deep", path)
    groups = [k for k in ("all", "any", "not") if k in raw]
    if groups:
        if len(raw) != 1:
            extra = sorted(set(raw) - {groups[0]})[0] if len(groups) == 1 else groups[1]
            raise InvalidInput(f"unknown key {extra!r} in a group (one of all, any, not)", f"{path}.{extra}")
        kind = groups[0]
        if kind == "not":
            return Group("not", (_node(raw["not"], f"{path}.not", depth + 1, counter),))
        items = raw[kind]
        if not isinstance(items, list) or not items:
            raise InvalidInput("must be a non-empty list of conditions or groups", f"{path}.{kind}")
        return Group(kind, tuple(_node(item, f"{path}.{kind}.{i}", depth + 1, counter) for i, item in enumerate(items)))
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise InvalidInput(f"at most {MAX_CONDITIONS} conditions", path)
    return _condition(raw, path)


def _condition(raw: dict[str, Any], path: str) -> Condition:
    for key in raw:
        if key not in ("field", "op", "value", "window_days"):
            raise InvalidInput(f"unknown key {key!r} in a condition (field, op, value, window_days)", f"{path}.{key}")
    field = raw.get("field")
    if not isinstance(field, str) or field not in FIELDS:
        raise InvalidInput(f"unknown segment field {field!r}; known: {', '.join(FIELDS)}", f"{path}.field")
    kind, ops = FIELDS[field]
    op = raw.get("op")
    if not isinstance(op, str) or op not in ops:
        raise InvalidInput(f"unknown operator {op!r} for {field}; allowed: {', '.join(ops)}", f"{path}.op")
    window: int | None = None
    if field in WINDOW_FIELDS:
        window = _int(raw.get("window_days"), f"{path}.window_days", 1, MAX_WINDOW_DAYS)
    elif "window_days" in raw:
        raise InvalidInput(f"window_days applies only to {', '.join(WINDOW_FIELDS)}", f"{path}.window_days")
    vpath = f"{path}.value"
    value = raw.get("value")
    if op in PRESENCE:
        if value is not None:
            raise InvalidInput(f"{op} takes no value", vpath)
        return Condition(field, op, None, window)
    if op in ("in", "not_in", "has_any", "has_all", "has_none"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise InvalidInput(f"must be a list of 1 to {MAX_LIST} values", vpath)
        return Condition(field, op, tuple(_value(kind, v, f"{vpath}.{i}") for i, v in enumerate(value)), window)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidInput("must be a list [low, high]", vpath)
        low, high = _value(kind, value[0], f"{vpath}.0"), _value(kind, value[1], f"{vpath}.1")
        if low > high:
            raise InvalidInput("low must not exceed high", vpath)
        return Condition(field, op, (low, high), window)
    return Condition(field, op, _value(kind, value, vpath), window)


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("must be an integer", path)
    if not low <= value <= high:
        raise InvalidInput(f"must be between {low} and {high}", path)
    return value


def _value(kind: str, value: Any, path: str) -> Any:
    if kind == "text":
        if not isinstance(value, str) or not value or len(value) > 100:
            raise InvalidInput("must be a text of 1 to 100 characters", path)
        return value
    if kind == "int":
        return _int(value, path, 0, 10**12)
    if kind == "month":
        return _int(value, path, 1, 12)
    if kind == "score":
        return _int(value, path, 1, 5)
    if kind == "money":
        if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
            raise InvalidInput("must be an amount as a string or integer (never a float)", path)
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise InvalidInput("not an amount", path) from None
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
            raise InvalidInput("must be a non-negative amount with at most 2 decimals", path)
        return amount
    if kind == "date":
        if not isinstance(value, str):
            raise InvalidInput("must be a date YYYY-MM-DD", path)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise InvalidInput("must be a date YYYY-MM-DD", path) from None
    if kind == "lifecycle":
        if value not in LIFECYCLE_STAGES:
            raise InvalidInput(f"one of {', '.join(LIFECYCLE_STAGES)}", path)
        return value
    if kind == "lifecycle_class":
        if value not in LIFECYCLE_CLASSES:
            raise InvalidInput(f"one of {', '.join(LIFECYCLE_CLASSES)}", path)
        return value
    if kind == "abcd":
        if value not in ABCD_CLASSES:
            raise InvalidInput(f"one of {', '.join(ABCD_CLASSES)}", path)
        return value
    raise AssertionError(kind)


def to_json(node: Group | Condition) -> dict[str, Any]:
    """The normalised rule as JSON (what a segment stores)."""
    if isinstance(node, Group):
        if node.kind == "not":
            return {"not": to_json(node.items[0])}
        return {node.kind: [to_json(i) for i in node.items]}
    value = node.value
    if isinstance(value, tuple):
        value = [_plain(v) for v in value]
    else:
        value = _plain(value)
    out: dict[str, Any] = {"field": node.field, "op": node.op, "value": value}
    if node.window_days is not None:
        out["window_days"] = node.window_days
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
