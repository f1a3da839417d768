"""Redemption: hold points at the till, then commit or release the hold (or let it expire)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, cast

from contracts.access import Caller, require_self, require_store
from contracts.errors import Conflict, NotFound
from contracts.events import PointsHoldReleased, PointsRedeemed
from contracts.points import Hold, HoldRequest
from service_runtime.db import Tx, WorkerDb
from services.points import inputs, ledger, opening, ports
from services.points.repo import Account

repo: ports.LedgerRows = ports.REPO  # the in-memory fake in unit tests


def shown(tx: Tx, hold: Any, account: Account, replayed: bool = False) -> Hold:
    summary = repo.summaries(tx, [str(hold.member_id)], inputs.now())[str(hold.member_id)]
    return Hold(hold_id=str(hold.id), member_id=str(hold.member_id), store=hold.store,
                transaction_id=hold.transaction_id, points=hold.points, status=hold.status,
                expires_at=hold.expires_at, balance=account.balance, available=summary["available"],
                replayed=replayed)


def place(db: WorkerDb, caller: Caller, req: HoldRequest, confirmed: bool) -> Hold:
    """Take the points out of the member's lots into a hold (a replay answers the same hold)."""
    digest = inputs.request_hash(req)
    by_id = bool(req.member_id)
    with db.transaction() as tx:
        ref = inputs.canonical_id(req.member_id) if req.member_id else cast(str, req.member_number)
        member_id = repo.resolve(tx, [ref] if by_id else [], [] if by_id else [ref]).get(ref)
        account = repo.lock_accounts(tx, [member_id]).get(member_id) if member_id else None
        if account is None:
            if not confirmed:
                raise opening.Missing([ref] if by_id else [], [] if by_id else [ref])
            raise NotFound("unknown member", "member_id" if by_id else "member_number")
        require_self(caller, account.member_id)
        existing = repo.get_hold(tx, key=(req.store, req.transaction_id))
        if existing is not None:
            if existing.request_hash != digest:
                raise Conflict("a hold for this transaction_id exists with a different body", "transaction_id")
            return shown(tx, existing, account, replayed=True)
        if account.status != "active":
            raise Conflict(f"the member's account is {account.status}", "member_id")
        now = inputs.now()
        ledger.release_expired(tx, account, now)  # an expired hold blocks nothing
        row = {"id": str(uuid.uuid4()), "member_id": account.member_id, "store": req.store,
               "terminal": req.terminal, "transaction_id": req.transaction_id, "points": req.points,
               "status": "held", "request_hash": digest, "expires_at": now + timedelta(seconds=req.ttl_seconds)}
        if not ledger.hold(tx, account, row, now):
            raise Conflict("a hold for this transaction_id is being placed concurrently: retry", "transaction_id")
        repo.save_accounts(tx, [account])
        return shown(tx, repo.get_hold(tx, str(row["id"])), account)


def finish(db: WorkerDb, caller: Caller, hold_id: str, action: str) -> Hold:
    """Commit (the points are spent) or release (they go back); a repeat answers the same."""
    hold_id = inputs.canonical_id(hold_id, "hold_id", "a hold id (the hold_id of POST /v1/points/holds)")
    with db.transaction() as tx:
        hold = repo.get_hold(tx, hold_id)
        if hold is None:
            raise NotFound("no such hold", "hold_id")
        require_store(caller, hold.store, "hold_id")
        account = repo.lock_accounts(tx, [str(hold.member_id)])[str(hold.member_id)]
        hold = repo.get_hold(tx, hold_id, lock=True)
        now = inputs.now()
        if hold.status == "held" and hold.expires_at <= now:
            ledger.release(tx, account, hold, "expired", now)
            repo.save_accounts(tx, [account])
            hold = repo.get_hold(tx, hold_id)
        wanted = "committed" if action == "commit" else "released"
        if hold.status == wanted:
            return shown(tx, hold, account, replayed=True)
        if hold.status != "held":
            if action == "release" and hold.status == "expired":
                return shown(tx, hold, account, replayed=True)
            raise Conflict(f"the hold is {hold.status}", "hold_id")
        actor = inputs.acting((caller.kind, caller.id), hold.terminal)
        if action == "commit":
            ledger.commit(tx, account, hold, now)
            tx.emit(PointsRedeemed(member_id=account.member_id, store=hold.store,
                                   transaction_id=hold.transaction_id, hold_id=hold_id, points=hold.points,
                                   redeemed_at=now, balance=account.balance, **actor))
        else:
            ledger.release(tx, account, hold, "released", now)
            tx.emit(PointsHoldReleased(member_id=account.member_id, store=hold.store,
                                       transaction_id=hold.transaction_id, hold_id=hold_id, points=hold.points,
                                       released_at=now, **actor))
        repo.save_accounts(tx, [account])
        return shown(tx, repo.get_hold(tx, hold_id), account)
