"""The only code that touches campaigns' read model of the catalog's stores and category tree."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from service_runtime.read_models import save_newer
from services.campaigns.stores.tables import catalog_categories, catalog_stores


def save_store(tx: Tx, code: str, region: str | None, brand: str | None, time_zone: str, status: str,
               version: int) -> None:
    save_newer(tx, catalog_stores, "code", {"code": code, "region": region, "brand": brand, "time_zone": time_zone,
                                            "status": status, "version": version})


def save_category(tx: Tx, code: str, parent: str | None, version: int) -> None:
    save_newer(tx, catalog_categories, "code", {"code": code, "parent": parent, "version": version})


def store(tx: Tx, code: str) -> Any | None:
    """The store's region and brand (None: the catalog never announced it)."""
    return tx.execute(sa.select(catalog_stores.c.region, catalog_stores.c.brand)
                      .where(catalog_stores.c.code == code)).first()


def zones(tx: Tx) -> dict[str, str]:
    """Every announced store's time zone."""
    return {row.code: row.time_zone for row in tx.execute(sa.select(catalog_stores.c.code,
                                                                    catalog_stores.c.time_zone))}


def parents(tx: Tx, codes: Iterable[str]) -> dict[str, str | None]:
    """Each of ``codes`` and every category above it, with its parent (one recursive query)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = tx.execute(sa.text("""
        WITH RECURSIVE up(code, parent, depth) AS (
            SELECT code, parent, 0 FROM catalog_categories WHERE code = ANY(:codes)
            UNION
            SELECT c.code, c.parent, up.depth + 1 FROM catalog_categories c JOIN up ON c.code = up.parent
            WHERE up.depth < 64)
        SELECT DISTINCT code, parent FROM up"""), {"codes": wanted})
    return {row.code: row.parent for row in rows}
