"""The member read model (rm_*), campaigns' own copy of what segments need: the event
projections that write it and the reads of one member. Only code here and in segments/ touches it."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.bulk import insert_rows, update_rows
from service_runtime.db import Tx
from services.campaigns.campaigns.tables import campaign_bonus
from services.campaigns.segments.tables import (
    rm_members,
    rm_purchases,
    rm_scores,
)

M = rm_members
S = rm_scores


# ---- read model projections (each runs once per event: the inbox) --------------------------------
def _ensure_member(tx: Tx, member_id: str) -> None:
    tx.execute(pg_insert(M).values(member_id=member_id).on_conflict_do_nothing())


_PROFILE = ("store", "gender", "birthday", "tags")
# a member known already (an event of theirs came first) gets registration facts, and profile
# fields only if no newer profile update came first
_REGISTERED_UPSERT = (("member_id",), {
    "registered_at": "EXCLUDED.registered_at", "channel": "EXCLUDED.channel",
    **{c: f'CASE WHEN rm_members.profile_version = 0 THEN EXCLUDED."{c}" ELSE rm_members."{c}" END' for c in _PROFILE},
})


def members_registered(tx: Tx, registered: dict[str, dict[str, Any]]) -> None:
    """Open (or complete) members, by member id, in one statement (a member import is a burst)."""
    rows = [{"member_id": member_id, **values, "tags": values.get("tags") or []}
            for member_id, values in registered.items()]
    insert_rows(tx, M, rows, upsert=_REGISTERED_UPSERT)


def member_updated(tx: Tx, member_id: str, version: int, status: str, changes: dict[str, Any]) -> None:
    """Apply the segmentation fields of a newer profile version (older versions change nothing)."""
    _ensure_member(tx, member_id)
    values: dict[str, Any] = {"profile_version": version}
    if "registration_store" in changes:
        values["store"] = changes.pop("registration_store")
    if "tags" in changes:
        changes["tags"] = changes["tags"] or []
    values.update(changes)
    tx.execute(M.update().where(M.c.member_id == member_id, M.c.profile_version < version).values(**values))
    tx.execute(M.update().where(M.c.member_id == member_id, M.c.status.in_(("active", "frozen")))
               .values(status="frozen" if status == "frozen" else "active"))


def lifecycle_changes(tx: Tx, changes: dict[str, tuple[str, datetime]]) -> set[str]:
    """Members' classes (member -> (class, time of the change)) in two statements, each unless a
    later change came first (events may arrive out of order): the members whose class it now is.
    Rows are locked in member order first (no deadlock between two batches)."""
    ids = sorted(changes)
    tx.execute(pg_insert(M).values([{"member_id": m} for m in ids]).on_conflict_do_nothing())
    tx.execute(sa.select(M.c.member_id).where(M.c.member_id.in_(ids)).order_by(M.c.member_id).with_for_update())
    return {str(m) for m in tx.execute(sa.text("""
        UPDATE rm_members m SET lifecycle_class = c.cls, lifecycle_at = c.at
        FROM unnest(CAST(:ids AS uuid[]), CAST(:cls AS text[]), CAST(:ats AS timestamptz[])) AS c(id, cls, at)
        WHERE m.member_id = c.id AND (m.lifecycle_at IS NULL OR m.lifecycle_at <= c.at)
        RETURNING m.member_id"""), {"ids": ids, "cls": [changes[m][0] for m in ids],
                                    "ats": [changes[m][1] for m in ids]}).scalars()}


def member_erased(tx: Tx, member_id: str) -> None:
    """Personal attributes go; purchase totals (not personal) stay for the chain's figures."""
    _ensure_member(tx, member_id)
    tx.execute(M.update().where(M.c.member_id == member_id).values(
        status="erased", gender=None, birthday=None, tags=[], profile_version=2**31 - 1))


def member_merged(tx: Tx, survivor_id: str, merged_id: str) -> None:
    """The merged member's purchases count for the survivor from now on."""
    _ensure_member(tx, survivor_id)
    _ensure_member(tx, merged_id)
    tx.execute(sa.text("""
        INSERT INTO rm_purchases (member_id, day, store, purchases, spend)
        SELECT :s, day, store, purchases, spend FROM rm_purchases WHERE member_id = :m
        ON CONFLICT (member_id, day, store) DO UPDATE
        SET purchases = rm_purchases.purchases + excluded.purchases, spend = rm_purchases.spend + excluded.spend"""),
        {"s": survivor_id, "m": merged_id})
    tx.execute(rm_purchases.delete().where(rm_purchases.c.member_id == merged_id))
    tx.execute(sa.text("""
        UPDATE rm_members s SET last_purchase_at = greatest(s.last_purchase_at, m.last_purchase_at)
        FROM rm_members m WHERE s.member_id = :s AND m.member_id = :m"""), {"s": survivor_id, "m": merged_id})
    tx.execute(M.update().where(M.c.member_id == merged_id).values(status="merged"))


