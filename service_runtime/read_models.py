"""Read models fed by another service's ``*.changed`` events that carry a record's version: a newer
version replaces an older one, never the reverse (a redelivered event can arrive after a newer one)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from service_runtime.db import Tx


def save_newer(tx: Tx, table: sa.Table, key: str, values: dict[str, Any]) -> None:
    """Insert the record, or replace the stored one if ``values`` has a higher ``version`` (the
    table's ``updated_at``, if it has one, set to now)."""
    stmt = insert(table).values(**values)
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in values if name != key}
    if "updated_at" in table.c:
        changes["updated_at"] = sa.func.now()
    tx.execute(stmt.on_conflict_do_update(index_elements=[table.c[key]], set_=changes,
                                          where=table.c.version < stmt.excluded.version))
