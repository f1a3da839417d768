"""The only code that touches the segment tables: the rule compiler (one SQL query over the read
model), segments and their snapshots."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.campaigns.segments.rules import Condition, Group
from services.campaigns.segments.tables import (
    rm_members,
    rm_purchases,
    rm_scores,
    segment_snapshots,
    segments,
    snapshot_members,
)

M = rm_members
S = rm_scores


# ---- the rule compiler ---------------------------------------------------------------------------
def _window(field: str, days: int, today: date) -> Any:
    column = rm_purchases.c.purchases if field == "purchase_count" else rm_purchases.c.spend
    return (sa.select(sa.func.coalesce(sa.func.sum(column), 0))
            .where(rm_purchases.c.member_id == M.c.member_id,
                   rm_purchases.c.day > sa.literal(today) - sa.literal(days))
            .scalar_subquery())


def _column(cond: Condition, today: date) -> Any:
    f = cond.field
    if f in ("tier", "store", "gender", "channel", "tags"):
        return M.c[f]
    if f == "age":
        return sa.extract("year", sa.func.age(sa.literal(today), M.c.birthday))
    if f == "birthday_month":
        return sa.extract("month", M.c.birthday)
    if f == "registered_at":
        return sa.cast(M.c.registered_at, sa.Date)
    if f == "days_since_last_purchase":
        return sa.literal(today) - sa.cast(M.c.last_purchase_at, sa.Date)
    if f in ("purchase_count", "spend"):
        assert cond.window_days is not None
        return _window(f, cond.window_days, today)
    if f == "points_balance":
        return M.c.balance
    if f in ("rfm_r", "rfm_f", "rfm_m"):
        return S.c[f[-1]]
    if f == "rfm_group":
        return S.c.rfm_group
    if f == "abcd":
        return S.c.abcd
    if f == "lifecycle":
        return S.c.lifecycle
    if f == "lifecycle_class":  # none announced yet: the class every member starts in
        return sa.func.coalesce(M.c.lifecycle_class, "new")
    raise AssertionError(f)


def _condition(cond: Condition, today: date) -> Any:
    col = _column(cond, today)
    op, v = cond.op, cond.value
    if op == "is_null":
        return col.is_(None)
    if op == "not_null":
        return col.is_not(None)
    if op == "has":
        return col.contains([v])
    if op == "has_all":
        return col.contains(list(v))
    if op == "has_any":
        return col.overlap(list(v))
    if op == "has_none":
        return sa.not_(col.overlap(list(v)))
    if op == "between":
        return col.between(v[0], v[1])
    if op == "in":
        return col.in_(list(v))
    if op == "not_in":
        return sa.or_(col.is_(None), col.not_in(list(v)))
    if op == "ne":
        return sa.or_(col.is_(None), col != v)
    return {"eq": col.__eq__, "gt": col.__gt__, "gte": col.__ge__, "lt": col.__lt__, "lte": col.__le__}[op](v)


def _compile(node: Group | Condition, today: date) -> Any:
    if isinstance(node, Condition):
        return _condition(node, today)
    parts = [_compile(item, today) for item in node.items]
    if node.kind == "not":
        return sa.not_(parts[0])
    return sa.and_(*parts) if node.kind == "all" else sa.or_(*parts)


def segment_select(rule: Group, today: date, *columns: Any) -> Any:
    """One SELECT over the read model (scores joined only when the rule uses them), live members only."""
    return (sa.select(*columns).select_from(M.outerjoin(S, S.c.member_id == M.c.member_id))
            .where(M.c.status == "active", _compile(rule, today)))


def preview(tx: Tx, rule: Group, today: date, sample: int) -> tuple[int, list[Any]]:
    size = tx.execute(segment_select(rule, today, sa.func.count())).scalar_one()
    rows = tx.execute(segment_select(rule, today, M.c.member_id, M.c.tier, M.c.store, M.c.balance,
                                     M.c.last_purchase_at, S.c.rfm_group, S.c.abcd, S.c.lifecycle)
                      .order_by(M.c.member_id).limit(sample)).all()
    return int(size), list(rows)


_GROUPS = {"rfm_group": S.c.rfm_group, "abcd": S.c.abcd, "tier": M.c.tier,
           "lifecycle_class": sa.func.coalesce(M.c.lifecycle_class, sa.literal_column("'new'"))}  # as rules read it


def breakdown(tx: Tx, rule: Group | None, today: date, fields: list[str]) -> tuple[int, dict[str, list[Any]]]:
    """Live members per value of each field, and in all: one scan (GROUPING SETS), not one per chart."""
    columns = [_GROUPS[f] for f in fields]
    selected = [c.label(f) for f, c in zip(fields, columns, strict=True)]
    flags = [sa.func.grouping(c).label("g_" + f) for f, c in zip(fields, columns, strict=True)]
    stmt = (sa.select(*selected, *flags, sa.func.count().label("n"))
            .select_from(M.outerjoin(S, S.c.member_id == M.c.member_id)).where(M.c.status == "active")
            .group_by(sa.func.grouping_sets(*[sa.tuple_(c) for c in columns], sa.text("()"))))
    if rule is not None:
        stmt = stmt.where(_compile(rule, today))
    total, out = 0, {f: [] for f in fields}  # type: tuple[int, dict[str, list[Any]]]
    for row in tx.execute(stmt).all():
        grouped = [f for f in fields if row._mapping["g_" + f] == 0]
        if not grouped:
            total = int(row.n)
        else:
            out[grouped[0]].append((row._mapping[grouped[0]], int(row.n)))
    return total, out
def matches(tx: Tx, rule: Group, today: date, member_id: str) -> bool:
    """Whether the rule selects this member now."""
    return tx.execute(segment_select(rule, today, M.c.member_id).where(M.c.member_id == member_id)).first() is not None


def member_ids(tx: Tx, rule: Group, today: date, after: str | None, limit: int) -> list[str]:
    stmt = segment_select(rule, today, M.c.member_id).order_by(M.c.member_id).limit(limit)
    if after:
        stmt = stmt.where(M.c.member_id > after)
    return [str(r[0]) for r in tx.execute(stmt).all()]


# ---- segments and snapshots ----------------------------------------------------------------------
def add_segment(tx: Tx, segment_id: str, name: str, rule: dict[str, Any], created_by: str | None) -> Any:
    stmt = pg_insert(segments).values(id=segment_id, name=name, rule=rule, created_by=created_by)
    tx.execute(stmt.on_conflict_do_nothing())
    return get_segment(tx, segment_id)


def get_segment(tx: Tx, segment_id: str) -> Any:
    return tx.execute(sa.select(segments).where(segments.c.id == segment_id)).first()


def list_segments(tx: Tx, limit: int = 500, after: tuple[datetime, str] | None = None) -> list[Any]:
    """Oldest first (created_at, then id), after a (created_at, id) position."""
    stmt = sa.select(segments).order_by(segments.c.created_at, segments.c.id).limit(limit)
    if after is not None:
        stmt = stmt.where(sa.tuple_(segments.c.created_at, segments.c.id) > sa.tuple_(
            sa.literal(after[0]), sa.cast(after[1], segments.c.id.type)))
    return list(tx.execute(stmt).all())


def take_snapshot(tx: Tx, snapshot_id: str, segment: Any, rule: Group, today: date) -> Any:
    """Materialise the members the rule selects now, in one INSERT ... SELECT (idempotent by id)."""
    existing = get_snapshot(tx, snapshot_id)
    if existing is not None:
        return existing
    tx.execute(segment_snapshots.insert().values(id=snapshot_id, segment_id=segment.id, size=0, rule=segment.rule))
    select = segment_select(rule, today, sa.literal(snapshot_id).label("snapshot_id"), M.c.member_id)
    size = tx.execute(snapshot_members.insert().from_select(["snapshot_id", "member_id"], select)).rowcount
    tx.execute(segment_snapshots.update().where(segment_snapshots.c.id == snapshot_id).values(size=size))
    return get_snapshot(tx, snapshot_id)


def get_snapshot(tx: Tx, snapshot_id: str) -> Any:
    return tx.execute(sa.select(segment_snapshots).where(segment_snapshots.c.id == snapshot_id)).first()


def snapshot_member_ids(tx: Tx, snapshot_id: str, after: str | None, limit: int) -> list[str]:
    stmt = (sa.select(snapshot_members.c.member_id).where(snapshot_members.c.snapshot_id == snapshot_id)
            .order_by(snapshot_members.c.member_id).limit(limit))
    if after:
        stmt = stmt.where(snapshot_members.c.member_id > after)
    return [str(r[0]) for r in tx.execute(stmt).all()]
