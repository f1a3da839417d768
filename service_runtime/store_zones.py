"""The catalog's store time zones kept by a service that computes local days (birthdays, quiet
hours): a ``store_zones`` table in the service's own database fed by ``store.changed``, read with
STORE_TIMEZONES (then STORE_DEFAULT_TIMEZONE) as the fallback for stores the catalog never announced.

    class MembersService(StoreZoneFeed):  # adds the store.changed handler
        ...
    zones = store_zones.current(tx, tables.store_zones)
"""
from __future__ import annotations

import sqlalchemy as sa

from contracts.catalog import StoreChanged
from contracts.envelope import Envelope
from service_runtime.base import ServiceBase
from service_runtime.config import StoreZones
from service_runtime.db import Tx
from service_runtime.events import subscribe
from service_runtime.read_models import save_newer


def table(metadata: sa.MetaData) -> sa.Table:
    """The read model's table in a service's metadata (its migration creates the same)."""
    return sa.Table(
        "store_zones", metadata,
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("time_zone", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def current(tx: Tx, zones: sa.Table) -> StoreZones:
    """Every store's zone: the catalog's where it announced the store, the environment's otherwise."""
    fallback = StoreZones.from_env()
    announced = {row.code: row.time_zone for row in tx.execute(sa.select(zones.c.code, zones.c.time_zone))}
    return StoreZones({**fallback.named, **announced}, fallback.default)


def zone_of(tx: Tx, zones: sa.Table, store: str | None, fallback: StoreZones | None = None) -> str:
    """One store's zone: the catalog's, else the fallback's (the environment's by default)."""
    found = tx.execute(sa.select(zones.c.time_zone).where(zones.c.code == store)).scalar() if store else None
    return found or (fallback or StoreZones.from_env()).zone_of(store)


class StoreZoneFeed(ServiceBase):
    """A service base whose ``store.changed`` handler keeps ``store_zones_table`` up to date."""

    store_zones_table: sa.Table

    @subscribe("catalog", "store.changed")
    def on_store_changed(self, tx: Tx, event: StoreChanged, envelope: Envelope) -> None:
        store = event.store
        save_newer(tx, self.store_zones_table, "code",
                   {"code": store.code, "time_zone": store.time_zone, "version": store.version})
