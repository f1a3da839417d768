"""Use cases that read master data: one record, or a page in key order with filters."""
from __future__ import annotations

from typing import Any

from contracts.errors import InvalidInput, NotFound
from service_runtime.db import Tx
from services.catalog.kinds import Spec
from services.catalog.repo import records

MAX_PAGE = 201  # the gateway asks one more than its page to know whether another follows


def get(tx: Tx, spec: Spec, key: str) -> dict[str, Any]:
    row = records.get(tx, spec.kind, key)
    if row is None:
        raise NotFound(f"no {spec.kind.name} {key!r}", spec.kind.key)
    return spec.shape(tx, [row])[0]


def page(tx: Tx, spec: Spec, after: str | None, limit: int, filters: dict[str, Any]) -> list[dict[str, Any]]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be 1 to {MAX_PAGE}", "limit")
    unknown = set(filters) - set(spec.kind.filters)
    if unknown:
        raise InvalidInput(f"cannot filter {spec.kind.name}s on it", sorted(unknown)[0])
    return spec.shape(tx, records.page(tx, spec.kind, after, limit, filters))
