"""What a member's account shows: balance, tier progress, the till's brief look-up, history,
and everything points holds about them (privacy export)."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from contracts.errors import InvalidInput, NotFound
from contracts.points import Account, LedgerEntry, LedgerPage, Lot, LotPage, TierProgress
from service_runtime.db import WorkerDb
from services.points import domain, inputs, ledger, opening, repo
from services.points.programs import Programs
from services.points.sales import expiring


def entry(row: Any) -> LedgerEntry:
    return LedgerEntry(entry_id=row.id, kind=row.kind, points=row.delta, store=row.store, at_store=row.at_store,
                       reference=row.reference, detail=dict(row.detail or {}), created_at=row.created_at)


def account(db: WorkerDb, programs: Programs, member_id: str, confirmed: bool) -> Account:
    with db.transaction() as tx:
        target = repo.resolve(tx, [member_id]).get(member_id, member_id)
        row = repo.get_account(tx, target)
        if row is None:
            if not confirmed:
                raise opening.Missing([member_id], [])
            raise NotFound("unknown member", "member_id")
        now = inputs.now()
        if row.held > 0:  # an expired hold stops counting at once, not at the next hold job
            locked = repo.lock_accounts(tx, [target])[target]
            if ledger.release_expired(tx, locked, now):
                repo.save_accounts(tx, [locked])
                row = repo.get_account(tx, target) or row
        summary = repo.summaries(tx, [target], now)[target]
        _, program = programs.current(tx)
        spend, points = repo.qualifying(tx, [target], now - timedelta(days=program.tier_window_days))[target]
        qualifying = spend if program.tier_basis == "spend" else Decimal(points)
    nxt, needed = domain.next_tier(program, row.tier, qualifying)
    return Account(
        member_id=target, balance=row.balance, available=min(summary["available"], max(0, row.balance)),
        pending=summary["pending"], held=row.held, debt=row.debt, tier=row.tier, tier_since=row.tier_since,
        progress=TierProgress(basis=program.tier_basis, qualifying=qualifying, next_tier=nxt, needed=needed),
        expiring=expiring(summary), status=row.status, opened_at=row.opened_at)


def brief(db: WorkerDb, member_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Balance, tier, held and available points (a member whose account opens on first use
    shows as it will open)."""
    with db.read() as tx:  # one statement: no BEGIN/COMMIT round trips at the till
        found = repo.brief(tx, member_ids, inputs.now())
    return {m: found.get(m, {"balance": domain.OPENING_BALANCE, "tier": domain.DEFAULT_TIER, "held": 0,
                             "available": domain.OPENING_BALANCE}) for m in member_ids}


def history(db: WorkerDb, member_id: str, limit: int, after: str | None) -> LedgerPage:
    if not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("between 1 and 200", "limit")
    try:
        before = int(after) if after else None
    except ValueError:
        raise InvalidInput("not a position from a previous page", "after") from None
    with db.transaction() as tx:
        target = repo.resolve(tx, [member_id]).get(member_id, member_id)
        rows = repo.history(tx, target, limit + 1, before)
    return LedgerPage(items=[entry(r) for r in rows[:limit]],
                      next=str(rows[limit - 1].id) if len(rows) > limit else None)


def lots(db: WorkerDb, member_id: str, limit: int, after: str | None) -> LotPage:
    """The member's open lots, soonest expiry first; ``next`` is "<expiry>|<lot id>" of the last."""
    if not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("between 1 and 200", "limit")
    position = None
    if after:
        stamp, _, lot_id = after.partition("|")
        try:
            position = (datetime.fromisoformat(stamp), int(lot_id))
        except ValueError:
            raise InvalidInput("not a position from a previous page", "after") from None
    with db.transaction() as tx:
        target = repo.resolve(tx, [member_id]).get(member_id, member_id)
        rows = repo.member_lots(tx, target, limit + 1, position)
    items = [Lot(lot_id=r.id, source=r.source, store=r.store, reference=r.reference, points=r.points,
                 remaining=r.remaining, available_at=r.available_at, expires_at=r.expires_at, created_at=r.created_at)
             for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return LotPage(items=items, next=f"{last.expiry_key.isoformat()}|{last.id}" if last is not None else None)


def export(db: WorkerDb, member_id: str) -> dict[str, Any]:
    with db.transaction() as tx:
        row = repo.get_account(tx, member_id)
        if row is None:
            return {}
        rows = repo.export_rows(tx, member_id)
    return {
        "account": {"member_id": member_id, "balance": row.balance, "held": row.held, "debt": row.debt,
                    "tier": row.tier, "status": row.status, "opened_at": row.opened_at.isoformat()},
        "sales": [{k: (str(v) if isinstance(v, Decimal) else v.isoformat() if isinstance(v, datetime) else v)
                   for k, v in r._mapping.items()} for r in rows["sales"]],
        "ledger": [entry(r).model_dump(mode="json") for r in rows["ledger"]],
        "holds": [{"hold_id": str(h.id), "store": h.store, "transaction_id": h.transaction_id,
                   "points": h.points, "status": h.status, "created_at": h.created_at.isoformat()}
                  for h in rows["holds"]],
        "activities": [{"kind": a.kind, "key": a.key, "points": a.points, "created_at": a.created_at.isoformat()}
                       for a in rows["activities"]],
    }
