"""Event payloads, one class per event type and version."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from contracts.campaigns import CAMPAIGN_EVENTS
from contracts.care import CARE_EVENTS
from contracts.catalog import CATALOG_EVENTS
from contracts.coupons import COUPON_EVENTS
from contracts.envelope import Envelope, EventPayload
from contracts.erp_sync import ERP_EVENTS
from contracts.notify import NOTIFY_EVENTS

Channel = Literal["pos", "web", "app", "staff", "import", "erp"]
ActorKind = Literal["staff", "key", "member", "service"]


class _Acting(EventPayload):
    """Who did it at the till (the fraud service's signals are per staff member and per POS key).
    Optional: events from before these fields, imports and jobs carry none."""

    actor_kind: ActorKind | None = Field(default=None, description="The caller: staff, an API key (pos/erp), ...")
    actor_id: str | None = Field(default=None, description="Staff user id or API key id")
    terminal: str | None = Field(default=None, description="The till's terminal, as the POS sent it")


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
    # segmentation attributes (optional: older events carry none of them)
    gender: str | None = Field(default=None, description="For segments (campaigns' read model)")
    birthday: date | None = Field(default=None, description="For segments (campaigns' read model)")
    tags: list[str] | None = Field(default=None, description="For segments (campaigns' read model)")
    # who registered them and from what (optional: for the fraud service's signals)
    actor_kind: ActorKind | None = Field(default=None, description="The caller who registered them")
    actor_id: str | None = Field(default=None, description="Staff user id or API key id")
    device: str | None = Field(default=None, description="The device the registration came from, as the client sent it")
    phone_block: str | None = Field(default=None, description="Keyed hash of the phone without its last 3 digits: "
                                                              "equal for numbers of one block of 1,000")


class MembersImported(EventPayload):
    """The members one batch of a bulk import created (up to 500), in one event: an import of a
    million members is 2,000 of these, not a million ``member.registered`` (which the broker,
    the outbox relay and every consumer paid for one by one). Consumers treat each entry as a
    ``member.registered``; a registration one at a time still emits that event."""

    TYPE = "members.imported"
    VERSION = 1
    PRODUCER = "members"

    job_id: str = Field(description="The import job")
    batch_no: int = Field(ge=0, description="The batch of the job (a batch sent again emits nothing)")
    members: list[MemberRegistered] = Field(min_length=1, description="As member.registered, one per new member")


class MemberUpdated(EventPayload):
    """A member's profile changed. Names the fields; carries the new values only of the
    segmentation fields among them (gender, birthday, tags, registration_store), for campaigns'
    read model. A segmentation field named in ``changed_fields`` with a None value was removed."""

    TYPE = "member.updated"
    VERSION = 1
    PRODUCER = "members"

    member_id: str
    version: int
    changed_fields: list[str]
    status: str
    gender: str | None = None
    birthday: date | None = None
    tags: list[str] | None = None
    registration_store: str | None = None


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


class MemberMerged(EventPayload):
    """Two members became one; the merged member's identifiers now lead to the survivor. Meant
    for points (move balance and lots) and campaigns (move coupons); no service consumes it yet,
    and until one declares its queue these events are kept only in the members outbox (72 h)."""

    TYPE = "member.merged"
    VERSION = 1
    PRODUCER = "members"

    survivor_id: str
    merged_id: str
    merged_member_number: str
    merged_at: datetime


class MemberErased(EventPayload):
    """A member's personal data was erased (anonymised irreversibly). Other services scrub their
    copies of personal data and keep non-personal accounting totals."""

    TYPE = "member.erased"
    VERSION = 1
    PRODUCER = "members"

    member_id: str
    erased_at: datetime


class MemberBirthday(EventPayload):
    """Today is the member's birthday in their store's time zone (once per member per year)."""

    TYPE = "member.birthday"
    VERSION = 1
    PRODUCER = "members"

    member_id: str
    year: int
    local_date: date
    registration_store: str | None


LifecycleClass = Literal["new", "active", "at_risk", "dormant", "lost"]


class MemberLifecycleChanged(EventPayload):
    """A member moved to another lifecycle class (docs/lifecycle.md): on a purchase (``reason``
    "purchase"), a merge that brought another record's purchases, or when time passed them into
    the next class (``reason`` "timer", the daily run, which also applies changed thresholds).
    Campaigns keeps the class for segments and triggers campaigns on it (a win-back when a
    member turns dormant)."""

    TYPE = "member.lifecycle_changed"
    VERSION = 1
    PRODUCER = "members"

    member_id: str
    from_class: LifecycleClass
    to_class: LifecycleClass
    reason: Literal["purchase", "timer", "merge"]
    changed_at: datetime = Field(description="When the class changed (the run's time for the timer)")
    last_purchase_at: datetime | None = Field(description="The member's latest purchase; null: none yet")
    purchase_count: int = Field(ge=0, description="Purchases counted so far (sales; refunds do not uncount)")
    registration_store: str | None = None


class SoldLine(BaseModel):
    """One line of a sale as analytics ranks it (categories and SKUs among members)."""

    sku: str
    category: str | None = None
    qty: Decimal
    amount: Decimal = Field(description="Line total less the line's own discount")


class PointsAccrued(_Acting):
    """Points were credited: a sale (with its amount, for RFM) or an activity."""

    TYPE = "points.accrued"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    store: str | None
    source: Literal["sale", "checkin", "share", "referral", "profile_completion", "birthday"]
    reference: str = Field(description="Transaction id for sales, the natural key for activities")
    points: int
    amount: Decimal | None = Field(default=None, description="Sale amount after discounts (sales only)")
    currency: str | None = None
    occurred_at: datetime = Field(description="Time of sale or activity")
    balance: int
    campaign_bonus: dict[str, int] = Field(default_factory=dict,
                                           description="Bonus points in `points` from campaigns' rules, by campaign id")
    point_value: Decimal | None = Field(default=None, description="Currency value of one point (the sale's program)")
    lines: list[SoldLine] | None = Field(default=None, description="The sale's lines as the till sent them (sales "
                                                                   "with lines only)")


class PointsRedeemed(_Acting):
    """A hold was committed: points paid for (part of) a sale."""

    TYPE = "points.redeemed"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    store: str
    transaction_id: str
    hold_id: str
    points: int
    redeemed_at: datetime
    balance: int


class PointsReversed(_Acting):
    """A refund took back earned points (and gave back points paid on the sale)."""

    TYPE = "points.reversed"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    store: str
    transaction_id: str
    refund_id: str
    amount: Decimal
    points_reversed: int
    points_uncovered: int
    redeemed_points_returned: int
    refunded_at: datetime
    balance: int


class PointsHoldReleased(_Acting):
    """A hold was released at the till: the points went back unspent."""

    TYPE = "points.hold_released"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    store: str
    transaction_id: str
    hold_id: str
    points: int
    released_at: datetime


class PointsExpired(EventPayload):
    TYPE = "points.expired"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    points: int
    expired_at: datetime
    balance: int


class PointsExpiring(EventPayload):
    """Reminder: points expire soon (notify tells the member)."""

    TYPE = "points.expiring"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    points: int
    expires_at: datetime
    days_ahead: int


class PointsAdjusted(EventPayload):
    TYPE = "points.adjusted"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    store: str | None
    points: int
    reason: str
    actor_id: str | None
    adjusted_at: datetime
    balance: int


class TierChanged(EventPayload):
    TYPE = "tier.changed"
    VERSION = 1
    PRODUCER = "points"

    member_id: str
    old_tier: str
    new_tier: str
    direction: Literal["up", "down"]
    reason: Literal["sale", "evaluation", "merge", "program", "refund", "migration"]
    changed_at: datetime


_MEMBERS_AND_POINTS: tuple[type[EventPayload], ...] = (
    MemberRegistered, MembersImported, MemberUpdated, MemberConsentChanged, MemberMerged, MemberErased, MemberBirthday,
    MemberLifecycleChanged,
    PointsAccrued, PointsRedeemed, PointsReversed, PointsExpired, PointsExpiring, PointsAdjusted, TierChanged,
    PointsHoldReleased)

EVENTS: dict[tuple[str, int], type[EventPayload]] = {
    (cls.TYPE, cls.VERSION): cls for cls in (*_MEMBERS_AND_POINTS, *COUPON_EVENTS, *CAMPAIGN_EVENTS, *NOTIFY_EVENTS,
                                    *CATALOG_EVENTS, *CARE_EVENTS, *ERP_EVENTS)
}


def parse_payload(envelope: Envelope) -> EventPayload:
    """The typed payload of an envelope; ValueError when type/version is unknown or invalid."""
    cls = EVENTS.get((envelope.type, envelope.version))
    if cls is None:
        raise ValueError(f"unknown event {envelope.type} v{envelope.version}")
    return cls.model_validate(envelope.payload)
