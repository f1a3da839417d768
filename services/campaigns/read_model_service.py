"""Entrypoints of the member read model (campaigns' own copy of members and their purchase
stats, fed by members' and points' events), and what campaigns holds about one member."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.envelope import Envelope
from contracts.errors import NotFound
from contracts.events import (
    MemberErased,
    MemberMerged,
    MemberRegistered,
    MembersImported,
    MemberUpdated,
    PointsAccrued,
    PointsAdjusted,
    PointsExpired,
    PointsRedeemed,
    PointsReversed,
    TierChanged,
)
from service_runtime.db import Tx
from service_runtime.events import subscribe, subscribe_batch
from services.campaigns import read_model_repo as repo
from services.campaigns.campaigns import launch
from services.campaigns.campaigns import repo as campaigns_repo
from services.campaigns.coupons import interface as coupon_interface
from services.campaigns.ids import as_uuid, uuid_or_none
from services.campaigns.worker import CampaignsWorker, require_role, rpc_method

SEGMENT_FIELDS = ("gender", "birthday", "tags", "registration_store")


def _members_registered(tx: Tx, events: list[MemberRegistered]) -> None:
    repo.members_registered(tx, {event.member_id: {
        "store": event.registration_store, "channel": event.channel, "registered_at": event.registered_at,
        "gender": event.gender, "birthday": event.birthday, "tags": event.tags} for event in events})


class ReadModelEntrypoints(CampaignsWorker):
    @subscribe_batch("members", "member.registered")
    def on_member_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        """In batches (one statement each): registrations come in bursts at opening time."""
        _members_registered(tx, [event for event, _ in events])

    @subscribe_batch("members", "members.imported", max_batch=10)
    def on_members_imported(self, tx: Tx, events: list[tuple[MembersImported, Envelope]]) -> None:
        """A bulk import's members, up to 500 an event, in one statement."""
        _members_registered(tx, [member for event, _ in events for member in event.members])

    @subscribe("members", "member.updated")
    def on_member_updated(self, tx: Tx, event: MemberUpdated, envelope: Envelope) -> None:
        changes = {f: getattr(event, f) for f in SEGMENT_FIELDS if f in event.changed_fields}
        repo.member_updated(tx, event.member_id, event.version, event.status, changes)

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        repo.member_erased(tx, event.member_id)

    @subscribe("members", "member.merged")
    def on_member_merged(self, tx: Tx, event: MemberMerged, envelope: Envelope) -> None:
        repo.member_merged(tx, event.survivor_id, event.merged_id)

    @subscribe_batch("points", "points.accrued")
    def on_points_accrued(self, tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
        """In batches, a few statements each: offline uploads and busy hours bring these in bursts."""
        balances: dict[str, tuple[int, datetime]] = {}
        for event, envelope in events:  # per member the latest balance; the later event wins a tie
            seen = balances.get(event.member_id)
            if seen is None or seen[1] <= envelope.occurred_at:
                balances[event.member_id] = (event.balance, envelope.occurred_at)
        bonuses: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for event, _ in events:
            for campaign_id, points in event.campaign_bonus.items():
                if uuid_or_none(campaign_id) is None:
                    continue  # not one of ours
                n, value = bonuses.get((campaign_id, event.store or ""), (0, Decimal(0)))
                bonuses[(campaign_id, event.store or "")] = (n + points,
                                                             value + points * (event.point_value or Decimal(0)))
        sales = [(e, e.amount) for e, _ in events if e.source == "sale" and e.amount is not None]
        repo.sales_seen(tx, balances, [(e.member_id, e.store, e.occurred_at, 1, amount) for e, amount in sales],
                        bonuses)
        campaigns_repo.attribute_sales(tx, [(e.member_id, e.store, e.reference, e.occurred_at, amount)
                                            for e, amount in sales])
        # the referrer's side of a referral (the referred member's side has their own id as reference)
        launch.on_referrals(tx, [(e.member_id, e.store, env.occurred_at) for e, env in events
                               if e.source == "referral" and e.reference != e.member_id])

    @subscribe("points", "points.reversed")
    def on_points_reversed(self, tx: Tx, event: PointsReversed, envelope: Envelope) -> None:
        repo.balance(tx, event.member_id, event.balance, envelope.occurred_at)
        repo.purchase(tx, event.member_id, event.store, event.refunded_at, 0, -event.amount)
        campaigns_repo.attribute_refund(tx, event.store, event.transaction_id, event.amount)

    @subscribe("points", "points.redeemed")
    def on_points_redeemed(self, tx: Tx, event: PointsRedeemed, envelope: Envelope) -> None:
        repo.balance(tx, event.member_id, event.balance, envelope.occurred_at)

    @subscribe("points", "points.adjusted")
    def on_points_adjusted(self, tx: Tx, event: PointsAdjusted, envelope: Envelope) -> None:
        repo.balance(tx, event.member_id, event.balance, envelope.occurred_at)

    @subscribe("points", "points.expired")
    def on_points_expired(self, tx: Tx, event: PointsExpired, envelope: Envelope) -> None:
        repo.balance(tx, event.member_id, event.balance, envelope.occurred_at)

    @subscribe("points", "tier.changed")
    def on_tier_changed(self, tx: Tx, event: TierChanged, envelope: Envelope) -> None:
        repo.tier(tx, event.member_id, event.new_tier)

    @rpc_method
    def read_model_member(self, member_id: str) -> dict[str, Any]:
        """One member as the read model holds them (operators, tests)."""
        require_role(self.who(), "admin", "marketer", "auditor")
        member_id = as_uuid(member_id, "member_id")
        with self.tx() as tx:
            row = repo.read_member(tx, member_id)
            if row is None:
                raise NotFound("no such member in the read model", "member_id")
            purchases, spend = repo.purchase_totals(tx, member_id)
        return {"member_id": str(row.member_id), "status": row.status, "tier": row.tier, "store": row.store,
                "channel": row.channel, "gender": row.gender,
                "birthday": None if row.birthday is None else row.birthday.isoformat(), "tags": list(row.tags),
                "registered_at": None if row.registered_at is None else row.registered_at.isoformat(),
                "balance": row.balance, "purchases": purchases, "spend": str(spend),
                "last_purchase_at": None if row.last_purchase_at is None else row.last_purchase_at.isoformat()}

    @rpc_method
    def export_member(self, member_id: str) -> dict[str, Any]:
        """What campaigns holds about one member, for a privacy export: the read model's copy, the
        campaigns whose audience they were in (treated or control, rewards given), their coupons
        and their reward exchanges."""
        member_id = as_uuid(member_id, "member_id")
        with self.tx() as tx:
            row = repo.read_member(tx, member_id)
            audiences = repo.member_campaigns(tx, member_id)
            coupons = coupon_interface.member_export(tx, member_id)
        if row is None and not audiences and not any(coupons.values()):
            return {}
        profile = None if row is None else {
            "tier": row.tier, "store": row.store, "channel": row.channel, "gender": row.gender,
            "birthday": None if row.birthday is None else row.birthday.isoformat(), "tags": list(row.tags),
            "balance": row.balance}
        return {"segmentation_profile": profile,
                "campaigns": [{"campaign_id": str(a.campaign_id), "name": a.name, "control_group": a.control,
                               "rewards": a.rewards} for a in audiences], **coupons}
