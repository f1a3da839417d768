"""Points RPC payloads of sales, refunds and offline uploads (money as Decimal, points as integers)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from contracts.money import Money
from contracts.points_base import Code, Text, _MemberRef, _Model, _plausible


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
    # who posted it (kind, id), set by the points service from the caller: never part of the body or its hash
    _actor: tuple[str, str | None] | None = PrivateAttr(default=None)

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
                                  "| min_spend | excluded (by the program) | excluded:<sku> (by the catalog)")
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
    flags: list[Literal["unknown_store", "unknown_sku"]] = Field(
        default_factory=list, description="What the catalog did not know: a store or a SKU (accepted; see "
                                          "docs/catalog.md)")


class Refund(_Model):
    """points.refund_sale(**Refund). (store, refund_id) is the idempotency key; the refund is
    made in the store of the original sale."""

    store: Code
    refund_id: Code
    transaction_id: Code = Field(description="The original sale")
    terminal: Text | None = Field(default=None, max_length=64)
    amount: Money = Field(description="Amount refunded, at most what is left of the sale")
    refunded_at: datetime
    _actor: tuple[str, str | None] | None = PrivateAttr(default=None)  # as Sale's

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
