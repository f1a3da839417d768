"""The only code that touches the fraud service's tables."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert

from service_runtime.bulk import insert_rows
from service_runtime.db import Tx
from services.fraud.facts import Registration
from services.fraud.rules import Fact
from services.fraud.tables import alerts, facts, registrations, rules

# facts a rule reads from the window (plain sales are only counted)
_READ = sa.or_(facts.c.kind != "sale", sa.func.cardinality(facts.c.flags) > 0)


def _row(fact: Fact) -> dict[str, Any]:
    return {"event_id": fact.event_id, "kind": fact.kind, "subject": fact.subject, "at": fact.at,
            "store": fact.store, "terminal": fact.terminal, "member_id": fact.member_id,
            "reference": fact.reference, "amount": fact.amount, "points": fact.points, "flags": sorted(fact.flags)}


def fact_of(row: Any) -> Fact:
    return Fact(str(row.event_id), row.kind, row.subject, row.at, row.store, row.terminal,
                None if row.member_id is None else str(row.member_id), row.reference, row.amount, row.points,
                frozenset(row.flags))


def add_facts(tx: Tx, new: Sequence[Fact]) -> set[tuple[str, str | None]]:
    """The (event id, subject) pairs stored now; those stored before (a redelivery) are left out."""
    stored = insert_rows(tx, facts, [_row(f) for f in new], on_conflict_do_nothing=True,
                         returning=[facts.c.event_id, facts.c.subject])
    return {(str(r.event_id), r.subject) for r in stored}


def add_registrations(tx: Tx, new: Sequence[Registration]) -> None:
    insert_rows(tx, registrations, [{"member_id": r.member_id, "registered_at": r.registered_at, "store": r.store,
                                     "subject": r.subject} for r in new], on_conflict_do_nothing=True)


def registered_at(tx: Tx, member_ids: Iterable[str]) -> dict[str, datetime]:
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = tx.execute(sa.select(registrations.c.member_id, registrations.c.registered_at)
                      .where(registrations.c.member_id.in_(ids)))
    return {str(r.member_id): r.registered_at for r in rows}


def redemptions(tx: Tx, member_ids: Iterable[str], start: datetime, end: datetime) -> dict[str, list[datetime]]:
    ids = sorted(set(member_ids))
    found: dict[str, list[datetime]] = {}
    if ids:
        for r in tx.execute(sa.select(facts.c.member_id, facts.c.at).where(
                facts.c.member_id.in_(ids), facts.c.kind == "redemption", facts.c.at.between(start, end))):
            found.setdefault(str(r.member_id), []).append(r.at)
    return found


def flag_sales_of(tx: Tx, member_id: str, start: datetime, end: datetime, flag: str) -> list[Fact]:
    """Mark the till sales of a member in [start, end] (its registration arrived after them)."""
    rows = tx.execute(sa.update(facts).where(
        facts.c.member_id == member_id, facts.c.kind == "sale", facts.c.at.between(start, end),
        facts.c.subject.is_not(None), sa.not_(facts.c.flags.any_() == flag))
        .values(flags=sa.func.array_append(facts.c.flags, flag)).returning(facts))
    return [fact_of(r) for r in rows]


def window(tx: Tx, subjects: Sequence[str], start: datetime, end: datetime) -> list[Fact]:
    """The facts of these subjects a rule reads, in (start, end]."""
    if not subjects:
        return []
    rows = tx.execute(sa.select(facts).where(facts.c.subject.in_(sorted(subjects)), facts.c.at > start,
                                             facts.c.at <= end, _READ))
    return [fact_of(r) for r in rows]


def sale_counts(tx: Tx, spans: dict[str, tuple[datetime, datetime]]) -> dict[str, int]:
    """Each subject's sales in its own span (start, end]."""
    if not spans:
        return {}
    names = sorted(spans)
    span = sa.select(sa.func.unnest(sa.cast(names, ARRAY(sa.Text))).label("subject"),
                     sa.func.unnest(sa.cast([spans[n][0] for n in names], ARRAY(sa.DateTime(timezone=True))))
                     .label("start"),
                     sa.func.unnest(sa.cast([spans[n][1] for n in names], ARRAY(sa.DateTime(timezone=True))))
                     .label("end")).subquery()
    rows = tx.execute(sa.select(span.c.subject, sa.func.count(facts.c.id)).select_from(span).join(
        facts, sa.and_(facts.c.subject == span.c.subject, facts.c.kind == "sale", facts.c.at > span.c.start,
                       facts.c.at <= span.c.end)).group_by(span.c.subject))
    return {r[0]: int(r[1]) for r in rows}


