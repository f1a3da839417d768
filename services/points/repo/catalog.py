"""The read model of the catalog's products and category tree: a newer version replaces an older
one, never the reverse (events of one record can arrive out of order after a redelivery)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from service_runtime.read_models import save_newer
from services.points.tables import catalog_categories, catalog_products


def save_product(tx: Tx, sku: str, category: str | None, category_path: list[str], excluded: bool,
                 version: int) -> None:
    save_newer(tx, catalog_products, "sku", {"sku": sku, "category": category, "category_path": category_path,
                                             "excluded_from_earning": excluded, "version": version})


def save_category(tx: Tx, code: str, parent: str | None, version: int) -> None:
    save_newer(tx, catalog_categories, "code", {"code": code, "parent": parent, "version": version})


def changed_since(tx: Tx, since: datetime | None) -> tuple[datetime, list[Any], list[Any]]:
    """(the database's time now, products, categories) changed after ``since`` (all when None)."""
    now = tx.execute(sa.select(sa.func.now())).scalar_one()
    products = sa.select(catalog_products.c.sku, catalog_products.c.category, catalog_products.c.category_path,
                         catalog_products.c.excluded_from_earning)
    categories = sa.select(catalog_categories.c.code, catalog_categories.c.parent)
    if since is not None:
        products = products.where(catalog_products.c.updated_at > since)
        categories = categories.where(catalog_categories.c.updated_at > since)
    return now, list(tx.execute(products)), list(tx.execute(categories))
