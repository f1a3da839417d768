"""Moving a chain onto the platform: a legacy program's opening balances (lots with their own
expiry) and tiers, as an import that is created, staged (rows checked one by one), approved by
another admin, then applied. Not capped by the staff's daily adjustment limit: the approval is
the control. Each row applies once per (import, row key), and the import, its approver and each
ledger row (kind ``migration``, actor the approver) are the audit trail."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts.access import id_or_none, parse_id
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import PointsAdjusted, TierChanged
from service_runtime.db import Tx, WorkerDb
from services.points import domain, inputs, opening, repo
from services.points import migration_rows as rules
from services.points.programs import Programs
from services.points.repo import migrations

APPLY_CHUNK = 500
MAX_STAGE = 2000


def view(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None
    return {"import_id": str(row.id), "kind": row.kind, "source": row.source, "note": row.note,
            "status": row.status, "created_by": row.created_by, "approved_by": row.approved_by,
            "rows_staged": row.rows_staged, "rows_failed": row.rows_failed, "rows_applied": row.rows_applied,
            "points_total": row.points_total, "created_at": iso(row.created_at), "approved_at": iso(row.approved_at),
            "applied_at": iso(row.applied_at)}


def create(db: WorkerDb, kind: str, source: str, note: str | None, actor: str) -> dict[str, Any]:
    if kind not in rules.KINDS:
        raise InvalidInput(f"one of {', '.join(rules.KINDS)}", "kind")
    if not source or len(source) > 40:
        raise InvalidInput("the legacy system's name (1 to 40 characters)", "source")
    with db.transaction() as tx:
        return view(migrations.create(tx, str(uuid.uuid4()), kind, source, note, actor))


def _held(tx: Tx, import_id: str, lock: bool = False) -> Any:
    row = migrations.get(tx, parse_id(import_id, "import_id", "an import id"), lock)
    if row is None:
        raise NotFound("no such migration import", "import_id")
    return row


def stage(db: WorkerDb, members: Any, programs: Programs, import_id: str, rows: Any) -> dict[str, Any]:
    """Check and stage a batch of ``{line, fields}`` rows; staging a batch again stages nothing
    twice. Members not known to points yet are confirmed with members (their accounts open)."""
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_STAGE:
        raise InvalidInput(f"a list of 1 to {MAX_STAGE} rows", "rows")
    with db.transaction() as tx:
        imp = _held(tx, import_id)
        if imp.status != "staging":
            raise Conflict(f"the import is {imp.status}: rows are staged before approval", "import_id")
        _, program = programs.current(tx)
    tiers = {t.name for t in program.tiers}
    now = inputs.now()
    checked: list[rules.StagedRow] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(rows):
        line = raw.get("line") if isinstance(raw, dict) else None
        line = line if isinstance(line, int) and line > 0 else index + 1
        try:
            checked.append(rules.check(imp.kind, line, raw.get("fields") if isinstance(raw, dict) else None,
                                       tiers, inputs.zone, now))
        except InvalidInput as exc:
            errors.append({"line": line, "row_key": None, "field": exc.field, "message": exc.message})
    resolved = _resolve(db, members, checked)
    staged: list[dict[str, Any]] = []
    for row in checked:
        member_id = resolved.get(row.member_ref)
        if member_id is None:
            field = "member_number" if row.by_number else "member_id"
            errors.append({"line": row.line, "row_key": row.row_key, "field": field, "message": "unknown member"})
            continue
        staged.append({"row_key": row.row_key, "line": row.line, "member_id": member_id, "payload": row.payload})
    with db.transaction() as tx:
        _held(tx, import_id, lock=True)
        new_rows, new_errors = migrations.stage(tx, imp.id, staged, errors)
        return {**view(migrations.get(tx, imp.id)), "batch_staged": new_rows, "batch_failed": len(errors),
                "batch_errors": sorted(errors, key=lambda e: e["line"])}


def _resolve(db: WorkerDb, members: Any, rows: list[rules.StagedRow]) -> dict[str, str]:
    ids = [r.member_ref for r in rows if not r.by_number]
    numbers = [r.member_ref for r in rows if r.by_number]
    ids = [i for i in ids if id_or_none(i) is not None]
    with db.transaction() as tx:
        resolved = repo.resolve(tx, ids, numbers)
    missing_ids = [i for i in ids if i not in resolved]
    missing_numbers = [n for n in numbers if n not in resolved]
    if missing_ids or missing_numbers:  # imported a moment ago: members.imported not handled yet
        found = opening.confirm(members, missing_ids, missing_numbers)
        if found:
            with db.transaction() as tx:
                opening.open_confirmed(tx, found)
                resolved = repo.resolve(tx, ids, numbers)
    return resolved


def approve(db: WorkerDb, import_id: str, actor: str, reject: bool = False) -> dict[str, Any]:
    """Another admin than the one who created it approves (or rejects) what was staged."""
    with db.transaction() as tx:
        imp = _held(tx, import_id, lock=True)
        if imp.status != "staging":
            raise Conflict(f"the import is {imp.status}", "import_id")
        if imp.created_by == actor:
            raise Forbidden("an import is approved by another admin than the one who created it", "import_id")
        if not reject and imp.rows_staged == 0:
            raise Conflict("nothing staged to approve", "import_id")
        return view(migrations.set_status(tx, imp.id, status="rejected" if reject else "approved", approved_by=actor,
                                          approved_at=inputs.now()))


def apply(db: WorkerDb, programs: Programs, import_id: str) -> dict[str, Any]:
    """Apply an approved import, a chunk of rows a transaction; stopped half-way, running it
    again applies only the rows not applied yet."""
    with db.transaction() as tx:
        imp = _held(tx, import_id)
    if imp.status == "applied":
        return view(imp)
    if imp.status != "approved":
        raise Conflict(f"the import is {imp.status}: it is applied once approved", "import_id")
    while True:
        with db.transaction() as tx:
            rows = migrations.pending_rows(tx, imp.id, APPLY_CHUNK)
            if not rows:
                break
            _apply_chunk(tx, programs, imp, rows)
    with db.transaction() as tx:
        _held(tx, imp.id, lock=True)
        return view(migrations.set_status(tx, imp.id, status="applied", applied_at=inputs.now()))


def _apply_chunk(tx: Tx, programs: Programs, imp: Any, rows: list[Any]) -> None:
    accounts = repo.lock_accounts(tx, [str(r.member_id) for r in rows])
    now = inputs.now()
    _, program = programs.current(tx)
    events: list[Any] = []
    ledger_rows: list[dict[str, Any]] = []
    lot_rows: list[dict[str, Any]] = []
    total = 0
    for row in rows:
        account = accounts.get(str(row.member_id))
        if account is None or account.status in ("merged", "erased"):
            continue  # the member left meanwhile: the row is marked applied and brings nothing
        reference = f"migration:{imp.id}:{row.row_key}"
        detail = {"import_id": str(imp.id), "row_key": row.row_key, "legacy": imp.source}
        if imp.kind == "balances":
            points = int(row.payload["points"])
            store = row.payload.get("store")
            into_lot = domain.credit_into_lot(account.balance, account.held, points)
            account.balance += points
            account.dirty = True
            total += points
            ledger_rows.append({"member_id": account.member_id, "kind": "migration", "delta": points, "store": store,
                                "at_store": store, "reference": reference, "detail": detail,
                                "actor_id": imp.approved_by})
            expires = row.payload.get("expires_at")
            lot_rows.append({"member_id": account.member_id, "store": store, "source": "migration",
                             "reference": reference, "points": into_lot, "remaining": into_lot, "available_at": now,
                             "expires_at": datetime.fromisoformat(expires) if expires else None})
            events.append(PointsAdjusted(member_id=account.member_id, store=store, points=points,
                                         reason=f"migration from {imp.source}", actor_id=imp.approved_by,
                                         adjusted_at=now, balance=account.balance))
        else:
            tier = row.payload["tier"]
            if tier != account.tier and tier in {t.name for t in program.tiers}:
                names = [t.name for t in program.tiers]
                up = names.index(tier) > names.index(account.tier) if account.tier in names else True
                events.append(TierChanged(member_id=account.member_id, old_tier=account.tier, new_tier=tier,
                                          direction="up" if up else "down", reason="migration", changed_at=now))
                account.tier, account.tier_since, account.dirty = tier, now, True
    repo.add_ledger(tx, ledger_rows)
    repo.add_lots(tx, lot_rows)
    repo.save_accounts(tx, [a for a in accounts.values() if a.dirty])
    migrations.mark_applied(tx, imp.id, [r.row_key for r in rows], total)
    tx.emit_many(events)


def status(db: WorkerDb, import_id: str) -> dict[str, Any]:
    with db.transaction() as tx:
        return view(_held(tx, import_id))


def errors(db: WorkerDb, import_id: str, after_line: int, limit: int) -> list[dict[str, Any]]:
    with db.transaction() as tx:
        imp = _held(tx, import_id)
        return [{"line": e.line, "row_key": e.row_key, "field": e.field, "message": e.message}
                for e in migrations.errors(tx, imp.id, after_line, max(1, min(limit, 500)))]


def imports(db: WorkerDb, limit: int = 50, before: Any = None) -> list[dict[str, Any]]:
    """Newest first, ``limit`` at a time; ``before``: [created_at, import_id] of the previous page's last."""
    position = None
    if before is not None:
        try:
            position = (datetime.fromisoformat(str(before[0])), str(uuid.UUID(str(before[1]))))
        except (ValueError, TypeError, IndexError, KeyError):
            raise InvalidInput("a cursor from the previous page", "cursor") from None
    with db.transaction() as tx:
        return [view(r) for r in migrations.page(tx, max(1, min(limit, 201)), position)]
