"""The delivery log (what was sent to whom, step by step) and the dead-letter list ops works."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.errors import Conflict, NotFound
from contracts.notify import MessageQuery
from service_runtime.db import WorkerDb
from services.notify import repo


def search(db: WorkerDb, cmd: MessageQuery, member_id: str | None) -> list[Any]:
    with db.transaction() as tx:
        return repo.search(tx, member_id=member_id, campaign_id=cmd.campaign_id, status=cmd.status,
                           before=cmd.before, limit=cmd.limit)


def one(db: WorkerDb, message_id: str) -> tuple[Any | None, list[Any]]:
    """The message and its steps ((None, []) when there is none)."""
    with db.transaction() as tx:
        row = repo.get(tx, message_id)
        steps = repo.history(tx, message_id) if row is not None else []
    return row, steps


def dead(db: WorkerDb, before: datetime | None, limit: int) -> tuple[int, list[Any]]:
    """How many messages are dead-lettered, and a page of them."""
    with db.transaction() as tx:
        rows = repo.search(tx, dead=True, before=before, limit=max(1, min(limit, 200)))
        return repo.dlq_depth(tx), rows


def replay(db: WorkerDb, message_id: str, actor: str) -> tuple[Any, list[Any]]:
    """Put a dead-lettered message back in its queue with fresh attempts; replaying one that is no
    longer dead changes nothing (safe to repeat)."""
    with db.transaction() as tx:
        row = repo.get(tx, message_id, for_update=True)
        if row is None:
            raise NotFound(f"no message {message_id}", "message_id")
        if row.status == "failed" and row.dead_at is not None:
            if row.recipient_hash is not None:
                raise Conflict("a one-time code is not sent again; ask for a new one", "message_id")
            repo.update(tx, message_id, status="queued", attempts=0, dead_at=None, reason=None,
                        replayed_at=datetime.now(UTC), not_before=datetime.now(UTC))
            repo.log(tx, message_id, "replayed", f"by {actor}")
        return repo.get(tx, message_id), repo.history(tx, message_id)


def of_member(db: WorkerDb, member_id: str) -> list[Any]:
    with db.transaction() as tx:
        return repo.search(tx, member_id=member_id, limit=200)
