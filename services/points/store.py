"""The only code that touches the points tables."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points import domain
from services.points.tables import accounts


def open_account(tx: Tx, member_id: str, event_id: str) -> bool:
    """Open a member's account; False if it was already open (idempotent)."""
    result = tx.execute(
        pg_insert(accounts)
        .values(member_id=member_id, balance=domain.OPENING_BALANCE, tier=domain.DEFAULT_TIER,
                opened_by_event=event_id)
        .on_conflict_do_nothing(index_elements=["member_id"])
    )
    return result.rowcount == 1


def get_account(tx: Tx, member_id: str) -> Any | None:
    return tx.execute(sa.select(accounts).where(accounts.c.member_id == member_id)).first()
