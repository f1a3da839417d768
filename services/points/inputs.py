"""Request values every use case reads the same way: ids, times, limits, idempotency digests."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from contracts.access import now as now  # one clock for every service
from contracts.access import parse_id
from contracts.errors import InvalidInput
from contracts.points import RefundItem, SaleItem
from service_runtime.config import StoreZones
from services.points import store_feed


def canonical_id(value: str, field: str = "member_id", what: str = "a member id") -> str:
    """A UUID (member, hold, rule) in its canonical form, or InvalidInput naming ``field``."""
    return parse_id(value, field, what)


def within(problem: tuple[str, str] | None) -> None:
    """An amount above the sanity limits (limits.py) is a bad field."""
    if problem is not None:
        raise InvalidInput(problem[1], problem[0])


def request_hash(model: BaseModel) -> str:
    """The request's digest for idempotency: an upload's item hashes as the same sale or refund
    sent alone (its "kind" left out)."""
    body = model.model_dump(mode="json", exclude={"kind"} if isinstance(model, SaleItem | RefundItem) else None)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def at(value: str | None) -> datetime:
    """An ISO-8601 time with a zone (``at`` of a job run), now when not given."""
    if not value:
        return now()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("an ISO-8601 time with a zone", "at") from None
    if parsed.tzinfo is None:
        raise InvalidInput("give a time zone", "at")
    return parsed.astimezone(UTC)


def zone(store_code: str | None) -> str:
    """The store's zone as the catalog announced it; STORE_TIMEZONES (then its default) otherwise."""
    return store_feed.zone_of(store_code) or StoreZones.from_env().zone_of(store_code)


def acting(actor: tuple[str, str | None] | None, terminal: str | None) -> dict[str, Any]:
    """The actor fields of a till event: who posted it (the caller) and at which terminal."""
    kind, actor_id = actor if actor is not None else (None, None)
    return {"actor_kind": kind, "actor_id": actor_id, "terminal": terminal}
