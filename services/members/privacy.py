"""A member's privacy rights: a copy of what this service holds, and erasure."""
from __future__ import annotations

import logging
from typing import Any

from contracts.access import Caller
from contracts.events import MemberErased
from service_runtime.db import WorkerDb
from services.members import repo, views
from services.members.crypto import FieldCipher

log = logging.getLogger(__name__)


def export(db: WorkerDb, cipher: FieldCipher, member_id: str) -> dict[str, Any]:
    """Everything this service holds about a member (the gateway adds the other services' parts)."""
    with db.transaction() as tx:
        row = repo.require(tx, member_id)
        consents = repo.consents_of(tx, member_id)
        consent_history = repo.consent_log_of(tx, member_id)
        changes = repo.history(tx, member_id)
    return {
        "profile": views.member(row, cipher).model_dump(mode="json"),
        "consents": [views.consent(c).model_dump(mode="json") for c in consents],
        "consent_history": [{**views.consent(c).model_dump(mode="json"), "actor_kind": c.actor_kind}
                            for c in consent_history],
        "change_history": [{"version": c.version, "changed_at": c.changed_at.isoformat(),
                            "actor_kind": c.actor_kind, "fields": c.fields} for c in changes],
    }


def erase(db: WorkerDb, caller: Caller, member_id: str) -> Any:
    """Anonymise the member and every record merged into them; erasing twice changes nothing."""
    with db.transaction() as tx:
        row = repo.require(tx, member_id, for_update=True)
        if row.status == "erased":
            return row
        erased = repo.erase(tx, member_id)
        repo.record_change(tx, member_id, erased.version, caller.kind, caller.id, {"erased": {"changed": True}})
        tx.emit(MemberErased(member_id=member_id, erased_at=erased.updated_at))
        for earlier in repo.merged_into(tx, member_id):  # the person's merged records go too
            gone = repo.erase(tx, earlier)
            tx.emit(MemberErased(member_id=earlier, erased_at=gone.updated_at))
    log.info("member erased", extra={"member_id": member_id, "caller": caller.kind})
    return erased
