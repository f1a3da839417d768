"""The only code that touches the members tables."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.members import domain
from services.members.tables import member_number_seq, members


def register(tx: Tx, name: str, phone: str, store: str | None, channel: str) -> tuple[Any, bool]:
    """Insert a member, or return the one holding this phone. (row, created)."""
    number = domain.member_number(tx.execute(sa.select(member_number_seq.next_value())).scalar_one())
    inserted = tx.execute(
        pg_insert(members)
        .values(member_number=number, name=name, phone=phone, registration_store=store, channel=channel)
        .on_conflict_do_nothing(index_elements=["phone"])
        .returning(*members.c)
    ).first()
    if inserted is not None:
        return inserted, True
    existing = tx.execute(sa.select(members).where(members.c.phone == phone)).one()
    return existing, False


def get(tx: Tx, member_id: str) -> Any | None:
    return tx.execute(sa.select(members).where(members.c.id == member_id)).first()


def by_phone(tx: Tx, phone: str) -> Any | None:
    return tx.execute(sa.select(members).where(members.c.phone == phone)).first()
