"""The rewards catalog: coupon and gift items priced in points."""
from __future__ import annotations

from typing import Any

from contracts import paging
from contracts.access import parse_id
from contracts.coupons import CatalogItem
from contracts.errors import InvalidInput, NotFound
from service_runtime.db import Tx
from services.campaigns.coupons import catalog_repo, repo
from services.campaigns.coupons.views import item_out


def check_item(item: CatalogItem) -> None:
    """A coupon item names its template and a gift item its sku and stock, never the other's."""
    if item.kind == "coupon":
        if item.template_id is None:
            raise InvalidInput("a coupon item names its template", "template_id")
        if item.gift_sku is not None:
            raise InvalidInput("only for gift items", "gift_sku")
    else:
        if item.gift_sku is None:
            raise InvalidInput("a gift item names its sku", "gift_sku")
        if item.stock is None:
            raise InvalidInput("a gift item has a stock", "stock")
        if item.template_id is not None:
            raise InvalidInput("only for coupon items", "template_id")


def create(tx: Tx, item: CatalogItem) -> dict[str, Any]:
    if item.template_id is not None:
        item.template_id = parse_id(item.template_id, "template_id")
        if repo.get_template(tx, item.template_id) is None:
            raise NotFound("no such coupon template", "template_id")
    return item_out(catalog_repo.add_item(tx, item.model_dump()))


def page(tx: Tx, active_only: bool, limit: int, after: list[Any] | None) -> dict[str, Any]:
    """A page of the catalog, cheapest first: {"items", "next"}."""
    limit = paging.check_limit(limit)
    start = paging.position(after, paging.ITEM_POSITION)
    rows, more = paging.cut(catalog_repo.items(tx, active_only, limit + 1, start),
                            limit, lambda r: [int(r.points), r.name, str(r.id)])
    return {"items": [item_out(r) for r in rows], "next": more}


def restock(tx: Tx, item_id: str, add: int) -> dict[str, Any]:
    row = catalog_repo.restock(tx, item_id, add)
    if row is None:
        raise NotFound("no such catalog item", "item_id")
    return item_out(row)
