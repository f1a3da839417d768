"""Points' consumer of the catalog's stores (docs/catalog.md): keeps each store's time zone and
status in its own read model, and every process holds them in memory, refreshed from it every
few seconds (each replica consumes only some events), so ``inputs.zone`` and the sales policy read
no table per sale. STORE_TIMEZONES is the fallback for stores the catalog has not announced."""
from __future__ import annotations

import logging

from contracts.catalog import StoreChanged
from contracts.envelope import Envelope
from service_runtime.base import ServiceBase
from service_runtime.config import env
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.points.repo import store_zones

log = logging.getLogger(__name__)
ZONES: dict[str, str] = {}  # store code -> IANA zone, as the catalog last said
STATUSES: dict[str, str] = {}  # store code -> open, closed or suspended
REFRESH_SECONDS = float(env("POINTS_STORE_ZONES_REFRESH_SECONDS", "2"))


def zone_of(store_code: str | None) -> str | None:
    return ZONES.get(store_code) if store_code else None


def status_of(store_code: str) -> str | None:
    """The store's status as the catalog last said (None: never announced)."""
    return STATUSES.get(store_code)


class StoreFeed(ServiceBase):
    """PointsService's base: its handler queues are declared with the service's (catalog_feed.py
    refreshes what it keeps)."""

    @subscribe("catalog", "store.changed")
    def on_store_changed(self, tx: Tx, event: StoreChanged, envelope: Envelope) -> None:
        store = event.store
        store_zones.save(tx, store.code, store.time_zone, store.status, store.version)
        # this process at once; the others at their next refresh
        ZONES[store.code], STATUSES[store.code] = store.time_zone, store.status


def load(tx: Tx) -> None:
    """Every store as the read model holds it now (the processes that did not consume an event)."""
    fresh = store_zones.zones(tx)
    ZONES.clear()
    ZONES.update((code, zone) for code, (zone, _) in fresh.items())
    STATUSES.clear()
    STATUSES.update((code, status) for code, (_, status) in fresh.items())
