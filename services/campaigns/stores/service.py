"""Entrypoints of campaigns' read model of the catalog's stores and category tree."""
from __future__ import annotations

from contracts.catalog import CategoryChanged, StoreChanged
from contracts.envelope import Envelope
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.campaigns.stores import repo
from services.campaigns.worker import CampaignsWorker


class StoreEntrypoints(CampaignsWorker):
    @subscribe("catalog", "store.changed")
    def on_store_changed(self, tx: Tx, event: StoreChanged, envelope: Envelope) -> None:
        s = event.store
        repo.save_store(tx, s.code, s.region, s.brand, s.time_zone, s.status, s.version)

    @subscribe("catalog", "category.changed")
    def on_category_changed(self, tx: Tx, event: CategoryChanged, envelope: Envelope) -> None:
        c = event.category
        repo.save_category(tx, c.code, c.parent, c.version)
