"""Helpers for coupon service tests: callers, templates, calls through Nameko's entrypoint hook."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from nameko.testing.services import entrypoint_hook

from contracts.envelope import Envelope, EventPayload

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
    return str(uuid.uuid4())


def deliver(container: Any, handler: str, payload: EventPayload, envelope: Envelope | None = None) -> Envelope:
    """Hand an event to a @subscribe handler as the broker would (the same envelope again = a redelivery)."""
    envelope = envelope or payload.envelope()
    with entrypoint_hook(container, handler) as hook:
        hook(envelope.model_dump(mode="json"))
    return envelope
