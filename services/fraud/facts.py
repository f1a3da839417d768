"""Events to facts, pure: which subject did what, where, when, for how much. Facts without a till
subject (an import, a job, a service) are kept only where a rule reads them by member
(redemptions, for refund_after_redemption)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from contracts.envelope import Envelope, EventPayload
from contracts.events import (
    MemberRegistered,
    PointsAccrued,
    PointsAdjusted,
    PointsHoldReleased,
    PointsRedeemed,
    PointsReversed,
)
from services.fraud.rules import Fact, subject_of


@dataclass
class Gathered:
    """A batch of events as facts, the registrations among them, and the points each refund gave
    back (by event id)."""

    facts: list[Fact] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    returned: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Registration:
    member_id: str
    registered_at: datetime
    store: str | None
    subject: str | None


def sale(event: PointsAccrued, envelope: Envelope) -> Fact | None:
    subject = subject_of(event.actor_kind, event.actor_id)
    if event.source != "sale" or subject is None:
        return None
    return Fact(str(envelope.event_id), "sale", subject, event.occurred_at, event.store, event.terminal,
                event.member_id, event.reference, event.amount, event.points)


def refund(event: PointsReversed, envelope: Envelope) -> Fact | None:
    subject = subject_of(event.actor_kind, event.actor_id)
    if subject is None:
        return None
    return Fact(str(envelope.event_id), "refund", subject, event.refunded_at, event.store, event.terminal,
                event.member_id, event.refund_id, event.amount, -event.points_reversed)


def redemption(event: PointsRedeemed, envelope: Envelope) -> Fact:
    return Fact(str(envelope.event_id), "redemption", subject_of(event.actor_kind, event.actor_id),
                event.redeemed_at, event.store, event.terminal, event.member_id, event.transaction_id,
                None, -event.points)


def hold_released(event: PointsHoldReleased, envelope: Envelope) -> Fact | None:
    subject = subject_of(event.actor_kind, event.actor_id)
    if subject is None:
        return None
    return Fact(str(envelope.event_id), "hold_released", subject, event.released_at, event.store, event.terminal,
                event.member_id, event.hold_id, None, event.points)


def adjustment(event: PointsAdjusted, envelope: Envelope) -> Fact | None:
    """Adjustments are staff's (points.adjust takes managers and admins only)."""
    subject = subject_of("staff", event.actor_id)
    if subject is None:
        return None
    return Fact(str(envelope.event_id), "adjustment", subject, event.adjusted_at, event.store, None,
                event.member_id, event.reason[:200], None, event.points)


def registration(event: MemberRegistered, envelope: Envelope) -> tuple[Registration, list[Fact]]:
    """The registration (for fresh-member sales) and a fact for its device and its phone block."""
    by = subject_of(event.actor_kind, event.actor_id)
    shared = [f"device:{event.device}" if event.device else None,
              f"phone_block:{event.phone_block}" if event.phone_block else None]
    return (Registration(event.member_id, event.registered_at, event.registration_store, by),
            [Fact(str(envelope.event_id), "registration", subject, event.registered_at, event.registration_store,
                  None, event.member_id, by) for subject in shared if subject is not None])


def gather(events: Sequence[tuple[EventPayload, Envelope]]) -> Gathered:
    """The facts of a batch of events (of any of the types above)."""
    out = Gathered()
    for event, envelope in events:
        fact: Fact | None = None
        if isinstance(event, PointsAccrued):
            fact = sale(event, envelope)
        elif isinstance(event, PointsReversed):
            fact = refund(event, envelope)
            out.returned[str(envelope.event_id)] = event.redeemed_points_returned
        elif isinstance(event, PointsRedeemed):
            fact = redemption(event, envelope)
        elif isinstance(event, PointsHoldReleased):
            fact = hold_released(event, envelope)
        elif isinstance(event, PointsAdjusted):
            fact = adjustment(event, envelope)
        elif isinstance(event, MemberRegistered):
            registered, shared = registration(event, envelope)
            out.registrations.append(registered)
            out.facts.extend(shared)
        if fact is not None:
            out.facts.append(fact)
    return out