_NEWER = "rm_members.balance_at IS NULL OR rm_members.balance_at <= EXCLUDED.balance_at"
# a balance unless a later one is there already, and the latest purchase time: one statement
_SEEN_UPSERT = (("member_id",), {
    "balance": f"CASE WHEN {_NEWER} THEN EXCLUDED.balance ELSE rm_members.balance END",
    "balance_at": f"CASE WHEN {_NEWER} THEN EXCLUDED.balance_at ELSE rm_members.balance_at END",
    "last_purchase_at": "greatest(rm_members.last_purchase_at, EXCLUDED.last_purchase_at)",  # NULLs ignored
})


def balances_seen(tx: Tx, balances: dict[str, tuple[int, datetime]],
                  last_purchases: dict[str, datetime] | None = None) -> None:
    """Each member's balance as of its time, unless a later one is there already, and the time
    of their latest purchase if later than the one held (one statement; members new to the read
    model open with them)."""
    last = last_purchases or {}
    insert_rows(tx, M, [{"member_id": m, "balance": value, "balance_at": at, "last_purchase_at": last.get(m)}
                        for m, (value, at) in balances.items()], upsert=_SEEN_UPSERT)
    # a purchase without a balance (never from points' events, which all carry one)
    update_rows(tx, M, [{"member_id": m, "last_purchase_at": at} for m, at in last.items() if m not in balances],
                key=["member_id"], values={"last_purchase_at": "r.last_purchase_at"},
                where="rm_members.last_purchase_at IS NULL OR rm_members.last_purchase_at < r.last_purchase_at")


def sales_seen(tx: Tx, balances: dict[str, tuple[int, datetime]],
               purchases: list[tuple[str, str | None, datetime, int, Decimal]],
               bonuses: dict[tuple[str, str], tuple[int, Decimal]] | None = None) -> None:
    """A batch of points events in two or three statements whatever its size: each member's latest
    balance (by event time, unless a later one is there already), the batch's purchases
    (member, store, time, count, amount) summed per member, day and store, and the bonus points
    (and their value) campaigns granted, by (campaign, store)."""
    if bonuses:
        insert_rows(tx, campaign_bonus, [{"campaign_id": c, "store": shop, "points": n, "value": value}
                                         for (c, shop), (n, value) in bonuses.items()],
                    upsert=(("campaign_id", "store"), {"points": "campaign_bonus.points + EXCLUDED.points",
                                                       "value": "campaign_bonus.value + EXCLUDED.value"}))
    days: dict[tuple[str, date, str], list[Any]] = {}
    last: dict[str, datetime] = {}
    for member_id, shop, at, count, amount in purchases:
        day = days.setdefault((member_id, at.date(), shop or ""), [0, Decimal(0)])
        day[0] += count
        day[1] += amount
        if count > 0 and (member_id not in last or last[member_id] < at):
            last[member_id] = at
    insert_rows(tx, rm_purchases, [{"member_id": m, "day": d, "store": shop, "purchases": n, "spend": spend}
                                   for (m, d, shop), (n, spend) in days.items()],
                upsert=(("member_id", "day", "store"), {"purchases": "rm_purchases.purchases + EXCLUDED.purchases",
                                                        "spend": "rm_purchases.spend + EXCLUDED.spend"}))
    balances_seen(tx, balances, last)


def bonus_granted(tx: Tx, campaign_id: str) -> dict[str, tuple[int, Decimal]]:
    """Bonus points and their value a points campaign granted, by store of sale."""
    rows = tx.execute(sa.select(campaign_bonus.c.store, campaign_bonus.c.points, campaign_bonus.c.value)
                      .where(campaign_bonus.c.campaign_id == campaign_id))
    return {r.store: (int(r.points), Decimal(r.value)) for r in rows}


def tiers(tx: Tx, tiers: dict[str, str]) -> None:
    """Members' tiers as last reported (two statements)."""
    insert_rows(tx, M, [{"member_id": m} for m in tiers], on_conflict_do_nothing=True)
    update_rows(tx, M, [{"member_id": m, "tier": t} for m, t in tiers.items()], key=["member_id"],
                values={"tier": "r.tier"})


def read_member(tx: Tx, member_id: str) -> Any:
    return tx.execute(sa.select(M).where(M.c.member_id == member_id)).first()


def member_campaigns(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.text("""
        SELECT cm.campaign_id, c.name, cm.control, cm.rewards FROM campaign_members cm
        JOIN campaigns c ON c.id = cm.campaign_id WHERE cm.member_id = :m ORDER BY c.created_at"""),
        {"m": member_id}).all())


def purchase_totals(tx: Tx, member_id: str) -> tuple[int, Decimal]:
    row = tx.execute(sa.select(sa.func.coalesce(sa.func.sum(rm_purchases.c.purchases), 0),
                               sa.func.coalesce(sa.func.sum(rm_purchases.c.spend), 0))
                     .where(rm_purchases.c.member_id == member_id)).one()
    return int(row[0]), Decimal(row[1])
