"""The envelope every event travels in."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TraceContext(BaseModel):
    """W3C trace context of the operation that produced the event."""

    model_config = ConfigDict(extra="forbid")

    traceparent: str | None = None
    tracestate: str | None = None


class Envelope(BaseModel):
    """An event: a fact in the past tense, with everything needed to process it once."""

    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID
    type: str = Field(pattern=r"^[a-z][a-z_]*\.[a-z][a-z_.]*$")
    version: int = Field(ge=1)
    occurred_at: datetime
    producer: str
    trace: TraceContext = Field(default_factory=TraceContext)
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone")
        return value.astimezone(UTC)


class EventPayload(BaseModel):
    """Base of every event payload; subclasses set TYPE, VERSION and PRODUCER."""

    model_config = ConfigDict(extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    PRODUCER: ClassVar[str]

    def envelope(self, trace: TraceContext | None = None, *, occurred_at: datetime | None = None) -> Envelope:
        return Envelope(
            event_id=uuid.uuid4(),
            type=self.TYPE,
            version=self.VERSION,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=self.PRODUCER,
            trace=trace or TraceContext(),
            payload=self.model_dump(mode="json"),
        )
