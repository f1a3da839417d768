"""Campaign results: reached, delivered, redeemed, conversion, attributed sales, cost and lift,
for the campaign and per home store of its members, as docs/decisions/0012 defines them."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from contracts.access import MARKETING_READERS, Caller
from contracts.campaigns import CampaignResults, ResultFigures
from service_runtime.db import Tx
from services.campaigns import read_model_repo
from services.campaigns.campaigns import repo, rules
from services.campaigns.coupons import interface as coupon_interface

Group = tuple[int, int, int, Decimal]  # members, delivered, converted, attributed sales


def results(tx: Tx, row: Any, caller: Caller) -> CampaignResults:
    """A launched campaign's results. Store managers see only their stores' rows, and a total over those."""
    groups = repo.results(tx, str(row.id))
    coupons = coupon_interface.campaign_coupon_stats(tx, str(row.id)) if row.type in rules.COUPON_TYPES else None
    bonus = read_model_repo.bonus_granted(tx, str(row.id)) if row.type in rules.POINTS_TYPES else {}
    # a store manager (no chain-wide reading role) sees their stores only, and a total over those
    mine_only = caller.stores if caller.kind == "staff" and "manager" in caller.roles and not (
        MARKETING_READERS & set(caller.roles)) else None
    by_store: dict[str, dict[str, Group]] = {}
    for g in groups:
        entry = by_store.setdefault(g.store, {"t": (0, 0, 0, Decimal(0)), "c": (0, 0, 0, Decimal(0))})
        entry["c" if g.control else "t"] = (g.members, g.delivered, g.converted, Decimal(g.spend))
    if mine_only is not None:
        by_store = {s: v for s, v in by_store.items() if s in mine_only}
        bonus = {s: v for s, v in bonus.items() if s in mine_only}
        if coupons is not None:
            mine = [coupons.get("by_store", {}).get(s, {}) for s in mine_only]
            coupons = {**coupons, "redeemed": sum(int(m.get("redeemed", 0)) for m in mine),
                       "discount": sum((Decimal(m.get("discount", 0)) for m in mine), Decimal(0))}
    stores = {s: _figures(v, coupons, s, bonus) for s, v in sorted(by_store.items())}
    total = {k: _sum([v[k] for v in by_store.values()]) for k in ("t", "c")}
    return CampaignResults(campaign_id=str(row.id), window_starts_at=row.launched_at,
                           window_ends_at=row.launched_at + timedelta(days=row.attribution_days),
                           total=_figures(total, coupons, None, bonus), by_store=stores)


def _sum(groups: list[Group]) -> Group:
    return (sum(g[0] for g in groups), sum(g[1] for g in groups), sum(g[2] for g in groups),
            sum((g[3] for g in groups), Decimal(0)))


def _figures(v: dict[str, Group], coupons: dict[str, Any] | None, store: str | None,
             bonus: dict[str, tuple[int, Decimal]]) -> ResultFigures:
    reached, delivered, converted, spend = v["t"]
    control, _, control_converted, _ = v["c"]
    granted = list(bonus.values()) if store is None else [bonus[store]] if store in bonus else []
    redeemed: int | None = None  # a points campaign issues no coupons: nothing of its own to redeem
    if coupons is None:
        cost = sum((value for _, value in granted), Decimal(0)).quantize(Decimal("0.01"))
    elif store is None:
        redeemed, cost = int(coupons["redeemed"]), Decimal(coupons["discount"])
    else:
        mine = coupons.get("by_store", {}).get(store, {})
        redeemed, cost = int(mine.get("redeemed", 0)), Decimal(mine.get("discount", 0))
    return ResultFigures(reached=reached, control=control, delivered=delivered, redeemed=redeemed,
                         attributed_sales=spend.quantize(Decimal("0.01")), cost=cost,
                         bonus_points=sum(p for p, _ in granted),
                         **rules.figures(reached, control, converted, control_converted))
