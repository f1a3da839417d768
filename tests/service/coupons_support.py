"""Helpers for coupon service tests: callers, templates, calls through Nameko's entrypoint hook."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.envelope import Envelope, EventPayload
from tests.callers import entrypoint_hook

MARKETER = json.dumps({"kind": "staff", "id": "marketer-1", "roles": ["marketer"], "stores": None})
CLERK_S1 = json.dumps({"kind": "staff", "id": "clerk-1", "roles": ["clerk"], "stores": ["S1"]})
POS_S1 = json.dumps({"kind": "key", "id": "pos-1", "roles": [], "stores": ["S1"]})


def member_caller(member_id: str) -> str:
    return json.dumps({"kind": "member", "id": member_id, "member_id": member_id})


def call(container: Any, method: str, *args: Any, caller: str | None = None, **kwargs: Any) -> Any:
    context = {"caller": caller} if caller else {}
    with entrypoint_hook(container, method, context_data=context) as hook:
        return hook(*args, **kwargs)


def template(**terms: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "20 off 100", "kind": "threshold", "amount": "20.00", "min_spend": "100.00",
                            "valid_days": 30}
    return {**base, **terms}


def fixed_dates(days_from_now: int, days_long: int) -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(days=days_from_now)
    return {"valid_from": start.isoformat(), "valid_until": (start + timedelta(days=days_long)).isoformat()}


def new_member() -> str:
    """A member as campaigns knows one (its read model, as member.registered writes it): coupons go
    only to members."""
    from tests.service.segments_support import add_member

    return add_member("S1", member_id=str(uuid.uuid4()))


def new_members(count: int) -> list[str]:
    """``count`` members of the read model, written in one statement."""
    from tests.service.segments_support import execute

    ids = [str(uuid.uuid4()) for _ in range(count)]
    execute("INSERT INTO rm_members (member_id, store) SELECT unnest(CAST(:ids AS uuid[])), 'S1'", {"ids": ids})
    return ids


def deliver(container: Any, handler: str, payload: EventPayload, envelope: Envelope | None = None) -> Envelope:
    """Hand an event to a @subscribe handler as the broker would (the same envelope again = a redelivery)."""
    envelope = envelope or payload.envelope()
    with entrypoint_hook(container, handler) as hook:
        hook(envelope.model_dump(mode="json"))
    return envelope
