"""Jobs run by the timer (and by RPC for operators and tests): release expired holds, expire
lots, remind of expiring points, downgrade tiers. Each is safe to run twice or in two processes
at once: it works member by member under the account lock and re-checks what is still due."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from contracts.envelope import EventPayload
from contracts.events import PointsExpired, PointsExpiring, TierChanged
from service_runtime.db import WorkerDb
from services.points import domain, ledger, repo
from services.points.programs import Programs

JOB_BATCH = 100  # accounts locked per job transaction (short, so tills wait little)
Job = Callable[[WorkerDb, Programs, datetime], tuple[int, int]]


def expire_holds(db: WorkerDb, programs: Programs, now: datetime) -> tuple[int, int]:
    done = 0
    while True:
        with db.transaction() as tx:
            due = repo.expired_holds(tx, now, JOB_BATCH)
            locked = repo.lock_accounts(tx, [str(m) for _, m in due])  # in one go, in order
            for hold_id, member_id in due:
                account = locked[str(member_id)]
                hold = repo.get_hold(tx, str(hold_id), lock=True)
                if hold.status == "held":
                    ledger.release(tx, account, hold, "expired", now)
                    repo.save_accounts(tx, [account])
                    done += 1
        if len(due) < JOB_BATCH:
            return done, 0


def expire_lots(db: WorkerDb, programs: Programs, now: datetime) -> tuple[int, int]:
    """Expire lots whose time has come (their expiry is the end of a local day in the store's
    zone). A lot is expired exactly once: its remaining points are zeroed under the lock."""
    members = events = 0
    while True:
        with db.transaction() as tx:
            due = repo.members_with_expired_lots(tx, now, JOB_BATCH)
            locked = repo.lock_accounts(tx, due)  # in one go, in order
            out: list[EventPayload] = []
            for member_id in due:
                account = locked[member_id]
                expired = [lot for lot in repo.open_lots(tx, member_id)
                           if lot.expires_at is not None and lot.expires_at <= now]
                if not expired:
                    continue
                total = sum(lot.remaining for lot in expired)
                repo.take_from_lots(tx, [(lot, lot.remaining) for lot in expired])
                repo.add_ledger(tx, [{"member_id": member_id, "kind": "expiry", "delta": -lot.remaining,
                                      "store": lot.store, "reference": f"lot:{lot.lot_id}",
                                      "lot_id": lot.lot_id} for lot in expired])
                account.balance -= total
                repo.save_accounts(tx, [account])
                out.append(PointsExpired(member_id=member_id, points=total, expired_at=now,
                                         balance=account.balance))
            tx.emit_many(out)
            members += len(out)
            events += len(out)
        if len(due) < JOB_BATCH:
            return members, events


def remind(db: WorkerDb, programs: Programs, now: datetime) -> tuple[int, int]:
    sent = 0
    with db.transaction() as tx:
        _, program = programs.current(tx)
    while True:
        with db.transaction() as tx:
            due = repo.expiring_between(tx, now, now + timedelta(days=program.reminder_days), JOB_BATCH)
            out: list[EventPayload] = []
            for row in due:
                if repo.claim_reminder(tx, str(row.member_id), row.expires_at, int(row.points)):
                    out.append(PointsExpiring(member_id=str(row.member_id), points=int(row.points),
                                              expires_at=row.expires_at,
                                              days_ahead=max(0, (row.expires_at - now).days)))
            tx.emit_many(out)
            sent += len(out)
        if len(due) < JOB_BATCH:
            return sent, sent


def evaluate_tiers(db: WorkerDb, programs: Programs, now: datetime) -> tuple[int, int]:
    """Downgrade members who no longer qualify, one tier per evaluation, after the grace period."""
    checked = changed = 0
    after: str | None = None
    with db.transaction() as tx:
        _, program = programs.current(tx)
    while True:
        with db.transaction() as tx:
            ids = repo.tiered_members(tx, after, JOB_BATCH, program.tiers[0].name)
            if not ids:
                return checked, changed
            accounts = repo.lock_accounts(tx, ids)
            spend = repo.qualifying(tx, ids, now - timedelta(days=program.tier_window_days))
            out: list[EventPayload] = []
            for member_id, account in accounts.items():
                total, points = spend[member_id]
                lower = domain.downgrade(program, account.tier, total if program.tier_basis == "spend"
                                         else Decimal(points), account.tier_since, now)
                if lower:
                    out.append(TierChanged(member_id=member_id, old_tier=account.tier, new_tier=lower,
                                           direction="down", reason="evaluation", changed_at=now))
                    account.tier, account.tier_since, account.dirty = lower, now, True
            repo.save_accounts(tx, [a for a in accounts.values() if a.dirty])
            tx.emit_many(out)
            checked += len(ids)
            changed += len(out)
            after = ids[-1]


JOBS: dict[str, Job] = {"holds": expire_holds, "expiry": expire_lots, "reminders": remind,
                        "tiers": evaluate_tiers}