def acknowledged_until(tx: Tx, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """The latest fact of the last acknowledged alert of each (rule, subject)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    rows = tx.execute(sa.select(alerts.c.rule, alerts.c.subject, sa.func.max(alerts.c.last_at)).where(
        alerts.c.status == "acknowledged", sa.tuple_(alerts.c.rule, alerts.c.subject).in_(wanted))
        .group_by(alerts.c.rule, alerts.c.subject))
    return {(r[0], r[1]): r[2] for r in rows}


def lock_subject(tx: Tx, rule: str, subject: str) -> None:
    """Handlers of different events may raise the same alert at once: one at a time per pair."""
    tx.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"fraud:{rule}:{subject}", 0))))


def open_alert(tx: Tx, rule: str, subject: str) -> dict[str, Any] | None:
    row = tx.execute(sa.select(alerts).where(alerts.c.rule == rule, alerts.c.subject == subject,
                                             alerts.c.status == "open")).mappings().first()
    return dict(row) if row is not None else None


def insert_alert(tx: Tx, values: dict[str, Any]) -> None:
    tx.execute(sa.insert(alerts).values(**values))


def update_alert(tx: Tx, alert_id: str, **values: Any) -> dict[str, Any]:
    row = tx.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(**values).returning(alerts))
    return dict(row.mappings().one())


def get_alert(tx: Tx, alert_id: str, lock: bool = False) -> dict[str, Any] | None:
    query = sa.select(alerts).where(alerts.c.id == alert_id)
    row = tx.execute(query.with_for_update() if lock else query).mappings().first()
    return dict(row) if row is not None else None


def page(tx: Tx, filters: dict[str, Any], after: tuple[datetime, str] | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; ``stores`` keeps alerts with a fact at one of those stores."""
    query = sa.select(alerts)
    for column in ("status", "rule"):
        if filters.get(column) is not None:
            query = query.where(alerts.c[column] == filters[column])
    if filters.get("subject_id") is not None:
        query = query.where(alerts.c.subject.like("%:" + filters["subject_id"].replace("%", r"\%")))
    if filters.get("store") is not None:
        query = query.where(alerts.c.stores.contains([filters["store"]]))
    if filters.get("stores") is not None:
        query = query.where(alerts.c.stores.overlap(list(filters["stores"])))
    if after is not None:
        query = query.where(sa.tuple_(alerts.c.created_at, alerts.c.id) < sa.tuple_(sa.literal(after[0]),
                                                                                    sa.literal(after[1])))
    query = query.order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit)
    return [dict(row) for row in tx.execute(query).mappings()]


def stored_rules(tx: Tx) -> dict[str, dict[str, Any]]:
    rows = tx.execute(sa.select(rules)).mappings()
    return {r["rule"]: {**r["settings"], "updated_at": r["updated_at"], "updated_by": r["updated_by"]} for r in rows}


def save_rule(tx: Tx, rule: str, settings: dict[str, Any], at: datetime, by: str | None) -> None:
    stmt = insert(rules).values(rule=rule, settings=settings, updated_at=at, updated_by=by)
    tx.execute(stmt.on_conflict_do_update(index_elements=["rule"], set_={
        "settings": rules.c.settings.op("||")(stmt.excluded.settings), "updated_at": at, "updated_by": by}))


def forget_member(tx: Tx, member_id: str) -> None:
    """member.erased: the device and phone block of their registration go (the sales stay, by id)."""
    tx.execute(sa.delete(facts).where(facts.c.member_id == member_id, facts.c.kind == "registration"))


def purge(tx: Tx, before: datetime) -> int:
    gone = tx.execute(sa.delete(facts).where(facts.c.at < before)).rowcount
    tx.execute(sa.delete(registrations).where(registrations.c.registered_at < before))
    return int(gone)


def open_counts(tx: Tx) -> dict[str, int]:
    rows = tx.execute(sa.select(alerts.c.rule, sa.func.count()).where(alerts.c.status == "open")
                      .group_by(alerts.c.rule))
    return {r[0]: int(r[1]) for r in rows}
