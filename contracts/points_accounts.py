"""Points RPC payloads of holds, adjustments, activities, the ledger and the account."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from contracts.points_base import Code, Text, _MemberRef, _Model, _plausible
from contracts.points_sales import Expiring


# ---- redemption -------------------------------------------------------------------------
class HoldRequest(_MemberRef):
    """points.hold(**HoldRequest). (store, transaction_id) is the idempotency key."""

    store: Code
    terminal: Text | None = Field(default=None, max_length=64)
    transaction_id: Code = Field(description="The sale these points pay for")
    points: int = Field(gt=0, le=100_000_000)
    ttl_seconds: int = Field(default=300, ge=10, le=86_400, description="Released by itself after this")


class Hold(_Model):
    hold_id: str
    member_id: str
    store: str
    transaction_id: str
    points: int
    status: Literal["held", "committed", "released", "expired"]
    expires_at: datetime
    balance: int
    available: int
    replayed: bool = False


# ---- staff and member actions ------------------------------------------------------------
class Adjustment(_Model):
    """A manual correction, with a reason (the member and the idempotency key come apart)."""

    points: int = Field(ge=-10_000_000, le=10_000_000, description="Signed: a credit or a debit; not zero")
    reason: Text = Field(min_length=3, max_length=500)
    store: Code | None = Field(default=None, description="Store the adjustment is booked to")

    @field_validator("points")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class Adjust(Adjustment):
    """points.adjust(**Adjust): a manual correction by staff, with a reason."""

    member_id: str = Field(max_length=36)
    request_id: Code | None = Field(default=None, description="Idempotency key: a retry adjusts once")


ActivityKind = Literal["checkin", "share", "referral", "profile_completion"]


class Activity(_Model):
    """points.activity(**Activity). Natural keys: check-in once per local day; share once per
    ``key`` (the shared item) and at most the program's daily share limit; referral once per
    referred member (``key`` = the referred member's id, both sides credited); profile
    completion once per member."""

    member_id: str = Field(max_length=36)
    kind: ActivityKind
    key: Text | None = Field(default=None, min_length=1, max_length=64)
    store: Code | None = None
    at: datetime | None = None

    _utc = field_validator("at")(lambda cls, v: _plausible(v))


class ActivityResult(_Model):
    member_id: str
    kind: str
    granted: bool = Field(description="False when already credited for this key (nothing written)")
    points: int
    balance: int
    referred_member_id: str | None = None
    referred_points: int = 0


class LedgerEntry(_Model):
    entry_id: int
    kind: str = Field(description="accrual | activity | redemption | reversal | redemption_refund | expiry | "
                                  "adjustment | debt_repayment | merge_in | merge_out | migration")
    points: int = Field(description="Signed change of the balance")
    store: str | None = Field(description="Store whose points these are (issuing store)")
    at_store: str | None = Field(description="Store where it happened")
    reference: str | None
    detail: dict[str, object] = Field(default_factory=dict)
    created_at: datetime


class AdjustResult(_Model):
    entry: LedgerEntry
    balance: int
    replayed: bool = False


class LedgerPage(_Model):
    items: list[LedgerEntry]
    next: str | None


class Lot(_Model):
    """A lot: the points of one sale, activity or adjustment, spent soonest-expiring first."""

    lot_id: int
    source: str = Field(description="What earned it: sale | activity | adjustment | refund | migration ...")
    store: str | None = Field(description="Issuing store")
    reference: str | None
    points: int = Field(description="Points the lot started with")
    remaining: int = Field(description="Points still in it")
    available_at: datetime = Field(description="Spendable from (later than created_at for pending points)")
    expires_at: datetime | None = Field(description="Expires then (null: never)")
    created_at: datetime


class LotPage(_Model):
    """points.lots(member_id, limit, after): open lots, soonest expiry first."""

    items: list[Lot]
    next: str | None


class TierProgress(_Model):
    basis: Literal["spend", "points"]
    qualifying: Decimal = Field(description="Qualifying spend (or points) in the rolling window")
    next_tier: str | None
    needed: Decimal | None = Field(description="How much more to reach the next tier")


class Account(_Model):
    """points.get_account(member_id)"""

    member_id: str
    balance: int = Field(description="The ledger's sum")
    available: int = Field(description="Spendable now: not pending, not held")
    pending: int
    held: int
    debt: int
    tier: str
    tier_since: datetime | None
    progress: TierProgress | None
    expiring: Expiring | None
    status: Literal["active", "frozen", "merged", "erased"]
    opened_at: datetime
