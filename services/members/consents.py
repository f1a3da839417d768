"""What a member agreed to be contacted by, with the log of every change."""
from __future__ import annotations

from typing import Any

from contracts.access import Caller
from contracts.errors import Conflict
from contracts.events import MemberConsentChanged
from contracts.rpc import SetConsent
from service_runtime.db import WorkerDb
from services.members import repo


def set_consent(db: WorkerDb, caller: Caller, member_id: str, cmd: SetConsent) -> Any:
    """The consent as it now stands; member.consent_changed only when it changed."""
    with db.transaction() as tx:
        member = repo.require(tx, member_id)
        if member.status in ("erased", "merged"):
            raise Conflict(f"this member was {member.status}", "member_id")
        row, changed = repo.set_consent(tx, member_id, cmd.channel, cmd.granted, cmd.source, cmd.text_version,
                                        caller.kind, caller.id)
        if changed:
            tx.emit(MemberConsentChanged(member_id=member_id, channel=cmd.channel, granted=row.granted,
                                         changed_at=row.changed_at, source=row.source,
                                         text_version=row.text_version))
    return row


def consents(db: WorkerDb, member_id: str) -> list[Any]:
    with db.transaction() as tx:
        repo.require(tx, member_id)
        return repo.consents_of(tx, member_id)
