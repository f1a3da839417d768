"""Coupons and the rewards catalog (campaigns service): RPC models and events.

RPC models go in COUPON_MODELS (their JSON Schemas are generated under contracts/schemas/rpc),
event payload classes in COUPON_EVENTS (registered in contracts.events.EVENTS).
"""
from __future__ import annotations

from pydantic import BaseModel

from contracts.envelope import EventPayload

COUPON_MODELS: dict[str, type[BaseModel]] = {}
COUPON_EVENTS: tuple[type[EventPayload], ...] = ()
