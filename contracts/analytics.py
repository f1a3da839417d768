"""Consumption analytics (the analytics service): the questions its RPCs and /v1/analytics answer.

Amounts are Decimal (JSON strings such as "128.50"), counts and points integers, rates Decimal
strings with four places ("0.2500"), null when there is nothing to divide by. Days are the store's
local days, hours its local hours (the catalog's time zone of each store)."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM", examples=["2026-11"])]
Scope = Literal["store", "region", "chain"]
MAX_DAYS = 731  # two years: a year against the one before


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Where(_Strict):
    """Which stores and days: one store, a region's stores (the catalog's region), or the chain
    (scope=store needs store, scope=region needs region; at most MAX_DAYS days)."""

    scope: Scope = "chain"
    store: Code | None = Field(default=None, description="scope=store: the store's code")
    region: Code | None = Field(default=None, description="scope=region: the region's code")
    from_day: date = Field(description="First local day, inclusive")
    to_day: date = Field(description="Last local day, inclusive")
    days: Literal["all", "weekday", "weekend"] = Field(default="all", description="Only weekdays (Mon-Fri) or "
                                                                                  "weekends (Sat, Sun)")


class SalesQuery(Where):
    by: Literal["day", "weekday", "day_type", "hour", "total"] = Field(
        default="day", description="day; weekday (1 Monday .. 7 Sunday); day_type (weekday, weekend); hour (local "
                                   "hour of day, 0-23); total")


class TopQuery(Where):
    kind: Literal["category", "sku"] = "category"
    limit: int = Field(default=20, ge=1, le=500)


class CouponQuery(Where):
    template_id: str | None = Field(default=None, max_length=36)


class MonthQuery(_Strict):
    """Months by registration (cohorts) or by purchase (repeat rate)."""

    scope: Scope = "chain"
    store: Code | None = None
    region: Code | None = None
    from_month: Month
    to_month: Month


class SalesRow(BaseModel):
    key: str = Field(description="The day, weekday number, day type, hour, or 'total'")
    member_sales: int = Field(description="Sales to members (points' sales)")
    member_amount: str = Field(description="Their amount after discounts")
    average_basket: str | None = Field(description="member_amount / member_sales")
    new_buyer_sales: int = Field(description="Members' first purchase at the chain")
    returning_sales: int = Field(description="Members' later purchases")
    registrations: int = Field(description="Members registered (at the store, by registration store)")
    all_sales: int | None = Field(description="All sales the ERP reported; null when no ERP reports this scope")
    all_amount: str | None
    member_share: str | None = Field(description="member_amount / all_amount when the ERP's figure is known")
    refunds: int
    refund_amount: str
    points_issued: int
    points_redeemed: int
    points_reversed: int


class SalesReport(BaseModel):
    where: Where
    by: str
    rows: list[SalesRow]


class RepeatRow(BaseModel):
    month: str
    buyers: int = Field(description="Members with a purchase in the month")
    repeat_buyers: int = Field(description="Of them, members with two or more")
    repeat_rate: str | None


class CohortRow(BaseModel):
    cohort: str = Field(description="Registration month")
    members: int = Field(description="Members registered in it")
    active: list[int] = Field(description="Members buying in month 0, 1, 2, ... after registering")
    retention: list[str | None] = Field(description="active / members, per month")


class TopRow(BaseModel):
    key: str = Field(description="Category code or SKU")
    lines: int
    qty: str
    amount: str


class CouponRow(BaseModel):
    template_id: str
    issued: int
    redeemed: int
    restored: int = Field(description="Redemptions reversed by a refund")
    discount: str = Field(description="Discount of redemptions, less what restores took back")
    redemption_rate: str | None = Field(description="(redeemed - restored) / issued")


class TopReport(BaseModel):
    rows: list[TopRow]


class CouponReport(BaseModel):
    rows: list[CouponRow]


class RepeatReport(BaseModel):
    rows: list[RepeatRow]


class CohortReport(BaseModel):
    rows: list[CohortRow]


ANALYTICS_MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m for m in (SalesQuery, TopQuery, CouponQuery, MonthQuery, SalesReport, SalesRow, RepeatRow,
                            CohortRow, TopRow, CouponRow, TopReport, CouponReport, RepeatReport, CohortReport)
}
