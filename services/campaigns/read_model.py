"""Use cases of the member read model: points' accruals folded in, one member as it is held, and
what campaigns holds about a member for a privacy export."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.access import id_or_none
from contracts.envelope import Envelope
from contracts.errors import NotFound
from contracts.events import (
    MemberLifecycleChanged,
    PointsAccrued,
    PointsAdjusted,
    PointsExpired,
    PointsRedeemed,
    PointsReversed,
    TierChanged,
)
from service_runtime.db import Tx
from services.campaigns import read_model_repo as repo
from services.campaigns.campaigns import launch
from services.campaigns.campaigns import repo as campaigns_repo
from services.campaigns.coupons import interface as coupon_interface

# events that report a member's balance after them
BalanceEvent = PointsAccrued | PointsReversed | PointsRedeemed | PointsAdjusted | PointsExpired


def latest_balances(events: Sequence[tuple[BalanceEvent, Envelope]]) -> dict[str, tuple[int, datetime]]:
    """Per member the latest balance; the later event wins a tie."""
    balances: dict[str, tuple[int, datetime]] = {}
    for event, envelope in events:
        seen = balances.get(event.member_id)
        if seen is None or seen[1] <= envelope.occurred_at:
            balances[event.member_id] = (event.balance, envelope.occurred_at)
    return balances


def campaign_bonuses(events: list[tuple[PointsAccrued, Envelope]]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Bonus points (and their value) per (campaign, store), for our campaigns only."""
    bonuses: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for event, _ in events:
        for campaign_id, points in event.campaign_bonus.items():
            if id_or_none(campaign_id) is None:
                continue  # not one of ours
            n, value = bonuses.get((campaign_id, event.store or ""), (0, Decimal(0)))
            bonuses[(campaign_id, event.store or "")] = (n + points,
                                                         value + points * (event.point_value or Decimal(0)))
    return bonuses


def record_accruals(tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
    """Balances, purchase stats, campaign bonuses and attributed sales, then referral coupons."""
    sales = [(e, e.amount) for e, _ in events if e.source == "sale" and e.amount is not None]
    repo.sales_seen(tx, latest_balances(events),
                    [(e.member_id, e.store, e.occurred_at, 1, amount) for e, amount in sales], campaign_bonuses(events))
    campaigns_repo.attribute_sales(tx, [(e.member_id, e.store, e.reference, e.occurred_at, amount)
                                        for e, amount in sales])
    # the referrer's side of a referral (the referred member's side has their own id as reference)
    launch.on_referrals(tx, [(e.member_id, e.store, env.occurred_at) for e, env in events
                             if e.source == "referral" and e.reference != e.member_id])


def record_refunds(tx: Tx, events: list[tuple[PointsReversed, Envelope]]) -> None:
    """Balances, the refunded amounts off the days' spend, and off the campaigns' attributed sales."""
    repo.sales_seen(tx, latest_balances(events),
                    [(e.member_id, e.store, e.refunded_at, 0, -e.amount) for e, _ in events])
    refunds: dict[tuple[str, str], Decimal] = {}
    for event, _ in events:
        key = (event.store, event.transaction_id)
        refunds[key] = refunds.get(key, Decimal(0)) + event.amount
    campaigns_repo.attribute_refunds(tx, refunds)


def record_tiers(tx: Tx, events: list[tuple[TierChanged, Envelope]]) -> None:
    """Each member's tier as the last of their changes in the batch set it (in the order they came)."""
    repo.tiers(tx, {event.member_id: event.new_tier for event, _ in events})


def lifecycle_changed(tx: Tx, events: list[tuple[MemberLifecycleChanged, Envelope]]) -> None:
    """Keep each member's class (the newest change wins), then give what campaigns it triggers
    give; a change that arrives after a newer one triggers nothing (it is no longer the class)."""
    latest: dict[str, MemberLifecycleChanged] = {}
    for event, _ in events:
        seen = latest.get(event.member_id)
        if seen is None or seen.changed_at <= event.changed_at:
            latest[event.member_id] = event
    applied = repo.lifecycle_changes(tx, {m: (e.to_class, e.changed_at) for m, e in latest.items()})
    triggering = campaigns_repo.triggered_classes(tx)  # most batches (a daily run's) trigger nothing
    for member_id in sorted(applied):
        event = latest[member_id]
        if event.to_class in triggering:
            launch.on_lifecycle(tx, member_id, event.to_class, event.registration_store, event.changed_at)


def member_view(tx: Tx, member_id: str) -> dict[str, Any]:
    row = repo.read_member(tx, member_id)
    if row is None:
        raise NotFound("no such member in the read model", "member_id")
    purchases, spend = repo.purchase_totals(tx, member_id)
    return {"member_id": str(row.member_id), "status": row.status, "tier": row.tier, "store": row.store,
            "channel": row.channel, "gender": row.gender,
            "birthday": None if row.birthday is None else row.birthday.isoformat(), "tags": list(row.tags),
            "registered_at": None if row.registered_at is None else row.registered_at.isoformat(),
            "balance": row.balance, "purchases": purchases, "spend": str(spend),
            "lifecycle_class": row.lifecycle_class or "new",
            "last_purchase_at": None if row.last_purchase_at is None else row.last_purchase_at.isoformat()}


def member_export(tx: Tx, member_id: str) -> dict[str, Any]:
    """The read model's copy, the campaigns whose audience they were in (treated or control,
    rewards given), their coupons and their reward exchanges; {} when there is nothing."""
    row = repo.read_member(tx, member_id)
    audiences = repo.member_campaigns(tx, member_id)
    coupons = coupon_interface.member_export(tx, member_id)
    if row is None and not audiences and not any(coupons.values()):
        return {}
    profile = None if row is None else {
        "tier": row.tier, "store": row.store, "channel": row.channel, "gender": row.gender,
        "birthday": None if row.birthday is None else row.birthday.isoformat(), "tags": list(row.tags),
        "balance": row.balance, "lifecycle_class": row.lifecycle_class}
    return {"segmentation_profile": profile,
            "campaigns": [{"campaign_id": str(a.campaign_id), "name": a.name, "control_group": a.control,
                           "rewards": a.rewards} for a in audiences], **coupons}
