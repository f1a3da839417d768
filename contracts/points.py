"""Points RPC payloads: sales, refunds, holds, adjustments, activities, the program and reports.

Money is ``Decimal`` (JSON strings such as "128.50"), points are integers. Times travel in UTC.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.money import Money
from contracts.rpc import to_utc


def _printable(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("control characters (NUL, newlines, ...) are not accepted")
    return value


def _plausible(value: datetime | None) -> datetime | None:
    """A time of a sale, refund or activity: in UTC, not before 2000, at most a day ahead (a POS
    clock may be off; a sale cannot happen in the future)."""
    value = to_utc(value)
    if value is not None and not EARLIEST <= value <= datetime.now(UTC) + timedelta(days=1):
        raise ValueError("must be after 2000-01-01 and not in the future")
    return value


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of a card number's body (members issues 12 digits: '8', ten of
    sequence, this digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _card_number(value: str | None) -> str | None:
    """A mistyped card number is a bad field (422), not an unknown member (404)."""
    if value is not None and not (len(value) == 12 and value.isascii() and value.isdigit()
                                  and luhn_digit(value[:-1]) == value[-1]):
        raise ValueError("not a member number: 12 digits with a valid check digit")
    return value


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
Text = Annotated[str, AfterValidator(_printable)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Rounding = Literal["floor", "half_up", "ceil"]
TierName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _MemberRef(_Model):
    """Exactly one of member_id and member_number (the card number)."""

    member_id: str | None = Field(default=None, max_length=36)
    member_number: Text | None = Field(default=None, min_length=1, max_length=20)

    _number = field_validator("member_number")(lambda cls, v: _card_number(v))

    @model_validator(mode="after")
    def _one_member(self) -> "_MemberRef":
        if (self.member_id is None) == (self.member_number is None):
            raise ValueError("give exactly one of member_id and member_number")
        return self


# ---- sales and refunds ------------------------------------------------------------------
class SaleLine(_Model):
    sku: Code
    category: Code | None = None
    qty: Decimal = Field(default=Decimal(1), gt=0, max_digits=12, decimal_places=3)
    amount: Money = Field(description="Line total before discounts")
    discount: Money = Field(default=Decimal(0), description="Discount on this line")


class SaleDiscount(_Model):
    code: Text = Field(min_length=1, max_length=64)
    amount: Money


class Sale(_MemberRef):
    """points.record_sale(**Sale). (store, transaction_id) is the idempotency key."""

    store: Code
    terminal: Text | None = Field(default=None, max_length=64)
    transaction_id: Code
    amount: Money = Field(description="Sale total before discounts; equals the lines' sum when lines are given")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    items: list[SaleLine] = Field(default_factory=list, max_length=500)
    discounts: list[SaleDiscount] = Field(default_factory=list, max_length=50,
                                          description="Sale-level discounts, spread over the lines by amount")
    sold_at: datetime

    _utc = field_validator("sold_at")(lambda cls, v: _plausible(v))

    @model_validator(mode="after")
    def _consistent(self) -> "Sale":
        if self.items and sum((i.amount for i in self.items), Decimal(0)) != self.amount:
            raise ValueError("amount must equal the sum of the items' amounts")
        discounts = sum((d.amount for d in self.discounts), Decimal(0)) + sum(
            (i.discount for i in self.items), Decimal(0))
        if discounts > self.amount:
            raise ValueError("discounts exceed the amount")
        return self


class RuleLine(_Model):
    rule: str = Field(description="base | category:<c> | sku:<s> | tier:<t> | bonus:<id> | cap_sale | cap_day "
                                  "| min_spend | excluded")
    points: int


class Expiring(_Model):
    points: int
    expires_at: datetime


class SaleResult(_Model):
    """What a receipt prints."""

    store: str
    transaction_id: str
    member_id: str
    points_earned: int
    breakdown: list[RuleLine]
    balance: int
    available: int
    pending: int
    debt_repaid: int = 0
    tier: str
    tier_changed: bool = False
    expiring: Expiring | None
    replayed: bool = False


class Refund(_Model):
    """points.refund_sale(**Refund). (store, refund_id) is the idempotency key; the refund is
    made in the store of the original sale."""

    store: Code
    refund_id: Code
    transaction_id: Code = Field(description="The original sale")
    terminal: Text | None = Field(default=None, max_length=64)
    amount: Money = Field(description="Amount refunded, at most what is left of the sale")
    refunded_at: datetime

    _utc = field_validator("refunded_at")(lambda cls, v: _plausible(v))


class RefundResult(_Model):
    store: str
    refund_id: str
    transaction_id: str
    member_id: str
    points_reversed: int = Field(description="Earned points taken back")
    points_uncovered: int = Field(description="Of those, points already spent: a negative balance or a debt")
    policy: Literal["negative", "debt"] | None
    redeemed_points_returned: int = Field(description="Points paid on this sale, given back")
    balance: int
    debt: int
    replayed: bool = False


class SaleItem(Sale):
    kind: Literal["sale"]


class RefundItem(Refund):
    kind: Literal["refund"]


class SaleBatch(_Model):
    """points.record_batch(**SaleBatch): an offline POS upload, sales and refunds in any order."""

    items: list[Annotated[SaleItem | RefundItem, Field(discriminator="kind")]] = Field(min_length=1,
                                                                                        max_length=1000)


class ItemError(_Model):
    code: str
    message: str
    field: str | None = None


class BatchItemResult(_Model):
    index: int
    kind: Literal["sale", "refund"]
    ok: bool
    sale: SaleResult | None = None
    refund: RefundResult | None = None
    error: ItemError | None = None


class BatchResult(_Model):
    results: list[BatchItemResult]
    accepted: int
    failed: int


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
                                  "adjustment | debt_repayment | merge_in | merge_out")
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


# ---- the program: earning rules, tiers, expiry, policies ------------------------------------
class TierRule(_Model):
    name: TierName
    threshold: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    multiplier: Decimal = Field(ge=0, le=100, max_digits=6, decimal_places=3)


class ExpiryRule(_Model):
    mode: Literal["never", "months_after", "end_of_month", "end_of_year"] = "months_after"
    count: int = Field(default=12, ge=0, le=240, description="months_after: N months after earning; "
                       "end_of_month: the end of the Nth month after the month of earning; "
                       "end_of_year: the end of the Nth year after the year of earning")


class ActivityPoints(_Model):
    checkin: int = Field(default=5, ge=0)
    share: int = Field(default=2, ge=0)
    share_daily_limit: int = Field(default=3, ge=0)
    referral_referrer: int = Field(default=100, ge=0)
    referral_referred: int = Field(default=50, ge=0)
    profile_completion: int = Field(default=50, ge=0)
    birthday: int = Field(default=200, ge=0)


class Program(_Model):
    """The points program: earning rules and policies. Versioned: a sale is evaluated by the
    version in force at its time."""

    rates: dict[str, Decimal] = Field(default_factory=lambda: {"CNY": Decimal(1)},
                                      description="Points per currency unit, per accepted currency")
    rounding: Rounding = "floor"
    min_spend: Money = Decimal(0)
    net_of_discounts: bool = True
    category_multipliers: dict[str, Decimal] = Field(default_factory=dict)
    sku_multipliers: dict[str, Decimal] = Field(default_factory=dict)
    excluded_categories: list[str] = Field(default_factory=lambda: ["tobacco", "gift_card"])
    excluded_skus: list[str] = Field(default_factory=list)
    cap_per_sale: int | None = Field(default=None, gt=0)
    cap_per_day: int | None = Field(default=None, gt=0)
    tiers: list[TierRule] = Field(default_factory=lambda: [
        TierRule(name="normal", threshold=Decimal(0), multiplier=Decimal(1)),
        TierRule(name="silver", threshold=Decimal(2000), multiplier=Decimal("1.2")),
        TierRule(name="gold", threshold=Decimal(8000), multiplier=Decimal("1.5")),
        TierRule(name="platinum", threshold=Decimal(20000), multiplier=Decimal(2)),
    ], min_length=1, max_length=10)
    tier_basis: Literal["spend", "points"] = "spend"
    tier_window_days: int = Field(default=365, ge=1, le=3660)
    tier_grace_days: int = Field(default=30, ge=0, le=3660)
    expiry: ExpiryRule = Field(default_factory=ExpiryRule)
    pending_days: int = Field(default=0, ge=0, le=365)
    refund_policy: Literal["negative", "debt"] = "negative"
    negative_limit: int = Field(default=1000, ge=0, description="How far below zero a refund may take a balance")
    adjust_daily_limit: int = Field(default=10_000, ge=0, description="Per staff member, points per day")
    point_value: Decimal = Field(default=Decimal("0.01"), ge=0, max_digits=10, decimal_places=4,
                                 description="Currency value of one point, for the liability report")
    reminder_days: int = Field(default=7, ge=1, le=90)
    activities: ActivityPoints = Field(default_factory=ActivityPoints)

    @field_validator("rates", "category_multipliers", "sku_multipliers")
    @classmethod
    def _factors(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for key, factor in value.items():
            if factor < 0 or factor > 1000:
                raise ValueError(f"{key}: must be between 0 and 1000")
        return value

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: list[TierRule]) -> list[TierRule]:
        if value[0].threshold != 0:
            raise ValueError("the first tier starts at 0")
        if any(b.threshold <= a.threshold for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("thresholds must rise from tier to tier")
        if len({t.name for t in value}) != len(value):
            raise ValueError("tier names must be unique")
        return value


class SetProgram(_Model):
    """points.set_program(**SetProgram)"""

    program: Program
    effective_from: datetime | None = Field(default=None, description="Default: now; not in the past")

    _utc = field_validator("effective_from")(lambda cls, v: to_utc(v))


class ProgramVersion(_Model):
    version: int
    effective_from: datetime
    program: Program
    created_by: str | None
    created_at: datetime


class BonusRule(_Model):
    """A bonus in a time window (double points weekend, member day). Either a multiplier on the
    base points, or fixed points per qualifying sale."""

    name: Text = Field(min_length=1, max_length=100)
    starts_at: datetime
    ends_at: datetime
    multiplier: Decimal | None = Field(default=None, gt=0, le=100, max_digits=6, decimal_places=3,
                                       description="Extra base points: 2 gives double points (one more base)")
    points_per_sale: int | None = Field(default=None, gt=0, le=1_000_000)
    stores: list[Code] = Field(default_factory=list, description="Empty: every store")
    categories: list[Code] = Field(default_factory=list, description="Empty: every category")
    min_spend: Money = Decimal(0)
    tiers: list[TierName] = Field(default_factory=list, description="Empty: every tier")

    _utc = field_validator("starts_at", "ends_at")(lambda cls, v: to_utc(v))

    @model_validator(mode="after")
    def _valid(self) -> "BonusRule":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.multiplier is None) == (self.points_per_sale is None):
            raise ValueError("give exactly one of multiplier and points_per_sale")
        return self


class BonusRuleOut(BonusRule):
    rule_id: str
    source: str
    active: bool
    audience: str | None = Field(default=None, description="Only the members granted this audience (a campaign's "
                                                            "treated members); null: every member")


# ---- reports ----------------------------------------------------------------------------
class LiabilityRow(_Model):
    store: str | None = Field(description="Issuing store; null in the chain bucket")
    bucket: Literal["store", "chain"] = Field(
        default="store", description="chain: points no store issued, carried by the chain as a whole (members' "
                                     "own check-ins and shares in the app, referrals and profile completion "
                                     "credited without a store, adjustments booked to no store)")
    day: date
    points: int
    value: Decimal


class DailySales(_Model):
    count: int = Field(description="Member sales recorded (by their time of sale)")
    amount: Decimal = Field(description="Their total before discounts")
    net_amount: Decimal = Field(description="Their total after discounts (what earns points)")
    members: int = Field(description="Distinct members who bought")
    refunds: int = Field(description="Refunds recorded (by their time)")
    refunded_amount: Decimal


class DailyPoints(_Model):
    issued: int = Field(description="Earned on sales, activities and positive adjustments booked to the store")
    redeemed: int = Field(description="Spent at the store (committed holds)")
    expired: int = Field(description="Of the store's lots, expired")
    reversed: int = Field(description="Taken back by refunds at the store")


class DailyReport(_Model):
    """A store manager's day (days in the store's time zone)."""

    store: str
    day: date
    sales: DailySales
    members_share: Decimal | None = Field(
        description="Member sales' share of the store's takings (net_amount / total_sales), when total_sales "
                    "is given: points sees member sales only")
    points: DailyPoints


class SettlementRow(_Model):
    earned_store: str | None
    spent_store: str | None
    points: int
    value: Decimal


class JobResult(_Model):
    job: str
    processed: int
    events: int


POINTS_MODELS: dict[str, type[BaseModel]] = {
    cls.__name__: cls
    for cls in (SaleLine, SaleDiscount, Sale, RuleLine, Expiring, SaleResult, Refund, RefundResult, SaleBatch,
                ItemError, BatchItemResult, BatchResult, HoldRequest, Hold, Adjustment, Adjust, Activity,
                ActivityResult, LedgerEntry, AdjustResult, LedgerPage, TierProgress, Account, TierRule, ExpiryRule,
                ActivityPoints, Program, SetProgram, ProgramVersion, BonusRule, BonusRuleOut, LiabilityRow,
                DailySales, DailyPoints, DailyReport, SettlementRow, JobResult)
}
