"""The catalog's master data applied to a sale (docs/catalog.md), pure: the policy for closed,
suspended and unknown stores and unknown SKUs, and each line's exclusion and category path."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from contracts.catalog import category_path
from contracts.errors import StoreNotOpen
from services.points import domain


@dataclass(frozen=True)
class Product:
    """A SKU as points needs it: its category, and whether it earns nothing."""

    category: str | None
    excluded: bool
    path: tuple[str, ...] = ()  # as the product's own event said (used until its category is known)


@dataclass
class Catalog:
    """What points knows of the catalog: products by SKU and each category's parent."""

    products: dict[str, Product] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)

    def path(self, category: str, product: Product | None = None) -> tuple[str, ...]:
        """The category's path by the tree as it is now (a category moves without its products
        being announced again); the product's own until the category is announced."""
        if category in self.parents:
            return category_path(category, self.parents)
        if product is not None and product.category == category and product.path:
            return product.path
        return (category,)


def store_flags(store: str, status: str | None) -> tuple[str, ...]:
    """A closed or suspended store's sale is refused (the till should not be selling); a store the
    catalog never announced is accepted and flagged (master data lags the tills)."""
    if status is None:
        return ("unknown_store",)
    if status != "open":
        raise StoreNotOpen(f"store {store} is {status}: it may not record sales", "store")
    return ()


def sku_flags(skus: Sequence[str], catalog: Catalog) -> tuple[str, ...]:
    """A SKU the catalog does not know earns as an ordinary line, flagged."""
    return ("unknown_sku",) if any(sku not in catalog.products for sku in skus) else ()


def apply(lines: Sequence[domain.Line], catalog: Catalog) -> list[domain.Line]:
    """Each line as the catalog knows its SKU: excluded from earning or not, its category filled
    in when the till sent none, and its category's path for rules on a category's subtree (an
    unknown SKU's category too, when the catalog knows the category)."""
    out = []
    for line in lines:
        product = catalog.products.get(line.sku) if line.sku is not None else None
        category = line.category or (product.category if product is not None else None)  # the till's wins
        if category is None:
            out.append(replace(line, excluded=product is not None and product.excluded))
            continue
        out.append(replace(line, category=category, path=catalog.path(category, product),
                           excluded=product is not None and product.excluded))
    return out
