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
    channel: Literal["sms", "email", "push", "webhook", "wechat", "console"]
    status: Literal["sent", "delivered", "failed", "suppressed"]
    reason: str | None = Field(default=None, description="For suppressed/failed: no_consent, quiet_hours, cap, ...")
    at: datetime


class MemberContact(BaseModel):
    """members.contact: what notify needs to reach a member (service-to-service callers only)."""

    member_id: str
    name: str
    phone: str | None = Field(default=None, description="E.164; None once erased")
    email: str | None = None
    locale: str | None = Field(default=None, description="preferences.locale when the member set one")
    registration_store: str | None = None
    status: str


Channel = Literal["sms", "email", "push", "webhook", "wechat", "console"]
Locale = Literal["zh-CN", "en"]


class Template(BaseModel):
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$",
                     description="birthday, points.expiring, tier.changed, login_code or campaign.<name>")
    channel: Channel
    locale: Locale
    subject: str | None = Field(default=None, max_length=200)
    body: str = Field(min_length=1, max_length=4000, description="Text with {{variable}} placeholders")


class TemplateOut(Template):
    version: int
    variables: list[str] = Field(description="The variables this kind of message may use")
    updated_at: datetime
    updated_by: str | None = None


class Preview(BaseModel):
    """Render a saved template (key/channel/locale) or the given subject/body, with sample variables."""

    key: str = Field(min_length=1, max_length=64)
    channel: Channel
    locale: Locale = "zh-CN"
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=4000)
    variables: dict[str, str | int] = Field(default_factory=dict)


class PreviewOut(BaseModel):
    subject: str | None
    body: str


class SendCode(BaseModel):
    phone: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, as members.lookup_phone gives it")
    code: str = Field(min_length=4, max_length=12, pattern=r"^[0-9A-Za-z]+$")
    purpose: Literal["login", "register"] = "login"
    locale: Locale = "zh-CN"
    minutes: int = Field(default=5, ge=1, le=60)


class SendCodeOut(BaseModel):
    message_id: str
    status: str


class Receipt(BaseModel):
    """A provider's delivery report by its message id."""

    provider_message_id: str = Field(min_length=1, max_length=200)
    status: Literal["delivered", "failed"] = "delivered"
    detail: str | None = Field(default=None, max_length=500)


class MessageStep(BaseModel):
    status: str
    detail: str | None
    at: datetime


class Message(BaseModel):
    message_id: str
    member_id: str | None
    campaign_id: str | None
    template: str
    channel: str
    marketing: bool
    status: Literal["queued", "sending", "sent", "delivered", "failed", "suppressed"]
    reason: str | None
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    dead_at: datetime | None
    replayed_at: datetime | None
    steps: list[MessageStep] = Field(default_factory=list)


class MessageQuery(BaseModel):
    member_id: str | None = None
    campaign_id: str | None = None
    status: Literal["queued", "sending", "sent", "delivered", "failed", "suppressed"] | None = None
    before: datetime | None = None
    limit: int = Field(default=50, ge=1, le=200)


NOTIFY_MODELS: dict[str, type[BaseModel]] = {
    "notify.MemberContact": MemberContact, "notify.Template": Template, "notify.TemplateOut": TemplateOut,
    "notify.Preview": Preview, "notify.PreviewOut": PreviewOut, "notify.SendCode": SendCode,
    "notify.SendCodeOut": SendCodeOut, "notify.Receipt": Receipt, "notify.Message": Message,
    "notify.MessageQuery": MessageQuery,
}
NOTIFY_EVENTS: tuple[type[EventPayload], ...] = (NotificationOutcome,)
