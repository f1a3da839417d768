"""The only code that touches the catalog's tables: one generic record store per kind (stores,
categories, products), each keyed by its code or SKU."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from services.catalog import tables


@dataclass(frozen=True)
class Kind:
    name: str  # store | category | product
    table: sa.Table
    key: str  # the key column: code or sku
    filters: tuple[str, ...]  # columns a list may filter on

    @property
    def key_column(self) -> sa.Column:  # type: ignore[type-arg]
        return self.table.c[self.key]


STORES = Kind("store", tables.stores, "code", ("region", "brand", "status"))
CATEGORIES = Kind("category", tables.categories, "code", ("parent",))
PRODUCTS = Kind("product", tables.products, "sku", ("category", "brand", "excluded_from_earning",
                                                    "coupon_eligible"))
