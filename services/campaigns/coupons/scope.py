"""A till's basket as the coupons' rules see it: its store's region and brand and each line's
category path, from campaigns' read model of the catalog (read only when a coupon is scoped by them)."""
from __future__ import annotations

from collections.abc import Sequence

from contracts.catalog import category_path
from contracts.coupons import Basket, PreviewBasket
from service_runtime.db import Tx
from services.campaigns.coupons import domain
from services.campaigns.stores import repo as stores


def basket(tx: Tx, basket: Basket | PreviewBasket, rules: Sequence[domain.Rules]) -> domain.Basket:
    region = brand = None
    if any(r.regions is not None or r.brands is not None for r in rules):
        store = stores.store(tx, basket.store)
        region, brand = (store.region, store.brand) if store is not None else (None, None)
    parents = stores.parents(tx, {i.category for i in basket.items if i.category}) \
        if any(r.categories for r in rules) else {}
    lines = [domain.Line(sku=i.sku, amount=i.amount, qty=i.qty, category=i.category,
                         path=category_path(i.category, parents) if i.category else ()) for i in basket.items]
    return domain.Basket(store=basket.store, amount=basket.amount, lines=lines, region=region, brand=brand)

