"""The points program (earning rules, tiers, expiry, policies) and bonus rules."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from contracts.money import Money
from contracts.points_base import Code, Rounding, Text, TierName, _Model
from contracts.rpc import to_utc


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
