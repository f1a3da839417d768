"""Points reports and job results."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from contracts.points_base import _Model


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
