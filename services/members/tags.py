"""Tags added to and removed from every member a filter selects (a marketer's bulk edit)."""
from __future__ import annotations

from contracts.access import Caller
from contracts.errors import InvalidInput
from contracts.events import MemberUpdated
from contracts.rpc import BulkTags
from service_runtime.db import WorkerDb
from services.members import domain, repo
from services.members.crypto import FieldCipher
from services.members.search import phone_index


def bulk_tags(db: WorkerDb, cipher: FieldCipher, caller: Caller, cmd: BulkTags) -> int:
    """Add and remove tags on every member the filter selects; how many changed."""
    add, remove = domain.clean_tags(cmd.add), domain.clean_tags(cmd.remove)
    if not add and not remove:
        raise InvalidInput("give tags to add or remove", "add")
    query = cmd.filter
    bidx = phone_index(cipher, query.phone)
    with db.transaction() as tx:
        changed = repo.bulk_tags(tx, query.model_dump(), bidx, add, remove)
        tags_change = {"tags": {"added": add, "removed": remove}}
        repo.record_changes(tx, [{"member_id": r.id, "version": r.version, "actor_kind": caller.kind,
                                  "actor_id": caller.id, "fields": tags_change} for r in changed])
        tx.emit_many([MemberUpdated(member_id=str(r.id), version=r.version, changed_fields=["tags"],
                                    status=r.status, tags=list(r.tags)) for r in changed])
    return len(changed)
