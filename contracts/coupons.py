"""Coupons and the rewards catalog (campaigns service): RPC models and events.

RPC models go in COUPON_MODELS (their JSON Schemas are generated under contracts/schemas/rpc),
event payload classes in COUPON_EVENTS (registered in contracts.events.EVENTS).

Money is ``Decimal`` (JSON strings such as "20.00"); points are integers; times travel in UTC.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from contracts.envelope import EventPayload
from contracts.money import Money


def to_utc(value: datetime | None) -> datetime | None:
    """Times travel in UTC; a time without a zone is taken as UTC (contracts.rpc has the same rule,
    but importing it here would be circular: contracts.events imports this module)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None


Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
UtcTime = Annotated[datetime, AfterValidator(to_utc)]
CouponKind = Literal["threshold", "percent", "cash", "gift"]
IssueSource = Literal["staff", "birthday", "exchange", "campaign"]
CouponStatus = Literal["valid", "used", "expired", "not_yet_valid", "void"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- templates ----------------------------------------------------------------------------------
Percent = Annotated[Decimal, Field(gt=0, le=100, max_digits=5, decimal_places=2)]
_PERCENT_NAMES = ("ambiguous, so refused: give discount_percent (the share taken off: 9折 is \"10\") or "
                  "price_percent (the share paid: 9折 is \"90\")")


class _TemplateTerms(_Model):
    name: str = Field(min_length=1, max_length=120)
    kind: CouponKind = Field(description="threshold: spend min_spend, get amount off; percent: a share of the price "
                                         "off (discount_percent or price_percent), capped by max_discount; cash: "
                                         "amount off; gift: gift_sku free")
    amount: Money | None = Field(default=None, description="threshold and cash: the amount off")
    max_discount: Money | None = Field(default=None, description="percent: the most one coupon takes off a sale. "
                                                                 "An uncapped percent coupon needs a budget_count")
    gift_sku: Code | None = None
    gift_value: Money = Field(default=Decimal(0), description="gift: what the gift costs (counted in budget_value)")
    min_spend: Money = Field(default=Decimal(0), description="on eligible items")
    valid_from: UtcTime | None = None
    valid_until: UtcTime | None = None
    valid_days: int | None = Field(default=None, ge=1, le=3650)
    stores: list[Code] | None = Field(default=None, max_length=1000,
                                     description="None (and no regions or brands): every store")
    regions: list[Code] | None = Field(default=None, max_length=200,
                                       description="Stores of these regions (the catalog's); a store qualifies "
                                                   "when stores, regions or brands name it")
    brands: list[Code] | None = Field(default=None, max_length=200, description="Stores of these brands (the "
                                                                                "catalog's)")
    categories: list[Code] | None = Field(default=None, max_length=200,
                                          description="Lines of these categories or any category below them in "
                                                      "the catalog's tree")
    skus: list[Code] | None = Field(default=None, max_length=1000)
    stackable: bool = Field(default=False, description="False: exclusive (alone on a sale)")
    per_member_limit: int | None = Field(default=None, ge=1, le=1000)
    budget_count: int | None = Field(default=None, ge=1, le=100_000_000)
    budget_value: Money | None = None
    restore_on_refund: bool = Field(default=True, description="A refund of the sale gives the coupon back")


class CouponTemplate(_TemplateTerms):
    """campaigns.create_template(**CouponTemplate). Validity: valid_from and valid_until, or
    valid_days from the moment of issue. A percent coupon gives exactly one of discount_percent and
    price_percent; above the deployment's maximum discount (COUPON_MAX_DISCOUNT_PERCENT, 50 by
    default) it needs confirm_high_discount."""

    discount_percent: Percent | None = Field(default=None, description="percent: the share of the price taken "
                                                                       "off; 9折 (pay 90%) is \"10\"")
    price_percent: Percent | None = Field(default=None, description="percent: the share of the price paid; 9折 is "
                                                                    "\"90\" (the same coupon as discount_percent "
                                                                    "\"10\")")
    percent: Decimal | None = Field(default=None, deprecated=True,
                                    description="Refused (422 naming it): it was read as the share off, so 9折 "
                                                "entered as 90 made a 90%-off coupon. " + _PERCENT_NAMES)
    confirm_high_discount: bool = Field(default=False, description="Yes, this coupon takes off more than the "
                                                                   "maximum discount the deployment allows unasked")

    @field_validator("percent")
    @classmethod
    def _no_bare_percent(cls, value: Decimal | None) -> Decimal | None:
        if value is not None:
            raise ValueError(_PERCENT_NAMES)
        return value

    @field_validator("price_percent")
    @classmethod
    def _one_percent(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        if value is not None and info.data.get("discount_percent") is not None:
            raise ValueError("give discount_percent or price_percent, not both")
        return value

    def off_percent(self) -> Decimal | None:
        """The share of the price taken off, however it was given."""
        if self.price_percent is not None:
            return Decimal(100) - self.price_percent
        return self.discount_percent


class TemplateOut(_TemplateTerms):
    discount_percent: Decimal | None = Field(default=None, examples=["10"],
                                             description="percent: the share of the price taken off")
    price_percent: Decimal | None = Field(default=None, examples=["90"], description="percent: the share of the "
                                                                                     "price paid (100 - "
                                                                                     "discount_percent)")
    template_id: str
    issued_count: int
    issued_value: Decimal
    redeemed_count: int
    created_at: datetime


# ---- coupons -------------------------------------------------------------------------------------
class IssueCoupon(_Model):
    """campaigns.issue_coupon(**IssueCoupon): one coupon to one member. Idempotent by request_id
    (per template) when given."""

    template_id: str = Field(max_length=36)
    member_id: str = Field(max_length=36)
    source: IssueSource = "staff"
    request_id: Code | None = None
    campaign_id: str | None = Field(default=None, max_length=64)


class CouponOut(_Model):
    coupon_id: str
    code: str
    template_id: str
    name: str
    kind: CouponKind
    member_id: str | None
    status: CouponStatus
    source: str
    campaign_id: str | None = None
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    redeemed_at: datetime | None = None
    redeemed_store: str | None = None
    discount: Decimal | None = None
    replayed: bool = False


class IssueJobRequest(_Model):
    """campaigns.start_issue_job(**IssueJobRequest): one coupon to each member, in the background."""

    template_id: str = Field(max_length=36)
    member_ids: list[str] = Field(min_length=1, max_length=1_000_000)
    source: IssueSource = "campaign"
    campaign_id: str | None = Field(default=None, max_length=64)


class SkippedMember(_Model):
    member_id: str
    reason: Literal["no_such_member", "member_erased", "member_merged"]


class IssueJob(_Model):
    job_id: str
    template_id: str
    campaign_id: str | None
    status: Literal["queued", "running", "done", "failed"]
    total: int
    processed: int
    issued: int
    skipped: int = Field(description="Members given no coupon: the sum of skipped_reasons")
    skipped_reasons: dict[str, int] = Field(default_factory=dict, description=(
        "Members skipped, by reason: no_such_member (no member has this id), member_erased, member_merged "
        "(these use no budget), already (had this coupon of the job or campaign), per_member_limit, budget_count, "
        "budget_value"))
    skipped_members: list[SkippedMember] = Field(default_factory=list, description=(
        "The ids skipped because they are no (live) member, with the reason; the first 1,000"))
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


# ---- at checkout ---------------------------------------------------------------------------------
class BasketLine(_Model):
    sku: Code
    category: Code | None = None
    qty: Decimal = Field(default=Decimal(1), gt=0, max_digits=12, decimal_places=3)
    amount: Money = Field(description="Line total")


class Basket(_Model):
    """campaigns.validate_coupons(**Basket): the discount these codes give this basket; changes nothing."""

    codes: list[str] = Field(min_length=1, max_length=10)
    store: Code
    amount: Money = Field(description="Basket total before coupons")
    items: list[BasketLine] = Field(default_factory=list, max_length=500)
    member_id: str | None = Field(default=None, max_length=36,
                                  description="The member at the till: a coupon of another member is refused")


class Redeem(Basket):
    """campaigns.redeem_coupons(**Redeem): idempotent by (store, transaction_id)."""

    transaction_id: Code
    terminal: str | None = Field(default=None, max_length=64)


class AppliedCoupon(_Model):
    code: str
    coupon_id: str
    template_id: str
    kind: CouponKind
    discount: Decimal
    gift_sku: str | None = None


class Validation(_Model):
    store: str
    amount: Decimal
    discount: Decimal
    amount_due: Decimal
    coupons: list[AppliedCoupon]


class Redemption(Validation):
    redemption_id: str
    transaction_id: str
    redeemed_at: datetime
    replayed: bool = False


class CouponRefund(_Model):
    """campaigns.refund_coupons(**CouponRefund): the sale (store, transaction_id) was refunded.
    Idempotent: a second call answers the first result."""

    store: Code
    transaction_id: Code


class CouponRefundResult(_Model):
    store: str
    transaction_id: str
    restored: list[str] = Field(description="Codes usable again")
    kept: list[str] = Field(description="Codes whose template does not restore on refund")
    replayed: bool = False


# ---- rewards catalog -----------------------------------------------------------------------------
class CatalogItem(_Model):
    """campaigns.create_catalog_item(**CatalogItem): a coupon template or a gift, priced in points."""

    name: str = Field(min_length=1, max_length=120)
    kind: Literal["coupon", "gift"]
    template_id: str | None = Field(default=None, max_length=36, description="kind coupon")
    gift_sku: Code | None = Field(default=None, description="kind gift")
    points: int = Field(gt=0, le=10_000_000)
    stock: int | None = Field(default=None, ge=0, le=100_000_000, description="None: unlimited (coupons only)")
    active: bool = True


class CatalogItemOut(CatalogItem):
    item_id: str
    exchanged: int
    created_at: datetime


class RestockItem(_Model):
    add: int = Field(gt=0, le=100_000_000)


class Exchange(_Model):
    """campaigns.exchange(**Exchange): spend points on a catalog item. Idempotent by
    (member_id, exchange_key)."""

    item_id: str = Field(max_length=36)
    member_id: str = Field(max_length=36)
    exchange_key: Code
    store: Code = Field(default="ONLINE", description="Store the points are spent at")


class ExchangeResult(_Model):
    exchange_id: str
    item_id: str
    member_id: str
    points: int
    status: Literal["completed", "failed", "pending"]
    coupon: CouponOut | None = None
    gift_sku: str | None = None
    error: str | None = None
    created_at: datetime
    replayed: bool = False


# ---- events --------------------------------------------------------------------------------------
# Consumed by analytics (coupon redemption by template) and the feed (ERPs). Before they had
# consumers they were not published at all: RabbitMQ drops an event no queue is bound for
# (docs/decisions/0016-campaign-results-and-coupon-terms.md). The code is left out: it is what a
# till accepts, and a copy in every ERP's feed is a copy that can leak.
class CouponIssued(EventPayload):
    """A coupon was issued to a member (by hand, a birthday, an exchange or a campaign's job)."""

    TYPE = "coupon.issued"
    VERSION = 1
    PRODUCER = "campaigns"

    coupon_id: str
    template_id: str
    member_id: str
    source: IssueSource
    campaign_id: str | None = None
    issued_at: datetime
    valid_until: datetime | None = None


class CouponRedeemed(EventPayload):
    """A coupon was used on a sale (one event per coupon of the sale)."""

    TYPE = "coupon.redeemed"
    VERSION = 1
    PRODUCER = "campaigns"

    coupon_id: str
    template_id: str
    store: str
    transaction_id: str
    discount: Decimal = Field(description="What this coupon took off the sale")
    redeemed_at: datetime


class CouponRestored(EventPayload):
    """The sale a coupon was used on was refunded and the coupon given back (its template's
    restore_on_refund): the redemption is reversed."""

    TYPE = "coupon.restored"
    VERSION = 1
    PRODUCER = "campaigns"

    coupon_id: str
    template_id: str
    store: str
    transaction_id: str
    discount: Decimal = Field(description="What the redemption had taken off, now reversed")
    restored_at: datetime


# ---- a template's preview (the console's "what would this basket get") --------------------------------------
class PreviewBasket(_Model):
    store: Code
    amount: Money = Field(description="Basket total before coupons")
    items: list[BasketLine] = Field(default_factory=list, max_length=500)


class TemplatePreview(_Model):
    """campaigns.preview_template(**TemplatePreview): what a coupon of these terms would take off this
    basket, computed as the till computes it; nothing is saved."""

    template: CouponTemplate
    basket: PreviewBasket


class PreviewRefusal(_Model):
    message: str
    field: str


class TemplatePreviewResult(_Model):
    store: str
    amount: Decimal
    applies: bool = Field(description="False when the coupon would be refused for this basket (see refusal)")
    discount: Decimal
    amount_due: Decimal
    gift_sku: str | None = None
    refusal: PreviewRefusal | None = None


COUPON_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (CouponTemplate, TemplateOut, IssueCoupon, CouponOut, IssueJobRequest, SkippedMember,
                            IssueJob, BasketLine, Basket, Redeem, AppliedCoupon, Validation, Redemption, CouponRefund,
                            CouponRefundResult, CatalogItem, CatalogItemOut, RestockItem, Exchange, ExchangeResult,
                            PreviewBasket, TemplatePreview, PreviewRefusal, TemplatePreviewResult)
}
COUPON_EVENTS: tuple[type[EventPayload], ...] = (CouponIssued, CouponRedeemed, CouponRestored)
