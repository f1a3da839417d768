"""Notifications (notify service): RPC models and events.

RPC models go in NOTIFY_MODELS (their JSON Schemas are generated under contracts/schemas/rpc),
event payload classes in NOTIFY_EVENTS (registered in contracts.events.EVENTS).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.envelope import EventPayload


class NotificationOutcome(EventPayload):
    """A message reached its end: sent (the provider accepted it), delivered (the provider
    reported delivery), failed (dead-lettered after its retries) or suppressed (with the reason).
    Campaigns counts its announcements' outcomes from these for campaign results."""

    TYPE = "notification.outcome"
    VERSION = 1
    PRODUCER = "notify"

    message_id: str
    member_id: str | None
    campaign_id: str | None = None
    channel: Literal["sms", "email", "push", "webhook", "console"]
    status: Literal["sent", "delivered", "failed", "suppressed"]
    reason: str | None = Field(default=None, description="For suppressed/failed: no_consent, quiet_hours, cap, ...")
    at: datetime


NOTIFY_MODELS: dict[str, type[BaseModel]] = {}
NOTIFY_EVENTS: tuple[type[EventPayload], ...] = (NotificationOutcome,)
