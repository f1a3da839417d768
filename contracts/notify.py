"""Notifications (notify service): RPC models and events.

RPC models go in NOTIFY_MODELS (their JSON Schemas are generated under contracts/schemas/rpc),
event payload classes in NOTIFY_EVENTS (registered in contracts.events.EVENTS).
"""
from __future__ import annotations

from pydantic import BaseModel

from contracts.envelope import EventPayload

NOTIFY_MODELS: dict[str, type[BaseModel]] = {}
NOTIFY_EVENTS: tuple[type[EventPayload], ...] = ()
