"""Kingdee's ``FilterString``: a SQL WHERE over the form's field keys, as K/3 Cloud hands it to SQL
Server: comparisons (= <> != > >= < <=), IN (...), AND, OR, parentheses, 'text' and number literals.
A text literal compared with a date field is converted as SQL Server converts to ``datetime``: at most
three fractional digits, otherwise the conversion fails (as it does on a real server)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|!=|>=|<=|=|>|<)"
                   r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?$")


class FilterError(ValueError):
    pass


def tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"incorrect syntax near {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _value(kind: str, raw: str) -> Any:
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    if kind == "num":
        return float(raw) if "." in raw else int(raw)
    raise FilterError(f"a value expected, not {raw!r}")


def _as_datetime(value: str) -> datetime:
    if not DATETIME.match(value.strip()):
        raise FilterError("Conversion failed when converting date and/or time from character string.")
    return datetime.fromisoformat(value.strip().replace("T", " "))


def compare(current: Any, op: str, wanted: Any) -> bool:
    if current is None:
        return False
    if isinstance(current, str) and isinstance(wanted, str) and DATETIME.match(current.replace("T", " ")[:23]):
        current, wanted = datetime.fromisoformat(current.replace("T", " ")), _as_datetime(wanted)
    ops = {"=": current == wanted, "<>": current != wanted, "!=": current != wanted}
    if op in ops:
        return ops[op]
    return {">": current > wanted, ">=": current >= wanted, "<": current < wanted, "<=": current <= wanted}[op]


class Parser:
    """Recursive descent: or := and (OR and)*; and := atom (AND atom)*; atom := ( or ) | field op value."""

    def __init__(self, text: str, known: set[str]) -> None:
        self.items, self.at, self.known = tokens(text), 0, {k.lower(): k for k in known}

    def parse(self) -> Any:
        if not self.items:
            return lambda row: True
        tree = self._or()
        if self.at != len(self.items):
            raise FilterError(f"incorrect syntax near {self.items[self.at][1]!r}")
        return tree

    def _peek(self) -> tuple[str, str]:
        return self.items[self.at] if self.at < len(self.items) else ("end", "")

    def _take(self) -> tuple[str, str]:
        item = self._peek()
        self.at += 1
        return item

    def _or(self) -> Any:
        parts = [self._and()]
        while self._peek()[1].upper() == "OR":
            self._take()
            parts.append(self._and())
        return lambda row: any(p(row) for p in parts)

    def _and(self) -> Any:
        parts = [self._atom()]
        while self._peek()[1].upper() == "AND":
            self._take()
            parts.append(self._atom())
        return lambda row: all(p(row) for p in parts)

    def _atom(self) -> Any:
        kind, raw = self._take()
        if raw == "(":
            inner = self._or()
            if self._take()[1] != ")":
                raise FilterError("a ) is missing")
            return inner
        if kind != "word" or raw.lower() not in self.known:
            raise FilterError(f"invalid column name {raw!r}")
        field = self.known[raw.lower()]
        kind, op = self._take()
        if kind == "word" and op.upper() == "IN":
            if self._take()[1] != "(":
                raise FilterError("IN needs a list")
            wanted = []
            while True:
                wanted.append(_value(*self._take()))
                sep = self._take()[1]
                if sep == ")":
                    break
                if sep != ",":
                    raise FilterError("a , or ) expected in the IN list")
            return lambda row: row.get(field) in wanted
        if kind != "op":
            raise FilterError(f"an operator expected after {field}")
        wanted_one = _value(*self._take())
        return lambda row: compare(row.get(field), op, wanted_one)
