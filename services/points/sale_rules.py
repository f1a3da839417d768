"""Rules of recording sales that need no database: replays and in-batch duplicates, the day's
points under a daily cap, qualifying spend for tiers, campaigns' share of the bonus. Pure."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from contracts.errors import Conflict, NotFound
from contracts.events import SoldLine
from contracts.points import Sale
from services.points import catalog_rules, domain
from services.points.catalog_rules import Catalog


class Recorded(Protocol):
    """A sale already recorded under the same (store, transaction id)."""

    request_hash: str
    result: dict[str, Any]


def replay(key: tuple[str, str], digest: str, existing: Mapping[tuple[str, str], Recorded]
           ) -> dict[str, Any] | None:
    """The answer of a sale recorded before with this body (None: not recorded); a different
    body under the same transaction id is a conflict."""
    if key not in existing:
        return None
    if existing[key].request_hash != digest:
        raise Conflict("this transaction_id was recorded with a different body", "transaction_id")
    return {**existing[key].result, "replayed": True}


def same_as(key: tuple[str, str], digest: str, seen: Mapping[tuple[str, str], tuple[str, int]]) -> int | None:
    """The index of the same sale earlier in this batch (None: first time); a different body
    under the same transaction id is a conflict."""
    if key not in seen:
        return None
    if seen[key][0] != digest:
        raise Conflict("this transaction_id appears twice with different bodies", "transaction_id")
    return seen[key][1]


def unknown_member(sale: Sale) -> NotFound:
    if sale.member_id:
        return NotFound("unknown member: no member has this id", "member_id")
    return NotFound("unknown member: no member has this card number", "member_number")


def lines(sale: Sale, catalog: Catalog) -> tuple[list[domain.Line], Decimal]:
    """The sale's lines for earning (one line of its amount when it has none), each as the catalog
    knows its SKU (excluded, its category and path), and its sale discount."""
    out = catalog_rules.apply([domain.Line(i.sku, i.category, i.amount, i.discount) for i in sale.items], catalog) \
        or [domain.Line(None, None, sale.amount)]
    return out, sum((d.amount for d in sale.discounts), Decimal(0))


def sold_lines(sale: Sale) -> list[SoldLine] | None:
    """The sale's lines for analytics (top categories and SKUs); None for a sale sent without lines."""
    return [SoldLine(sku=i.sku, category=i.category, qty=i.qty, amount=i.amount - i.discount)
            for i in sale.items] or None


def earned_today(recorded: int, batch: Iterable[Mapping[str, Any]], member_id: str, start: datetime,
                 end: datetime) -> int:
    """Points the member earned in the local day [start, end): recorded before, plus this
    batch's sales written ahead of this one (for the daily cap)."""
    return recorded + sum(int(r["points"]) for r in batch
                          if r["member_id"] == member_id and start <= r["sold_at"] < end)


def qualifying_after(totals: tuple[Decimal, int], sold_at: datetime, since: datetime, net_amount: Decimal,
                     points: int) -> tuple[Decimal, int]:
    """(spend, points) in the tier window with this sale, which counts if sold inside it."""
    spend, earned = totals
    if sold_at >= since:
        return spend + net_amount, earned + points
    return spend, earned


def qualifying(basis: str, totals: tuple[Decimal, int]) -> Decimal:
    """What the tiers are measured by: spend, or points."""
    return totals[0] if basis == "spend" else Decimal(totals[1])


def campaign_bonus(earning: domain.Earning, bonuses: Iterable[domain.Bonus]) -> dict[str, int]:
    """Bonus points this earning really pays by campaign id (after caps and budget cuts)."""
    campaign_of = {f"bonus:{b.rule_id}": b.source.removeprefix("campaign:") for b in bonuses
                   if b.source.startswith("campaign:")}
    out: dict[str, int] = {}
    for label, points in domain.paid_bonus(earning).items():
        if label in campaign_of and points:
            out[campaign_of[label]] = out.get(campaign_of[label], 0) + points
    return out
