"""Cashier fraud signals (the fraud service): its rules, its alerts and their review.

Each rule counts one kind of till fact per subject (a staff member, a POS key, a device or a phone
block) over a sliding window; a subject over its threshold gets an alert in the review queue, with
the facts that made it (event ids, references, amounts) as evidence. A manager acknowledges it with
a note. Rules are pure (services/fraud/rules.py); docs/fraud.md says what each one means.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RuleName = Literal["adjustment_velocity", "refund_velocity", "refund_after_redemption", "holds_released",
                   "sales_under_threshold", "fresh_member_sales", "shared_device", "shared_phone_block"]
RULE_NAMES: tuple[RuleName, ...] = ("adjustment_velocity", "refund_velocity", "refund_after_redemption",
                                    "holds_released", "sales_under_threshold", "fresh_member_sales",
                                    "shared_device", "shared_phone_block")
Severity = Literal["low", "medium", "high"]
AlertStatus = Literal["open", "acknowledged"]
SubjectKind = Literal["staff", "key", "device", "phone_block"]
FactKind = Literal["sale", "refund", "redemption", "adjustment", "hold_released", "registration"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleConfig(_Strict):
    """A rule as it is in force. Each rule reads the parameters it names (docs/fraud.md); the
    others are None."""

    rule: RuleName
    enabled: bool = True
    severity: Severity
    window_seconds: int = Field(ge=60, le=172_800, description="The sliding window, 1 minute to 2 days")
    threshold: int = Field(ge=1, le=100_000, description="Facts in the window that raise an alert")
    points: int | None = Field(default=None, ge=1, description="adjustment_velocity: or this many points in all")
    thresholds: list[Decimal] | None = Field(default=None, max_length=20, examples=[["100.00", "200.00"]],
                                             description="sales_under_threshold: the amounts (tier, coupon) watched")
    band: Decimal | None = Field(default=None, gt=0, examples=["5.00"],
                                 description="sales_under_threshold: how far below one counts")
    min_share_pct: int | None = Field(default=None, ge=0, le=100,
                                      description="sales_under_threshold: and at least this share of the sales")
    fresh_seconds: int | None = Field(default=None, ge=1, le=86_400,
                                      description="fresh_member_sales: registered at most this long before")
    gap_seconds: int | None = Field(default=None, ge=1, le=604_800,
                                    description="refund_after_redemption: a redemption this long before the refund")
    updated_at: datetime | None = None
    updated_by: str | None = None


class RuleChange(_Strict):
    """The fields given change, the others stay. Each rule reads only its own parameters."""

    enabled: bool | None = None
    severity: Severity | None = None
    window_seconds: int | None = Field(default=None, ge=60, le=172_800)
    threshold: int | None = Field(default=None, ge=1, le=100_000)
    points: int | None = Field(default=None, ge=1, le=100_000_000)
    thresholds: list[Decimal] | None = Field(default=None, min_length=1, max_length=20,
                                             examples=[["100.00", "200.00"]])
    band: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=2, examples=["5.00"])
    min_share_pct: int | None = Field(default=None, ge=0, le=100)
    fresh_seconds: int | None = Field(default=None, ge=1, le=86_400)
    gap_seconds: int | None = Field(default=None, ge=1, le=604_800)


class RuleUpdate(RuleChange):
    """fraud.set_rule(**RuleUpdate)."""

    rule: RuleName


class Evidence(BaseModel):
    """One fact behind an alert: the event that told it, and what it was."""

    event_id: str
    kind: FactKind
    at: datetime
    store: str | None
    terminal: str | None = None
    member_id: str | None
    reference: str | None = Field(description="Transaction, refund, hold or ledger reference")
    amount: Decimal | None = Field(default=None, examples=["98.50"])
    points: int | None = None
    flags: list[str] = Field(default_factory=list, description="under_threshold, fresh_member, after_redemption")


class AlertOut(BaseModel):
    alert_id: str
    rule: RuleName
    severity: Severity
    status: AlertStatus
    subject_kind: SubjectKind
    subject_id: str
    stores: list[str]
    summary: str = Field(description="What crossed the threshold, in words")
    measure: dict[str, str] = Field(description="The figures the rule compared (count, points, share, ...)")
    first_at: datetime = Field(description="The earliest fact of the evidence")
    last_at: datetime = Field(description="The latest fact of the evidence")
    evidence: list[Evidence]
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    note: str | None = None


class AlertQuery(_Strict):
    """fraud.alerts(**AlertQuery), newest first."""

    status: AlertStatus | None = None
    rule: RuleName | None = None
    store: str | None = Field(default=None, max_length=64)
    subject_id: str | None = Field(default=None, max_length=128)
    after: str | None = Field(default=None, max_length=120)
    limit: int = Field(default=50, ge=1, le=200)


class Acknowledge(_Strict):
    alert_id: str = Field(max_length=36)
    note: str = Field(min_length=3, max_length=2000)


FRAUD_MODELS: dict[str, type[BaseModel]] = {"FraudRule": RuleConfig, "FraudAlert": AlertOut}
