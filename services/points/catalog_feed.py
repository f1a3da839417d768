"""Points' consumer of the catalog's products and category tree (docs/catalog.md): which SKUs earn
nothing and which category each belongs to, in its own read model. Every process holds it in
memory (``CATALOG``, and the stores in store_feed), brought up to date every few seconds with the
rows changed since its last look, so a sale reads no table for it."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from contracts.catalog import CategoryChanged, ProductChanged
from contracts.envelope import Envelope
from contracts.points import Sale
from service_runtime.config import settings_for
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.points import catalog_rules, store_feed
from services.points.repo import catalog as catalog_repo

log = logging.getLogger(__name__)
CATALOG = catalog_rules.Catalog()
# rows committed a little after a refresh looked can carry an earlier updated_at: look back this far
OVERLAP = timedelta(seconds=30)
_seen: list[datetime] = []  # the database's time at the last refresh (none yet: load everything)


def review(sale: Sale) -> tuple[str, ...]:
    """The sale's flags under the catalog policy; a closed or suspended store raises StoreNotOpen."""
    return (*catalog_rules.store_flags(sale.store, store_feed.status_of(sale.store)),
            *catalog_rules.sku_flags([item.sku for item in sale.items], CATALOG))


def refresh(tx: Tx) -> None:
    """Stores, then the products and categories changed since the last look (all at the first)."""
    store_feed.load(tx)
    now, products, categories = catalog_repo.changed_since(tx, _seen[-1] - OVERLAP if _seen else None)
    CATALOG.products.update((row.sku, catalog_rules.Product(row.category, row.excluded_from_earning,
                                                            tuple(row.category_path))) for row in products)
    CATALOG.parents.update((row.code, row.parent) for row in categories)
    _seen[:] = [now]


class _LoadAtStart(DependencyProvider):
    """Reads the read model when the service sets up, before any entrypoint starts: a process just
    started must not take a closed store's sale or let an excluded SKU earn until its first refresh."""

    def setup(self) -> None:
        engine = sa.create_engine(settings_for(self.container.service_name).database_url,
                                  poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                refresh(Tx(conn, self.container.service_name))
        except sa.exc.SQLAlchemyError:  # the database is away: the timer loads it once it is back
            log.warning("could not read the catalog read model at start; the refresh timer will", exc_info=True)
        finally:
            engine.dispose()


class CatalogFeed(store_feed.StoreFeed):
    """PointsService's base, with the store feed's handlers."""

    catalog_at_start = _LoadAtStart()

    # every process, this one included, takes the change from the table at its next refresh: memory
    # changed here before the commit would stay wrong if the transaction failed (refreshes are incremental)
    @subscribe("catalog", "product.changed")
    def on_product_changed(self, tx: Tx, event: ProductChanged, envelope: Envelope) -> None:
        p = event.product
        catalog_repo.save_product(tx, p.sku, p.category, p.category_path, p.excluded_from_earning, p.version)

    @subscribe("catalog", "category.changed")
    def on_category_changed(self, tx: Tx, event: CategoryChanged, envelope: Envelope) -> None:
        category = event.category
        catalog_repo.save_category(tx, category.code, category.parent, category.version)

    @timer(interval=store_feed.REFRESH_SECONDS)
    def refresh_catalog(self) -> None:
        with self.db.transaction() as tx:
            refresh(tx)
