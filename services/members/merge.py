"""Merging two records of one person: the survivor keeps both's tags, the other leads to it."""
from __future__ import annotations

from typing import Any

from contracts.access import Caller
from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.events import MemberMerged, MemberUpdated
from service_runtime.db import WorkerDb
from services.members import domain, lifecycle, repo


def merge(db: WorkerDb, caller: Caller, survivor_id: str, merged_id: str) -> Any:
    """The survivor's row after the merge (the same answer when the merge is retried)."""
    if survivor_id == merged_id:
        raise InvalidInput("a member cannot be merged into itself", "merged_member_id")
    with db.transaction() as tx:
        first, second = sorted([survivor_id, merged_id])  # lock in a fixed order: no deadlock
        rows = {r.id: r for r in (repo.get(tx, first, for_update=True), repo.get(tx, second, for_update=True))
                if r is not None}
        survivor, merged = rows.get(survivor_id), rows.get(merged_id)
        if survivor is None or merged is None:
            raise NotFound("no such member", "member_id" if survivor is None else "merged_member_id")
        if merged.status == "merged" and str(merged.merged_into) == survivor_id and survivor.status != "merged":
            return survivor  # merged already (a retry): same answer
        for row, field in ((survivor, "member_id"), (merged, "merged_member_id")):
            if row.status not in ("active", "frozen"):
                raise Conflict(f"member {row.id} is {row.status}", field)
        tags = sorted(set(survivor.tags) | set(merged.tags))[: domain.MAX_TAGS]
        updated = repo.update(tx, survivor_id, survivor.version, {"tags": tags})
        if tags != sorted(survivor.tags):
            tx.emit(MemberUpdated(member_id=survivor_id, version=updated.version, changed_fields=["tags"],
                                  status=updated.status, tags=tags))
        gone = repo.mark_merged(tx, merged_id, survivor_id)
        repo.record_change(tx, merged_id, gone.version, caller.kind, caller.id,
                           {"merged_into": {"from": None, "to": survivor_id}})
        repo.record_change(tx, survivor_id, updated.version, caller.kind, caller.id,
                           {"merged_from": {"from": None, "to": merged_id}})
        tx.emit(MemberMerged(survivor_id=survivor_id, merged_id=merged_id,
                             merged_member_number=merged.member_number, merged_at=gone.updated_at))
        lifecycle.after_merge(tx, survivor_id, merged_id, gone.updated_at)
        return repo.get(tx, survivor_id)
