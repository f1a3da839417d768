"""The notify routes in the access matrix (tests/gateway/test_access_matrix.py): (test id, (method,
path, json body, who may call it)). A route that reaches its service answers 503 in that test."""
from __future__ import annotations

Route = tuple[str, str, object, set[str]]


def routes(member_id: str) -> list[tuple[str, Route]]:
    return []
