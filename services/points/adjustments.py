"""Staff adjustments (within a daily limit per staff member) and member activities (check-ins,
shares, referrals, profile completion, birthdays), each granted once."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.events import PointsAccrued, PointsAdjusted
from contracts.points import ActivityResult, Adjust, AdjustResult, LedgerEntry
from service_runtime.db import Tx, WorkerDb
from services.points import domain, inputs, ledger, opening, repo
from services.points.accounts import entry
from services.points.programs import Programs


def _adjustment(rows: list[Any]) -> LedgerEntry:
    """One adjustment as one entry, even when it spent points of several stores."""
    first = entry(rows[0])
    return first.model_copy(update={"points": sum(r.delta for r in rows),
                                    "store": first.store if len({r.store for r in rows}) == 1 else None})


def adjust(db: WorkerDb, programs: Programs, cmd: Adjust, member_id: str, actor: str) -> AdjustResult:
    """Credit or debit a member by hand; a request_id makes it safe to send again."""
    reference = f"{actor}:{cmd.request_id or uuid.uuid4()}"
    with db.transaction() as tx:
        account = repo.lock_accounts(tx, [member_id]).get(member_id)
        if account is None:
            raise NotFound(f"no points account for member {member_id}", "member_id")
        done = repo.adjustment(tx, reference) if cmd.request_id else []
        if done:
            if done[0].member_id != member_id or sum(r.delta for r in done) != cmd.points:
                raise Conflict("this request_id was used for another adjustment", "request_id")
            return AdjustResult(entry=_adjustment(done), balance=account.balance, replayed=True)
        if account.status in ("merged", "erased"):
            raise Conflict(f"the member's account is {account.status}", "member_id")
        now = inputs.now()
        _, program = programs.current(tx)
        zone = inputs.zone(cmd.store)
        day_start, _ = domain.local_day_bounds(now, zone)
        used = repo.adjusted_today(tx, actor, day_start)
        if used + abs(cmd.points) > program.adjust_daily_limit:
            raise InvalidInput(f"over your daily adjustment limit ({program.adjust_daily_limit} points, "
                               f"{used} used today)", "points")
        detail = {"reason": cmd.reason}
        if cmd.points > 0:
            ledger.credit(tx, account, cmd.points, kind="adjustment", store_code=cmd.store,
                          reference=reference, program=program, zone=zone, at=now, detail=detail,
                          actor_id=actor)
        else:
            ledger.release_expired(tx, account, now)  # an expired hold blocks nothing
            ledger.debit(tx, account, -cmd.points, kind="adjustment", at_store=cmd.store,
                         reference=reference, now=now, detail=detail, actor_id=actor)
        repo.save_accounts(tx, [account])
        result = AdjustResult(entry=_adjustment(repo.adjustment(tx, reference)), balance=account.balance)
        tx.emit(PointsAdjusted(member_id=member_id, store=cmd.store, points=cmd.points, reason=cmd.reason,
                               actor_id=actor, adjusted_at=now, balance=account.balance))
        return result


def record_activity(db: WorkerDb, members: Any, programs: Programs, member_id: str, kind: str, key: str | None,
                    store_code: str | None, at: datetime | None) -> ActivityResult:
    """An activity by RPC: its accounts opened on first use."""
    def attempt(confirmed: bool) -> ActivityResult:
        with db.transaction() as tx:
            return activity(tx, programs, member_id, kind, key, store_code, at or inputs.now(), confirmed)
    return opening.with_opening(db, members, attempt)


def activity(tx: Tx, programs: Programs, member_id: str, kind: str, key: str | None, store_code: str | None,
             at: datetime, confirmed: bool = True) -> ActivityResult:
    """Points for an activity, once per its natural key (a day's check-in, a shared item, a
    referred member, a birthday's year); shares beyond the daily limit earn nothing."""
    referred: str | None = None
    ids = [member_id]
    if kind == "referral":
        if not key:
            raise InvalidInput("the referred member's id", "key")
        referred = inputs.canonical_id(key, "key")
        if referred == member_id:
            raise InvalidInput("a member cannot refer themselves", "key")
        ids.append(referred)
    accounts = repo.lock_accounts(tx, ids)
    account = accounts.get(member_id)
    if account is None or (referred and referred not in accounts):
        if not confirmed:
            raise opening.Missing([m for m in ids if m not in accounts], [])
        raise NotFound("unknown member", "key" if account else "member_id")
    _, program = programs.current(tx)
    zone = inputs.zone(store_code or account.registration_store)
    points = {"checkin": program.activities.checkin, "share": program.activities.share,
              "referral": program.activities.referral_referrer,
              "profile_completion": program.activities.profile_completion,
              "birthday": program.activities.birthday}[kind]
    if kind == "checkin":
        natural = at.astimezone(ZoneInfo(zone)).date().isoformat()
    elif kind == "share":
        if not key:
            raise InvalidInput("what was shared (an id)", "key")
        start, end = domain.local_day_bounds(at, zone)
        if repo.activities_between(tx, member_id, "share", start, end) >= program.activities.share_daily_limit:
            points = 0
        natural = key
    elif kind == "referral":
        natural = str(referred)
    else:  # profile completion, birthday (its key is the year)
        natural = key if kind == "birthday" and key else kind
    if account.status != "active":
        raise Conflict(f"the member's account is {account.status}", "member_id")
    if not repo.claim_activity(tx, member_id, kind, natural, points):
        return ActivityResult(member_id=member_id, kind=kind, granted=False, points=0, balance=account.balance,
                              referred_member_id=referred)
    events: list[Any] = []
    reference = f"{kind}:{natural}"
    credited = [(account, points)]
    if referred:
        credited.append((accounts[referred], program.activities.referral_referred))
    for target, amount in credited:
        if amount > 0 and target.status == "active":
            ledger.credit(tx, target, amount, kind="activity", store_code=store_code, reference=reference,
                          program=program, zone=zone, at=at, detail={"activity": kind})
            events.append(PointsAccrued(member_id=target.member_id, store=store_code, source=kind,
                                        reference=natural, points=amount, occurred_at=at, balance=target.balance))
    repo.save_accounts(tx, [a for a in accounts.values() if a.dirty])
    tx.emit_many(events)
    return ActivityResult(member_id=member_id, kind=kind, granted=True, points=points, balance=account.balance,
                          referred_member_id=referred,
                          referred_points=program.activities.referral_referred if referred else 0)
