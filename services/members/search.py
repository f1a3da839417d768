"""Finding members by filters, page by page."""
from __future__ import annotations

import uuid
from datetime import datetime

from contracts.errors import InvalidInput
from contracts.rpc import MemberPage, SearchMembers
from service_runtime.db import WorkerDb
from services.members import domain, repo, views
from services.members.crypto import FieldCipher


def phone_index(cipher: FieldCipher, phone: str | None) -> str | None:
    return None if phone is None else cipher.blind_index(domain.normalize_phone(phone), "phone")


def _position(after: str) -> tuple[datetime, str]:
    """A ``next`` this service gave out: (created_at, id) of the last member on the page."""
    stamp, _, last_id = after.partition("|")
    try:
        return datetime.fromisoformat(stamp), str(uuid.UUID(last_id))
    except ValueError:
        raise InvalidInput("not a position this service gave out", "after") from None


def search(db: WorkerDb, cipher: FieldCipher, query: SearchMembers) -> MemberPage:
    bidx = phone_index(cipher, query.phone)
    after = _position(query.after) if query.after else None
    with db.read() as tx:  # a till's look-up: no BEGIN/COMMIT round trips
        rows = repo.search(tx, query.model_dump(), bidx, query.limit + 1, after)
        if query.phone or query.member_number:  # identifiers of a merged member lead to the survivor
            rows = [repo.follow(tx, r) for r in rows]
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    following = f"{rows[-1].created_at.isoformat()}|{rows[-1].id}" if more else None
    return MemberPage(items=[views.member(r, cipher, tolerant=True) for r in rows], next=following)
