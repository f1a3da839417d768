"""Feedback and complaint tickets (the care service): RPC shapes and the ``ticket.changed`` event.

A ticket belongs to one member and may name a store, a sale (the till's transaction id) and a
coupon. It moves open -> in_progress <-> waiting_on_member -> resolved -> closed, each move kept in
its history; its severity sets when it is due (the SLA), and an open ticket past that is overdue.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import EventPayload

Channel = Literal["store", "phone", "app", "web"]
Category = Literal["complaint", "feedback", "points", "coupon", "product", "service", "privacy", "other"]
Severity = Literal["low", "normal", "high", "urgent"]
Status = Literal["open", "in_progress", "waiting_on_member", "resolved", "closed"]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Reference = Annotated[str, Field(min_length=1, max_length=500, description="A file id or URL of an attachment")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketIn(_Strict):
    """care.open(**TicketIn)."""

    member_id: str = Field(max_length=36)
    channel: Channel
    category: Category
    severity: Severity = "normal"
    text: str = Field(min_length=3, max_length=5000)
    store: Code | None = Field(default=None, description="The store it concerns (and is handled by)")
    sale_reference: Code | None = Field(default=None, description="The till's transaction id of the sale")
    coupon_code: Code | None = None
    attachments: list[Reference] = Field(default_factory=list, max_length=10)
    request_id: Code | None = Field(default=None, description="Idempotency key: a retry opens one ticket")


class HistoryEntry(BaseModel):
    at: datetime
    actor_kind: str = Field(description="staff | member | key | internal")
    actor_id: str | None
    action: str = Field(description="opened | status | assigned | comment | goodwill | rated | erased")
    from_status: Status | None = None
    to_status: Status | None = None
    note: str | None = None
    detail: dict[str, object] = Field(default_factory=dict)


class TicketOut(BaseModel):
    ticket_id: str
    member_id: str
    channel: Channel
    category: Category
    severity: Severity
    status: Status
    text: str | None = Field(description="None once the member's personal data was erased")
    store: str | None
    sale_reference: str | None
    coupon_code: str | None
    attachments: list[str]
    assignee: str | None = Field(description="Staff user id handling it")
    assigned_store: str | None
    due_at: datetime = Field(description="When the SLA of its severity says it must be resolved")
    overdue: bool = Field(description="Not resolved or closed and past due_at")
    goodwill_points: int = Field(description="Points granted from this ticket, in all")
    rating: int | None = Field(description="The member's satisfaction, 1-5, after close")
    rating_comment: str | None
    opened_by: str = Field(description="staff | member | key | internal")
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    history: list[HistoryEntry] | None = Field(default=None, description="On a single ticket's read only")


class TicketQuery(_Strict):
    """care.page(**TicketQuery), newest first."""

    member_id: str | None = Field(default=None, max_length=36)
    status: Status | None = None
    store: Code | None = None
    assignee: str | None = Field(default=None, max_length=64)
    overdue: bool | None = None
    after: str | None = Field(default=None, max_length=80)
    limit: int = Field(default=50, ge=1, le=200)


class Transition(_Strict):
    ticket_id: str = Field(max_length=36)
    status: Status
    note: str | None = Field(default=None, max_length=2000)


class Assignment(_Strict):
    ticket_id: str = Field(max_length=36)
    assignee: str | None = Field(default=None, max_length=64, description="Staff user id; None: unassigned")
    store: Code | None = Field(default=None, description="The store handling it")


class Comment(_Strict):
    ticket_id: str = Field(max_length=36)
    text: str = Field(min_length=1, max_length=5000)
    attachments: list[Reference] = Field(default_factory=list, max_length=10)


class Goodwill(_Strict):
    """care.record_goodwill: a points adjustment already booked (points.adjust) noted on the ticket."""

    ticket_id: str = Field(max_length=36)
    entry_id: int = Field(ge=1, description="The points ledger entry of the adjustment")
    points: int = Field(ge=1, le=10_000_000)
    reason: str = Field(min_length=3, max_length=500)


class Rating(_Strict):
    ticket_id: str = Field(max_length=36)
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class TicketChanged(EventPayload):
    """A ticket was opened or changed. No free text: a consumer (notify) reads what it needs."""

    TYPE = "ticket.changed"
    VERSION = 1
    PRODUCER = "care"

    ticket_id: str
    member_id: str
    change: Literal["opened", "status", "assigned", "comment", "goodwill", "rated", "erased"]
    status: Status
    severity: Severity
    store: str | None
    due_at: datetime
    by_member: bool = Field(description="The member made this change (no need to tell them)")


CARE_EVENTS: tuple[type[EventPayload], ...] = (TicketChanged,)  # notify tells the member
CARE_MODELS: dict[str, type[BaseModel]] = {"TicketIn": TicketIn, "TicketOut": TicketOut}
