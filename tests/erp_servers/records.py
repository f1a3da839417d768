"""An in-memory table per model with the query semantics both ERPs document: Odoo domains (prefix
``|`` ``&`` ``!`` and ``[field, op, value]`` leaves), Frappe filters (AND) and or_filters (OR), ``order``
/ ``order_by`` on several fields, limit and offset, and field projection."""
from __future__ import annotations

import operator
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

OPS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt,
       "<=": operator.le, "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
       "like": lambda a, b: str(b).strip("%") in str(a)}


def _leaf(row: dict[str, Any], leaf: list[Any]) -> bool:
    field, op, value = leaf
    current = row.get(field)
    if isinstance(current, list) and current and op in ("=", "in"):  # many2one [id, name] compares by id
        current = current[0]
    if current is None and op not in ("=", "!="):
        return False
    return bool(OPS[op](current, value))


def odoo_match(row: dict[str, Any], domain: list[Any]) -> bool:
    """Odoo's prefix (Polish) notation; leaves not joined by an operator are AND-ed."""
    stack: list[bool] = []
    for item in reversed(domain):
        if item == "|":
            stack.append(stack.pop() | stack.pop())
        elif item == "&":
            stack.append(stack.pop() & stack.pop())
        elif item == "!":
            stack.append(not stack.pop())
        else:
            stack.append(_leaf(row, list(item)))
    return all(stack)


def frappe_match(row: dict[str, Any], filters: list[Any], or_filters: list[Any]) -> bool:
    return all(_leaf(row, f) for f in filters) and (not or_filters or any(_leaf(row, f) for f in or_filters))


def ordered(rows: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    for part in reversed([p.strip() for p in order.split(",") if p.strip()]):
        name, _, direction = part.partition(" ")
        rows = sorted(rows, key=lambda r: (r.get(name) is None, r.get(name)), reverse=direction.lower() == "desc")
    return rows


class Table:
    """Rows of one model; ``stamp_field`` is set on each write from the server's clock (second precision,
    as Odoo's ``write_date``; Frappe's ``modified`` keeps microseconds)."""

    def __init__(self, key: str, stamp_field: str, micro: bool) -> None:
        self.key, self.stamp_field, self.micro = key, stamp_field, micro
        self.rows: dict[Any, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def stamp(self, at: datetime | None = None) -> str:
        at = at or datetime.now(UTC)
        return at.strftime("%Y-%m-%d %H:%M:%S.%f" if self.micro else "%Y-%m-%d %H:%M:%S")

    def put(self, row: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
        with self.lock:
            stored = {**self.rows.get(row[self.key], {}), **row, self.stamp_field: self.stamp(at)}
            self.rows[row[self.key]] = stored
            return stored

    def query(self, match: Any, order: str, offset: int, limit: int | None) -> list[dict[str, Any]]:
        with self.lock:
            rows = [dict(r) for r in self.rows.values() if match(r)]
        rows = ordered(rows, order)[offset:]
        return rows[:limit] if limit else rows


def past(seconds: int) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)
