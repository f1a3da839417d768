"""Segments and campaigns (campaigns service): RPC models and events.

RPC models go in CAMPAIGN_MODELS (their JSON Schemas are generated under contracts/schemas/rpc),
event payload classes in CAMPAIGN_EVENTS (registered in contracts.events.EVENTS).
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.envelope import EventPayload
from contracts.money import Money


class CampaignAnnounced(EventPayload):
    """A campaign asks notify to tell one member about it (one event per member reached; members
    in the control group get none). Notify applies consent, quiet hours and frequency caps, since
    this is a marketing message, renders ``template`` for the member's locale with ``variables``,
    and sends it on ``channel``."""

    TYPE = "campaign.announced"
    VERSION = 1
    PRODUCER = "campaigns"

    campaign_id: str
    member_id: str
    channel: Literal["sms", "email", "push", "webhook"]
    template: str = Field(description="Notify template key, e.g. 'campaign.coupon_drop'")
    variables: dict[str, str | int] = Field(default_factory=dict,
                                            description="Template variables, e.g. campaign_name, coupon_value")
    store: str | None = Field(default=None, description="Store whose time zone decides quiet hours, if known")
    announced_at: datetime


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- segments --------------------------------------------------------------------------------------
class SegmentIn(_Model):
    """A rule segment. ``rule``: {"all"|"any": [conditions or groups]} or {"not": rule}; a condition is
    {"field", "op", "value"} (+ "window_days" for purchase_count and spend). Fields: tier, store, tags,
    age, gender, birthday_month, channel, registered_at, days_since_last_purchase, purchase_count, spend,
    points_balance, rfm_r, rfm_f, rfm_m, rfm_group, abcd, lifecycle (the RFM job's stage),
    lifecycle_class (the member record's class: new, active, at_risk, dormant, lost)."""

    name: str = Field(min_length=1, max_length=100)
    rule: dict[str, Any]
    segment_id: str | None = Field(default=None, description="Client-chosen id (UUID) for a safe retry")


class SegmentOut(_Model):
    segment_id: str
    name: str
    rule: dict[str, Any]
    created_by: str | None
    created_at: datetime


class SampleMember(_Model):
    member_id: str
    tier: str
    store: str | None
    balance: int
    last_purchase_at: datetime | None
    rfm_group: str | None
    abcd: str | None
    lifecycle: str | None


class SegmentPreview(_Model):
    size: int
    sample: list[SampleMember]


class SnapshotOut(_Model):
    snapshot_id: str
    segment_id: str
    size: int
    created_at: datetime


class MemberIdPage(_Model):
    member_ids: list[str]
    next: str | None = Field(description="Pass as `after` for the next page; null at the end")


class RfmJobOut(_Model):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    params: dict[str, Any]
    steps_done: int
    steps_total: int
    members_scored: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


# ---- campaigns ---------------------------------------------------------------------------------------
CampaignType = Literal["points_multiplier", "points_bonus", "coupon_drop", "birthday", "member_day", "win_back",
                       "referral"]
CampaignStatus = Literal["draft", "scheduled", "running", "paused", "finished"]


class Budget(_Model):
    coupons: int | None = Field(default=None, ge=0, description="Most coupons the campaign may issue")
    points: int | None = Field(default=None, ge=0, description="Most points the campaign may grant")
    money: Money | None = Field(default=None, description="Most discount value the campaign may grant")


class Recurrence(_Model):
    """A recurring member day: the campaign is live on these weekdays (0 = Monday) in each store's
    own time zone, between starts_at and ends_at."""

    weekdays: list[int] = Field(min_length=1, max_length=7)


class CampaignIn(_Model):
    name: str = Field(min_length=1, max_length=100)
    type: CampaignType
    segment_id: str
    starts_at: datetime
    ends_at: datetime

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """In UTC; a time without a zone is taken as UTC (so the two always compare)."""
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("time out of range") from None
    recurrence: Recurrence | None = None
    budget: Budget = Field(default_factory=Budget)
    per_member_limit: int | None = Field(default=None, ge=1, le=1000,
                                         description="Most rewards per member: coupons (default 1), or sales "
                                                     "earning a points campaign's bonus (default: no limit)")
    control_share: Decimal = Field(default=Decimal("0.10"), ge=0, lt=1, max_digits=5, decimal_places=4)
    attribution_days: int = Field(default=14, ge=1, le=365, description="Days from the launch during which a "
                                  "member's sales count for the campaign (the attribution window)")
    channel: Literal["sms", "email", "push", "webhook"] | None = None
    template: str | None = Field(default=None, max_length=100)
    multiplier: Decimal | None = Field(default=None, gt=0, le=100, max_digits=6, decimal_places=3)
    points_per_sale: int | None = Field(default=None, gt=0, le=1_000_000)
    coupon_template_id: str | None = None
    trigger_lifecycle: Literal["new", "active", "at_risk", "dormant", "lost"] | None = Field(
        default=None, description="Coupon drops and win-backs: give the coupon when a member turns into this "
                                  "lifecycle class while the campaign runs (e.g. dormant for a win-back), not at "
                                  "launch; the audience is the members it triggered for who match the segment then")
    stores: list[str] = Field(default_factory=list, description="Stores the campaign applies in; empty: all")
    campaign_id: str | None = Field(default=None, description="Client-chosen id (UUID) for a safe retry")


class CampaignOut(CampaignIn):
    campaign_id: str
    status: CampaignStatus
    snapshot_id: str | None
    version: int
    created_by: str | None
    created_at: datetime
    launched_at: datetime | None


class HistoryEntry(_Model):
    from_status: str | None
    to_status: str
    actor: str | None
    note: str | None
    at: datetime


class ResultFigures(_Model):
    """A campaign's figures (docs/decisions/0016-campaign-results-and-coupon-terms.md defines each).
    The attribution window is [window_starts_at, window_ends_at): from the launch, never before,
    for ``attribution_days``; the same window for treated and control members."""

    reached: int = Field(description="Treated members: the audience fixed at launch (for a campaign triggered "
                                     "by a lifecycle class, the members it triggered for) minus its control group")
    control: int = Field(description="Control members: in the audience, held out (no message, no reward)")
    delivered: int = Field(description="Treated members notify reported an announcement sent or delivered to")
    redeemed: int | None = Field(description="Coupon campaigns: coupons issued by this campaign and used on a sale "
                                             "(coupons of other campaigns or issued by hand never count); "
                                             "points campaigns: null (they issue no coupons; see bonus_points)")
    conversion: Decimal | None = Field(description="Treated members with an attributed sale (a sale in the window "
                                                   "not refunded in full) / reached; null when reached is 0")
    control_conversion: Decimal | None = Field(description="The same for control members / control; null when "
                                                           "there is no control group")
    lift: Decimal | None = Field(description="conversion - control_conversion; null when there is no control group "
                                             "(or no treated member): nothing to compare with")
    relative_lift: Decimal | None = Field(description="lift / control_conversion; null when lift is null or no "
                                                      "control member converted")
    attributed_sales: Decimal = Field(description="Treated members' sales in the window, less what was refunded of "
                                                  "those sales (control members' sales are not counted)")
    cost: Decimal = Field(description="Coupon campaigns: discount given by the campaign's redeemed coupons; points "
                                      "campaigns: bonus points x point value (by_store: the store of redemption or "
                                      "sale)")
    bonus_points: int = Field(default=0, description="Bonus points the campaign's rules granted (points campaigns)")


class CampaignResults(_Model):
    campaign_id: str
    window_starts_at: datetime = Field(description="Attribution from here: the launch")
    window_ends_at: datetime = Field(description="Attribution until here (excluded): launch + attribution_days")
    total: ResultFigures
    by_store: dict[str, ResultFigures] = Field(description="By home store of the audience's members (`\"\"` for "
                                                           "members with none)")


# ---- events --------------------------------------------------------------------------------------------
class CampaignBonusStarted(EventPayload):
    """A points campaign went live (or resumed, or a member day began): points creates one bonus
    rule per ``rule_key`` (idempotent) in ``stores``. With ``audience_only`` the rule rewards only
    the members ``campaign.audience_granted`` named for this campaign (its treated audience: the
    control group is never named); without it, every member."""

    TYPE = "campaign.bonus_started"
    VERSION = 1
    PRODUCER = "campaigns"

    campaign_id: str
    rule_key: str = Field(description="One bonus rule per key: the campaign, a resumption, or a member day")
    name: str
    starts_at: datetime
    ends_at: datetime
    multiplier: Decimal | None = None
    points_per_sale: int | None = None
    stores: list[str] = Field(default_factory=list)
    audience_only: bool = Field(default=False, description="Only members granted the campaign's audience")
    points_budget: int | None = Field(default=None, ge=0,
                                      description="Most bonus points all of the campaign's rules may grant")
    money_budget: Decimal | None = Field(default=None, ge=0,
                                         description="Most value (bonus points x point value) they may grant")
    per_member_limit: int | None = Field(default=None, ge=1, description="Most sales of one member earning the bonus")


class CampaignAudienceGranted(EventPayload):
    """Members of a points campaign's treated audience, in chunks: points rewards them under the
    campaign's ``audience_only`` bonus rules. A snapshot: members who join the segment later are
    not added. Rules may start before their audience arrives: until then they reward nobody."""

    TYPE = "campaign.audience_granted"
    VERSION = 1
    PRODUCER = "campaigns"

    campaign_id: str
    member_ids: list[str] = Field(min_length=1, max_length=1000)


class CampaignBudgetChanged(EventPayload):
    """A points campaign's caps changed: points applies them to what the campaign's rules grant from
    now on (a cap below what they granted already stops them there). None: no such cap."""

    TYPE = "campaign.budget_changed"
    VERSION = 1
    PRODUCER = "campaigns"

    campaign_id: str
    points_budget: int | None = Field(default=None, ge=0)
    money_budget: Decimal | None = Field(default=None, ge=0)
    granted: int = Field(default=0, ge=0, description="Bonus points campaigns has seen granted so far (where a "
                                                          "new budget starts counting)")


class CampaignBonusEnded(EventPayload):
    """A points campaign was paused or finished: points ends every bonus rule of the campaign now."""

    TYPE = "campaign.bonus_ended"
    VERSION = 1
    PRODUCER = "campaigns"

    campaign_id: str
    ended_at: datetime


BREAKDOWN_FIELDS = ("rfm_group", "abcd", "tier", "lifecycle_class")


class GroupCount(_Model):
    value: str | None = Field(description="The group (null: members not scored yet)")
    members: int


class SegmentBreakdown(_Model):
    """campaigns.breakdown_rule / breakdown_segment: live members per group of each field asked for
    (RFM group, ABCD class, tier, lifecycle class), for charts; one scan of the read model."""

    total: int
    by: dict[str, list[GroupCount]]


CAMPAIGN_MODELS: dict[str, type[BaseModel]] = {
    cls.__name__: cls for cls in (SegmentIn, SegmentOut, SampleMember, SegmentPreview, SnapshotOut, MemberIdPage,
                                  RfmJobOut, Budget, Recurrence, CampaignIn, CampaignOut, HistoryEntry,
                                  ResultFigures, CampaignResults, GroupCount, SegmentBreakdown)
}
CAMPAIGN_EVENTS: tuple[type[EventPayload], ...] = (CampaignAnnounced, CampaignBonusStarted, CampaignBonusEnded,
                                                   CampaignAudienceGranted, CampaignBudgetChanged)
