"""Request bodies of the points routes: the contracts as they are, with every refusal naming
its field."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    TypeAdapter,
    field_validator,
    model_validator,
)

from contracts.points import (
    ActivityKind,
    Adjustment,
    BonusRule,
    Code,
    HoldRequest,
    Refund,
    RefundItem,
    Sale,
    SetProgram,
    _MemberRef,
)
from services.gateway.validation import exactly_one, named, rule_of, utc


# ---- bodies: the contracts as they are, with every refusal naming its field --------------------------------
class _SaleChecks(Sale):
    _utc = field_validator("sold_at")(utc)

    @model_validator(mode="after")
    def _consistent(self) -> _SaleChecks:
        return named(rule_of(Sale, "_consistent"), self, "discounts", "amount")


class SaleBody(_SaleChecks):
    """A sale at a till (points.record_sale); the member by id, card number or phone."""

    member_phone: str | None = Field(default=None, min_length=1, max_length=32,
                                     description="Instead of member_id or member_number: the member's phone")

    @model_validator(mode="after")
    def _one_member(self) -> SaleBody:
        return exactly_one(self, "member_id", "member_number", "member_phone")


class SaleItemBody(_SaleChecks):
    """An upload's sale: as a single sale, the member by id, card number or phone."""

    kind: Literal["sale"]
    member_phone: str | None = Field(default=None, min_length=1, max_length=32,
                                     description="Instead of member_id or member_number: the member's phone")

    @model_validator(mode="after")
    def _one_member(self) -> SaleItemBody:
        return exactly_one(self, "member_id", "member_number", "member_phone")


class RefundBody(Refund):
    _utc = field_validator("refunded_at")(utc)


class RefundItemBody(RefundItem):
    _utc = field_validator("refunded_at")(utc)


BatchItem = Annotated[SaleItemBody | RefundItemBody, Field(discriminator="kind")]
_BATCH_ITEM: TypeAdapter[SaleItemBody | RefundItemBody] = TypeAdapter(BatchItem)


class BatchBody(BaseModel):
    """An offline upload (points.record_batch): sales and refunds in any order. Each item is
    checked on its own (documented as below, validated by the route): a bad item is that item's
    answer, not the upload's."""

    model_config = ConfigDict(extra="forbid")
    items: list[SkipValidation[BatchItem]] = Field(min_length=1, max_length=1000)


class HoldBody(HoldRequest):
    @model_validator(mode="after")
    def _one_member(self) -> HoldBody:
        return named(rule_of(_MemberRef, "_one_member"), self, "member_id")


AdjustBody = Adjustment  # points.adjust for the member in the path; the store defaults to the caller's


class ActivityBody(BaseModel):
    """points.activity for the member in the path (at the time of the request)."""

    model_config = ConfigDict(extra="forbid")
    kind: ActivityKind = Field(description="Members themselves: checkin or share; staff: any")
    key: str | None = Field(default=None, min_length=1, max_length=64,
                            description="share: the item shared; referral: the referred member's id")
    store: Code | None = None


class SetProgramBody(SetProgram):
    _utc = field_validator("effective_from")(utc)


class BonusRuleBody(BonusRule):
    _utc = field_validator("starts_at", "ends_at")(utc)

    @model_validator(mode="after")
    def _valid(self) -> BonusRuleBody:
        return named(rule_of(BonusRule, "_valid"), self, "ends_at", "multiplier")
