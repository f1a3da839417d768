"""Event payloads, one class per event type and version."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.envelope import Envelope, EventPayload

Channel = Literal["pos", "web", "app", "staff", "import", "erp"]


class MemberRegistered(EventPayload):
    """A new member exists. Consumers open their own per-member state from it."""

    TYPE = "member.registered"
    VERSION = 1
    PRODUCER = "members"

    member_id: str = Field(description="Stable member id (UUID)")
    member_number: str = Field(description="Printable member number")
    registration_store: str | None = None
    channel: Channel
    registered_at: datetime


class MemberUpdated(EventPayload):
    """A member's profile changed. Names the fields, never their (personal) values."""

    TYPE = "member.updated"
    VERSION = 1
    PRODUCER = "members"

    member_id: str
    version: int
    changed_fields: list[str]
    status: str


class MemberConsentChanged(EventPayload):
    """Consent for a channel was given or withdrawn; notify honours it at once."""

    TYPE = "member.consent_changed"
    VERSION = 1
    PRODUCER = "members"

    member_id: str
    channel: Literal["sms", "email", "push", "marketing"]
    granted: bool
    changed_at: datetime
    source: str
    text_version: str


EVENTS: dict[tuple[str, int], type[EventPayload]] = {
    (cls.TYPE, cls.VERSION): cls for cls in (MemberRegistered, MemberUpdated, MemberConsentChanged)
}


def parse_payload(envelope: Envelope) -> EventPayload:
    """The typed payload of an envelope; ValueError when type/version is unknown or invalid."""
    cls = EVENTS.get((envelope.type, envelope.version))
    if cls is None:
        raise ValueError(f"unknown event {envelope.type} v{envelope.version}")
    return cls.model_validate(envelope.payload)
