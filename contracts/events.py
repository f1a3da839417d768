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


EVENTS: dict[tuple[str, int], type[EventPayload]] = {
    (cls.TYPE, cls.VERSION): cls for cls in (MemberRegistered,)
}


def parse_payload(envelope: Envelope) -> EventPayload:
    """The typed payload of an envelope; ValueError when type/version is unknown or invalid."""
    cls = EVENTS.get((envelope.type, envelope.version))
    if cls is None:
        raise ValueError(f"unknown event {envelope.type} v{envelope.version}")
    return cls.model_validate(envelope.payload)
