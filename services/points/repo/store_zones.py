"""The read model of the catalog's stores: a newer version replaces an older one, never the reverse
(events of one store can arrive out of order after a redelivery)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from service_runtime.db import Tx
from services.points.tables import store_zones


def save(tx: Tx, store_code: str, time_zone: str, status: str, version: int) -> None:
    stmt = insert(store_zones).values(store_code=store_code, time_zone=time_zone, status=status, version=version)
    tx.execute(stmt.on_conflict_do_update(
        index_elements=[store_zones.c.store_code],
        set_={"time_zone": stmt.excluded.time_zone, "status": stmt.excluded.status,
              "version": stmt.excluded.version, "updated_at": sa.func.now()},
        where=store_zones.c.version < stmt.excluded.version))


def zones(tx: Tx) -> dict[str, str]:
    """Every known store's time zone (a few thousand stores at most)."""
    return {row.store_code: row.time_zone for row in tx.execute(sa.select(store_zones.c.store_code,
                                                                          store_zones.c.time_zone))}
