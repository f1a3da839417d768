"""The read model of the catalog's stores: a newer version replaces an older one, never the reverse
(events of one store can arrive out of order after a redelivery)."""
from __future__ import annotations

import sqlalchemy as sa

from service_runtime.db import Tx
from service_runtime.read_models import save_newer
from services.points.tables import store_zones


def save(tx: Tx, store_code: str, time_zone: str, status: str, version: int) -> None:
    save_newer(tx, store_zones, "store_code", {"store_code": store_code, "time_zone": time_zone, "status": status,
                                               "version": version})


def zones(tx: Tx) -> dict[str, tuple[str, str]]:
    """Every known store's (time zone, status) (a few thousand stores at most)."""
    return {row.store_code: (row.time_zone, row.status) for row in tx.execute(
        sa.select(store_zones.c.store_code, store_zones.c.time_zone, store_zones.c.status))}
