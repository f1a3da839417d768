"""Points' consumer of the catalog's products and category tree (docs/catalog.md): which SKUs earn
nothing and which category each belongs to, in its own read model. Every process holds it in
memory (``CATALOG``), brought up to date every few seconds with the rows changed since its last
look, so a sale reads no table for it."""
from __future__ import annotations

from datetime import datetime, timedelta

from nameko.timer import timer

from contracts.catalog import CategoryChanged, ProductChanged
from contracts.envelope import Envelope
from contracts.points import Sale
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.points import catalog_rules, store_feed
from services.points.repo import catalog as catalog_repo

CATALOG = catalog_rules.Catalog()
# rows committed a little after a refresh looked can carry an earlier updated_at: look back this far
OVERLAP = timedelta(seconds=30)
_seen: list[datetime] = []  # the database's time at the last refresh (none yet: load everything)


def review(sale: Sale) -> tuple[str, ...]:
    """The sale's flags under the catalog policy; a closed or suspended store raises StoreNotOpen."""
    return (*catalog_rules.store_flags(sale.store, store_feed.status_of(sale.store)),
            *catalog_rules.sku_flags([item.sku for item in sale.items], CATALOG))


class CatalogFeed(store_feed.StoreFeed):
    """PointsService's base, with the store feed's handlers."""

    @subscribe("catalog", "product.changed")
    def on_product_changed(self, tx: Tx, event: ProductChanged, envelope: Envelope) -> None:
        p = event.product
        catalog_repo.save_product(tx, p.sku, p.category, p.category_path, p.excluded_from_earning, p.version)
        # this process at once; the others at their next refresh
        CATALOG.products[p.sku] = catalog_rules.Product(p.category, p.excluded_from_earning, tuple(p.category_path))

    @subscribe("catalog", "category.changed")
    def on_category_changed(self, tx: Tx, event: CategoryChanged, envelope: Envelope) -> None:
        category = event.category
        catalog_repo.save_category(tx, category.code, category.parent, category.version)
        CATALOG.parents[category.code] = category.parent

    @timer(interval=store_feed.REFRESH_SECONDS)
    def refresh_catalog(self) -> None:
        since = _seen[-1] - OVERLAP if _seen else None
        with self.db.transaction() as tx:
            now, products, categories = catalog_repo.changed_since(tx, since)
        CATALOG.products.update((row.sku, catalog_rules.Product(row.category, row.excluded_from_earning,
                                                                tuple(row.category_path))) for row in products)
        CATALOG.parents.update((row.code, row.parent) for row in categories)
        _seen[:] = [now]
