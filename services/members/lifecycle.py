"""Lifecycle classes kept current (docs/lifecycle.md): points' sales move a member at once; the
daily run moves those whose time passed and applies changed thresholds. Each change is a
member.lifecycle_changed event through the outbox."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from contracts.access import Caller, id_or_none
from contracts.envelope import Envelope
from contracts.events import MemberLifecycleChanged, PointsAccrued
from contracts.rpc import LifecycleSettings, LifecycleSettingsOut
from service_runtime.db import Tx, WorkerDb
from services.members import lifecycle_repo as repo
from services.members import lifecycle_rules as rules

CHUNK = 10_000  # members per transaction of the daily run


def thresholds(tx: Tx) -> rules.Thresholds:
    row = repo.thresholds(tx)
    if row is None:
        return rules.Thresholds()
    return rules.Thresholds(row.at_risk_days, row.dormant_days, row.lost_days, row.active_min_purchases)


def settings(db: WorkerDb) -> LifecycleSettingsOut:
    with db.transaction() as tx:
        row = repo.thresholds(tx)
        current = thresholds(tx)
    return LifecycleSettingsOut(**current.to_json(), version=0 if row is None else row.version,
                                updated_at=None if row is None else row.updated_at,
                                updated_by=None if row is None else row.updated_by)


def set_settings(db: WorkerDb, caller: Caller, cmd: LifecycleSettings) -> LifecycleSettingsOut:
    """New thresholds: sales use them at once, the next daily run moves everyone they move."""
    wanted = rules.check(cmd.model_dump())
    with db.transaction() as tx:
        row = repo.save_thresholds(tx, wanted, f"{caller.kind}:{caller.id}" if caller.id else caller.kind)
    return LifecycleSettingsOut(**wanted.to_json(), version=row.version, updated_at=row.updated_at,
                                updated_by=row.updated_by)


def _emit(tx: Tx, changed: list[Any], reason: str, at: datetime) -> None:
    tx.emit_many([MemberLifecycleChanged(
        member_id=str(r.id), from_class=r.old, to_class=r.new, reason=reason, changed_at=at,
        last_purchase_at=r.last_purchase_at, purchase_count=r.purchase_count,
        registration_store=r.registration_store) for r in changed])


def purchases(events: list[tuple[PointsAccrued, Envelope]]) -> dict[str, tuple[datetime, int]]:
    """Per member the latest sale's time and the number of sales, from a batch of accruals (other
    accruals, such as check-ins or birthdays, are not purchases)."""
    found: dict[str, tuple[datetime, int]] = {}
    for event, _ in events:
        member_id = id_or_none(event.member_id)
        if event.source != "sale" or member_id is None:  # not a purchase, or not one of our members' ids
            continue
        latest, count = found.get(member_id, (event.occurred_at, 0))
        found[member_id] = (max(latest, event.occurred_at), count + 1)
    return found


def record_sales(tx: Tx, events: list[tuple[PointsAccrued, Envelope]], now: datetime) -> int:
    """Fold a batch of accruals into last purchase and count, reclassify those members now; how
    many changed class."""
    bought = purchases(events)
    if not bought:
        return 0
    found = repo.record_purchases(tx, bought)
    if not found:
        return 0
    changed = repo.reclassify(tx, thresholds(tx), now, "id = ANY(CAST(:ids AS uuid[]))", {"ids": found})
    _emit(tx, changed, "purchase", now)
    return len(changed)


def after_merge(tx: Tx, survivor_id: str, merged_id: str, now: datetime) -> None:
    """The survivor takes the merged record's purchases, and the class they give."""
    repo.absorb_purchases(tx, survivor_id, merged_id)
    _emit(tx, repo.reclassify(tx, thresholds(tx), now, "id = CAST(:id AS uuid)", {"id": survivor_id}),
          "merge", now)


def run(db: WorkerDb, at: datetime, stores: list[str] | None = None, chunk: int = CHUNK) -> dict[str, int]:
    """Move every member (of these registration stores, or all) whose class at ``at`` is not the
    one held, chunk by chunk of member ids (a transaction each, one statement per chunk); the count
    of members moved into each class."""
    moved: Counter[str] = Counter()
    after: str | None = None
    while True:
        with db.transaction() as tx:
            t = thresholds(tx)
            end = repo.chunk_end(tx, after, chunk)
            where = "(CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) AND " \
                    "(CAST(:upto AS uuid) IS NULL OR id <= CAST(:upto AS uuid)) AND " \
                    "(CAST(:stores AS text[]) IS NULL OR registration_store = ANY(CAST(:stores AS text[])))"
            changed = repo.reclassify(tx, t, at, where, {"after": after, "upto": end, "stores": stores})
            _emit(tx, changed, "timer", at)
        moved.update(r.new for r in changed)
        if end is None:
            return {name: moved[name] for name in rules.CLASSES}
        after = end
