"""The audit log: append-only and tamper-evident.

A request inserts its entry with one statement (no lock, no ordering between requests).
A sealer, running in every gateway process a few times a second, takes the entries not
sealed yet, gives each its place in the chain (``seq``) and
``hash = sha256(prev_hash + canonical JSON of the entry)`` chained to the entry before it,
in batches under a transaction-scoped advisory lock, so the chain has no forks. A trigger
refuses UPDATE (except that sealing), DELETE and TRUNCATE. ``verify`` seals what is
pending, recomputes the chain and names the first entry that does not match, so an edited,
removed or reordered entry is detected; an entry is covered by the chain from the moment it
is sealed (normally well under a second after it was written).

Limits: the hash is not keyed, so someone able to bypass the trigger (a database superuser)
could rewrite the whole chain and recompute it, and removing the newest entries leaves no
gap. Shipping the latest (seq, hash) outside the database from time to time (an anchor)
closes both; it is not built yet.

    python -m services.gateway.audit verify     # exit 1 when the chain is broken
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from services.gateway.tables import audit_log

GENESIS = "0" * 64
_LOCK_KEY = 0x4C4F59414C5459  # "LOYALTY": the advisory lock serialising appends

_FIELDS = ("id", "seq", "occurred_at", "actor_kind", "actor_id", "actor_name", "action", "object_type", "object_id",
           "store", "outcome", "request_id", "client_ip", "details")


@dataclass(frozen=True)
class AuditEntry:
    actor_kind: str
    action: str
    outcome: str
    actor_id: str | None = None
    actor_name: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    store: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    details: dict[str, Any] | None = None


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, row: dict[str, Any]) -> str:
    fields: dict[str, Any] = {k: row.get(k) for k in _FIELDS}
    fields["occurred_at"] = _utc(fields["occurred_at"])
    fields["details"] = fields["details"] or {}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def append(engine: sa.Engine, entry: AuditEntry) -> int:
    """Write an entry (unsealed: the sealer chains it shortly)."""
    with engine.begin() as conn:
        row = {**entry.__dict__, "occurred_at": datetime.now(timezone.utc), "details": entry.details or {}}
        return int(conn.execute(audit_log.insert().values(**row).returning(audit_log.c.id)).scalar_one())


def append_many(engine: sa.Engine, entries: list[AuditEntry]) -> None:
    """Several entries in one transaction (a page of members read in full: one commit, not twenty)."""
    if entries:
        now = datetime.now(timezone.utc)
        with engine.begin() as conn:
            conn.execute(audit_log.insert(), [{**e.__dict__, "occurred_at": now, "details": e.details or {}}
                                              for e in entries])


def seal(engine: sa.Engine, batch: int = 1000) -> int:
    """Chain every unsealed entry, oldest first; returns how many were sealed."""
    sealed = 0
    while True:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.isnot(None))
                                .order_by(audit_log.c.seq.desc()).limit(1)).first()
            seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
            pending = conn.execute(sa.select(audit_log).where(audit_log.c.hash.is_(None))
                                   .order_by(audit_log.c.id).limit(batch)).mappings().all()
            updates = []
            for row in pending:
                seq += 1
                digest = entry_hash(prev, {**row, "seq": seq})
                updates.append({"b_id": row["id"], "seq": seq, "prev_hash": prev, "hash": digest})
                prev = digest
            if updates:
                conn.execute(audit_log.update().where(audit_log.c.id == sa.bindparam("b_id"))
                             .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev_hash"),
                                     hash=sa.bindparam("hash")), updates)
        sealed += len(updates)
        if len(updates) < batch:
            return sealed


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify(engine: sa.Engine) -> Verification:
    seal(engine)
    prev = GENESIS
    checked = 0
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=1000).execute(
            sa.select(audit_log).where(audit_log.c.seq.isnot(None)).order_by(audit_log.c.seq))
        for row in rows.mappings():
            if row["seq"] != checked + 1 or row["prev_hash"] != prev:
                return Verification(False, checked, row["id"], "chain broken before this entry (removed or reordered)")
            if entry_hash(prev, dict(row)) != row["hash"]:
                return Verification(False, checked, row["id"], "entry altered")
            prev = row["hash"]
            checked += 1
    return Verification(True, checked)


def query(engine: sa.Engine, *, before_id: int | None, limit: int, actor_id: str | None = None,
          action: str | None = None, object_id: str | None = None, outcome: str | None = None,
          since: datetime | None = None, until: datetime | None = None) -> list[Any]:
    """Newest first; page with before_id (the last id of the previous page)."""
    q = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    for column, value in ((audit_log.c.actor_id, actor_id), (audit_log.c.action, action),
                          (audit_log.c.object_id, object_id), (audit_log.c.outcome, outcome)):
        if value is not None:
            q = q.where(column == value)
    if before_id is not None:
        q = q.where(audit_log.c.id < before_id)
    if since is not None:
        q = q.where(audit_log.c.occurred_at >= since)
    if until is not None:
        q = q.where(audit_log.c.occurred_at < until)
    with engine.connect() as conn:
        return list(conn.execute(q).mappings().all())


class Auditor:
    """Records audit entries for requests: who (from the request's principal), from where, which request."""

    def __init__(self, db: Any) -> None:
        self.db = db

    async def record(self, request: Any, action: str, outcome: str, *, object_type: str | None = None,
                     object_id: str | None = None, store: str | None = None,
                     details: dict[str, Any] | None = None, actor: Any = None) -> None:
        await self.db.run(append, self.entry(request, action, outcome, object_type=object_type, object_id=object_id,
                                             store=store, details=details, actor=actor))

    async def record_many(self, request: Any, action: str, object_type: str,
                          objects: list[tuple[str, str | None]]) -> None:
        """One successful ``action`` on each (object id, store), written in one transaction."""
        await self.db.run(append_many, [self.entry(request, action, "ok", object_type=object_type, object_id=oid,
                                                   store=store) for oid, store in objects])

    def entry(self, request: Any, action: str, outcome: str, *, object_type: str | None = None,
              object_id: str | None = None, store: str | None = None, details: dict[str, Any] | None = None,
              actor: Any = None) -> AuditEntry:
        principal = actor or getattr(request.state, "principal", None)
        return AuditEntry(
            actor_kind=principal.kind if principal else "anonymous",
            actor_id=principal.id if principal else None,
            actor_name=principal.name if principal else None,
            action=action, outcome=outcome, object_type=object_type, object_id=object_id, store=store,
            request_id=getattr(request.state, "request_id", None),
            client_ip=request.client.host if request.client else None,
            details=details,
        )


def main(argv: list[str]) -> int:
    from service_runtime.config import database_url

    if argv != ["verify"]:
        print("usage: python -m services.gateway.audit verify", file=sys.stderr)
        return 2
    engine = sa.create_engine(database_url("gateway"), poolclass=sa.pool.NullPool)
    result = verify(engine)
    if result.ok:
        print(f"audit chain intact: {result.checked} entries")
        return 0
    print(f"audit chain BROKEN at entry {result.first_bad_id}: {result.reason} "
          f"({result.checked} entries before it check out)")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
