"""Member activities claimed once (check-ins, shares, referrals, birthdays)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points.tables import (
    activities,
)


def claim_activity(tx: Tx, member_id: str, kind: str, key: str, points: int) -> bool:
    stmt = pg_insert(activities).values(member_id=member_id, kind=kind, key=key, points=points)
    return tx.execute(stmt.on_conflict_do_nothing()).rowcount == 1


def activities_between(tx: Tx, member_id: str, kind: str, start: datetime, end: datetime) -> int:
    return int(tx.execute(sa.select(sa.func.count()).select_from(activities).where(
        activities.c.member_id == member_id, activities.c.kind == kind, activities.c.created_at >= start,
        activities.c.created_at < end)).scalar_one())
