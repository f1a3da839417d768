"""Points' consumer of the catalog's stores (docs/catalog.md): keeps each store's time zone and
status in its own read model. Reading zones from it instead of STORE_TIMEZONES is the next step."""
from __future__ import annotations

from contracts.catalog import StoreChanged
from contracts.envelope import Envelope
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.points.repo import store_zones


class StoreFeed:
    """Mixed into PointsService: its handler queues are declared with the service's."""

    @subscribe("catalog", "store.changed")
    def on_store_changed(self, tx: Tx, event: StoreChanged, envelope: Envelope) -> None:
        store = event.store
        store_zones.save(tx, store.code, store.time_zone, store.status, store.version)
