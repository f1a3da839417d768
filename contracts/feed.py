"""The outbound change feed and webhooks (the feed service): what a page of the feed holds, a
subscription, and a delivery. The feed's items carry the events' own payloads (contracts/events.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

DeliveryStatus = Literal["pending", "delivered", "dead", "superseded"]


class FeedItem(BaseModel):
    cursor: str = Field(description="Resume after this item: pass it as `after`")
    event_id: str = Field(description="The event's id: the same in the feed and in every webhook delivery")
    type: str = Field(examples=["points.accrued"])
    version: int
    member_id: str | None
    occurred_at: datetime = Field(description="When it happened at the producer")
    recorded_at: datetime = Field(description="When the feed took it in (retention counts from here)")
    data: dict[str, Any] = Field(description="The event's payload (personal fields null once the member was erased)")


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_cursor: str = Field(description="Pass as `after` for what follows; never null, also when nothing came")
    has_more: bool = Field(description="More items are waiting now (ask again at once)")


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Where deliveries are POSTed (https in production)",
                         examples=["https://erp.example.com/loyalty/hooks"])
    types: list[str] = Field(min_length=1, max_length=20, description="Event types to deliver",
                             examples=[["points.accrued", "tier.changed"]])
    description: str | None = Field(default=None, max_length=200)
    after: str | None = Field(default=None, max_length=64,
                              description="Start after this feed cursor (default: with the next event)")


class WebhookOut(BaseModel):
    id: str
    url: str
    types: list[str]
    description: str | None
    cursor: str = Field(description="Feed position up to which events are queued for delivery")
    created_at: datetime
    pending: int = Field(description="Deliveries waiting or being tried")
    dead: int = Field(description="Deliveries given up after the last try")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery (HMAC-SHA256). Shown once, here only")


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: str | None = Field(default=None, max_length=64,
                              description="Deliver again every event after this feed cursor (null: from the oldest)")


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str
    cursor: str
    event_id: str | None = Field(description="Null when the event left the feed before it was delivered")
    type: str | None
    member_id: str | None
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


FEED_MODELS: dict[str, type[BaseModel]] = {
    "FeedItem": FeedItem, "FeedPage": FeedPage, "WebhookIn": WebhookIn, "WebhookOut": WebhookOut,
    "WebhookCreated": WebhookCreated, "WebhookReplay": Replay, "WebhookDelivery": DeliveryOut,
}
