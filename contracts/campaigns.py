"""Segments and campaigns (campaigns service): RPC models and events.

RPC models go in CAMPAIGN_MODELS (their JSON Schemas are generated under contracts/schemas/rpc),
event payload classes in CAMPAIGN_EVENTS (registered in contracts.events.EVENTS).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.envelope import EventPayload


class CampaignAnnounced(EventPayload):
    """A campaign asks notify to tell one member about it (one event per member reached; members
    in the control group get none). Notify applies consent, quiet hours and frequency caps, since
    this is a marketing message, renders ``template`` for the member's locale with ``variables``,
    and sends it on ``channel``."""

    TYPE = "campaign.announced"
    VERSION = 1
    PRODUCER = "campaigns"

    campaign_id: str
    member_id: str
    channel: Literal["sms", "email", "push", "webhook"]
    template: str = Field(description="Notify template key, e.g. 'campaign.coupon_drop'")
    variables: dict[str, str | int] = Field(default_factory=dict,
                                            description="Template variables, e.g. campaign_name, coupon_value")
    store: str | None = Field(default=None, description="Store whose time zone decides quiet hours, if known")
    announced_at: datetime


CAMPAIGN_MODELS: dict[str, type[BaseModel]] = {}
CAMPAIGN_EVENTS: tuple[type[EventPayload], ...] = (CampaignAnnounced,)
