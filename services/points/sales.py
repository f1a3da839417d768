"""Recording sales (till sales, combined; offline uploads with their refunds): one transaction,
every account locked in order, each sale answered on its own. The rules are in sale_rules.py
and domain.py; this gathers their inputs in as few statements as it can (the hot path)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from contracts.errors import Conflict, InvalidInput, ServiceError
from contracts.events import PointsAccrued, TierChanged
from contracts.points import Expiring, Program, Refund, RefundResult, Sale, SaleResult
from service_runtime.db import Tx, WorkerDb
from services.points import catalog_feed, domain, inputs, ledger, opening, ports, refunds, sale_rules
from services.points.programs import Programs
from services.points.repo import Account

Outcome = SaleResult | RefundResult | ServiceError

repo: ports.LedgerRows = ports.REPO  # the in-memory fake in unit tests


class _Race(Exception):
    """Another process recorded one of these sales between our check and our insert."""


def post(db: WorkerDb, programs: Programs, members: Any, sales_in: Sequence[tuple[int, Sale]],
         refunds_in: Sequence[tuple[int, Refund]]) -> dict[int, Outcome]:
    """Sales and refunds in one transaction, each answered on its own (the callers checked
    that the caller may post for their stores)."""
    confirmed: set[str] = set()  # references members was asked about (opened, or unknown)
    races = 0
    while True:
        try:
            with db.transaction() as tx:
                if refunds_in:  # every account of the upload locked at once, in order: no deadlocks
                    _lock_all(tx, sales_in, refunds_in)
                outcomes: dict[int, Outcome] = {}
                outcomes.update(record(tx, programs, sales_in, confirmed))
                outcomes.update(refunds.refund_many(tx, programs, refunds_in))
                return outcomes
        except _Race:
            races += 1
            if races == 2:
                raise Conflict("the same sale is being recorded concurrently: retry", "transaction_id") from None
        except opening.Missing as missing:  # at most once: every reference is confirmed after it
            opening.open_missing(db, members, missing)
            confirmed.update(missing.member_ids, missing.numbers)


def _lock_all(tx: Tx, sales_in: Sequence[tuple[int, Sale]], refunds_in: Sequence[tuple[int, Refund]]) -> None:
    ids: list[str] = []
    numbers: list[str] = []
    for _, sale in sales_in:
        if sale.member_number:
            numbers.append(sale.member_number)
            continue
        try:
            ids.append(inputs.canonical_id(sale.member_id or ""))
        except InvalidInput:
            continue  # answered as that item's error later
    members = set(repo.resolve(tx, ids, numbers).values())
    members |= set(repo.sale_members(tx, [(r.store, r.transaction_id) for _, r in refunds_in]))
    repo.lock_accounts(tx, members)


@dataclass
class _Batch:
    """What the sales of one transaction share: their members' locked accounts, recorded sales,
    qualifying spend and lots, and the program and bonus rules in force."""

    resolved: dict[str, str]
    accounts: dict[str, Account]
    existing: dict[tuple[str, str], Any]
    spend: dict[str, tuple[Decimal, int]]
    summaries: dict[str, dict[str, Any]]
    current: Program
    bonuses: list[domain.Bonus]
    granted: set[tuple[str, str]]
    budgeted: set[str]
    now: datetime
    since: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)  # the sales rows to insert
    writes: ledger.Writes = field(default_factory=ledger.Writes)
    events: list[Any] = field(default_factory=list)
    zones: dict[str, str] = field(default_factory=dict)

    def zone(self, store: str) -> str:
        """The store's zone, looked up once a batch (from the environment on every call otherwise)."""
        found = self.zones.get(store)
        if found is None:
            found = self.zones[store] = inputs.zone(store)
        return found


def record(tx: Tx, programs: Programs, sales_in: Sequence[tuple[int, Sale]], confirmed: set[str]
           ) -> dict[int, SaleResult | ServiceError]:
    """Earn each sale's points: replays answered as first recorded, a sale twice in the batch
    once, daily caps counting the batch's earlier sales, tiers raised as spend grows."""
    if not sales_in:
        return {}
    outcomes: dict[int, SaleResult | ServiceError] = {}
    refs: dict[int, str] = {}
    for index, sale in sales_in:
        try:
            refs[index] = inputs.canonical_id(sale.member_id) if sale.member_id else cast(str, sale.member_number)
        except InvalidInput as exc:
            outcomes[index] = exc
    sales_in = [(index, sale) for index, sale in sales_in if index in refs]
    batch = _open(tx, programs, sales_in, refs, confirmed)
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    for index, sale in sales_in:
        key, digest = (sale.store, sale.transaction_id), inputs.request_hash(sale)
        try:
            replayed = sale_rules.replay(key, digest, batch.existing)
            if replayed is not None:
                outcomes[index] = SaleResult.model_validate(replayed)
                continue
            first = sale_rules.same_as(key, digest, seen)
            if first is not None:  # answered as that sale, which was booked (only booked ones are seen)
                outcomes[index] = cast(SaleResult, outcomes[first]).model_copy(update={"replayed": True})
                continue
            flags = catalog_feed.review(sale)  # a closed store's sale is refused
            member_id = batch.resolved.get(refs[index])
            account = batch.accounts.get(member_id) if member_id else None
            if account is None:
                raise sale_rules.unknown_member(sale)
            if account.status != "active":
                raise Conflict(f"the member's account is {account.status}", "member_id")
            version, program = programs.at(tx, sale.sold_at)
            open_to = [b for b in batch.bonuses if b.open_to(account.member_id, batch.granted)]
            earning = _earn(tx, batch, sale, account, program, open_to)
        except domain.RuleError as exc:
            outcomes[index] = InvalidInput(str(exc), exc.field)
            continue
        except ServiceError as exc:
            outcomes[index] = exc
            continue
        seen[key] = (digest, index)
        outcomes[index] = _book(tx, batch, sale, account, version, program, earning, open_to, digest, flags)
    changed = [a for a in batch.accounts.values() if a.dirty]
    if repo.write_sales(tx, batch.writes.ledger, batch.writes.lots, batch.rows, changed) != len(batch.rows):
        raise _Race()
    tx.emit_many(batch.events)
    return outcomes


def _open(tx: Tx, programs: Programs, sales_in: list[tuple[int, Sale]], refs: dict[int, str],
          confirmed: set[str]) -> _Batch:
    """Lock the members' accounts (in one statement on the POS path) and read what their sales need."""
    resolved, accounts = repo.lock_refs(tx, [refs[i] for i, s in sales_in if s.member_id],
                                        [refs[i] for i, s in sales_in if not s.member_id])
    unconfirmed = opening.unknown([refs[i] for i, _ in sales_in], resolved, confirmed)
    if unconfirmed:  # registered a moment ago, or unknown: members says which
        raise opening.Missing([r for i, s in sales_in if s.member_id and (r := refs[i]) in unconfirmed],
                              [r for i, s in sales_in if not s.member_id and (r := refs[i]) in unconfirmed])
    now = inputs.now()
    for held in accounts.values():  # an expired hold stops counting at once, not at the next hold job
        ledger.release_expired(tx, held, now)
    _, current = programs.current(tx)
    since = now - timedelta(days=current.tier_window_days)
    existing, spend, summaries = repo.sale_context(
        tx, sorted(accounts), [(s.store, s.transaction_id) for _, s in sales_in], since, now)
    bonuses = programs.bonuses(tx)
    live = [b for b in bonuses if any(b.rule.starts_at <= s.sold_at < b.rule.ends_at for _, s in sales_in)]
    # no query unless an audience-only rule applies
    granted = repo.granted_audiences(tx, {b.audience for b in live if b.audience is not None}, sorted(accounts))
    budgeted = programs.budgeted(tx)
    # the budgets these sales may draw on, locked at once in order: two uploads taking from
    # two campaigns' budgets in opposite orders would deadlock
    repo.lock_budgets(tx, {b.source for b in live if b.source in budgeted})
    return _Batch(resolved, accounts, existing, spend, summaries, current, bonuses, granted, budgeted, now, since)


def _earn(tx: Tx, batch: _Batch, sale: Sale, account: Account, program: Program,
          open_to: list[domain.Bonus]) -> domain.Earning:
    """The sale's points by the program in force when it was sold, within the day's cap (this
    batch's earlier sales included) and the campaigns' budgets."""
    today = 0
    if program.cap_per_day is not None:
        start, end = domain.local_day_bounds(sale.sold_at, batch.zone(sale.store))
        today = sale_rules.earned_today(repo.earned_between(tx, account.member_id, start, end), batch.rows,
                                        account.member_id, start, end)
    lines, sale_discount = sale_rules.lines(sale, catalog_feed.CATALOG)
    earning = domain.earn(program, lines=lines, sale_discount=sale_discount, currency=sale.currency,
                          tier=account.tier, store=sale.store, sold_at=sale.sold_at, bonuses=open_to,
                          earned_today=today)
    return within_budgets(tx, earning, [b for b in open_to if b.source in batch.budgeted], account.member_id)


def _book(tx: Tx, batch: _Batch, sale: Sale, account: Account, version: int, program: Program,
          earning: domain.Earning, open_to: list[domain.Bonus], digest: str, flags: tuple[str, ...]) -> SaleResult:
    """Credit the points (rows gathered for one insert), raise the tier if the spend now
    qualifies, and answer with the account as it is right after this sale."""
    now = batch.now
    lots_before = len(batch.writes.lots)
    repaid = ledger.credit(tx, account, earning.points, kind="accrual", store_code=sale.store,
                           reference=f"{sale.store}:{sale.transaction_id}", program=program,
                           zone=batch.zone(sale.store), at=sale.sold_at,
                           available_at=ledger.pending_until(program, sale.sold_at),
                           detail={"breakdown": dict(earning.breakdown)}, writes=batch.writes)
    totals = sale_rules.qualifying_after(batch.spend.get(account.member_id, (Decimal(0), 0)), sale.sold_at,
                                         batch.since, earning.net_amount, earning.points)
    batch.spend[account.member_id] = totals
    new_tier = domain.upgrade(batch.current, account.tier, sale_rules.qualifying(batch.current.tier_basis, totals))
    if new_tier:
        batch.events.append(TierChanged(member_id=account.member_id, old_tier=account.tier, new_tier=new_tier,
                                        direction="up", reason="sale", changed_at=now))
        account.tier, account.tier_since, account.dirty = new_tier, now, True
    summary = batch.summaries[account.member_id]
    for lot in batch.writes.lots[lots_before:]:  # this sale's lot (none when it earned nothing)
        repo.add_to_summary(summary, lot, now)
    result = SaleResult(
        store=sale.store, transaction_id=sale.transaction_id, member_id=account.member_id,
        points_earned=earning.points, breakdown=[{"rule": r, "points": p} for r, p in earning.breakdown],
        balance=account.balance, available=summary["available"], pending=summary["pending"], debt_repaid=repaid,
        tier=account.tier, tier_changed=bool(new_tier), expiring=expiring(summary), flags=list(flags))
    batch.rows.append({"store": sale.store, "transaction_id": sale.transaction_id, "member_id": account.member_id,
                       "terminal": sale.terminal, "amount": sale.amount, "net_amount": earning.net_amount,
                       "currency": sale.currency, "sold_at": sale.sold_at, "points": earning.points,
                       "program_version": version, "request_hash": digest,
                       "result": result.model_dump(mode="json")})
    batch.events.append(PointsAccrued(member_id=account.member_id, store=sale.store, source="sale",
                                      reference=sale.transaction_id, points=earning.points,
                                      amount=earning.net_amount, currency=sale.currency, occurred_at=sale.sold_at,
                                      balance=account.balance, point_value=program.point_value,
                                      campaign_bonus=sale_rules.campaign_bonus(earning, open_to),
                                      lines=sale_rules.sold_lines(sale), **inputs.acting(sale._actor, sale.terminal)))
    return result


def within_budgets(tx: Tx, earning: domain.Earning, budgeted: list[domain.Bonus], member_id: str) -> domain.Earning:
    """Bonus points of budgeted campaigns, taken from their budgets (under the budget row's lock)
    and within their per-member limit of bonus-earning sales; a refund gives neither back."""
    if not budgeted:
        return earning
    sources = {f"bonus:{b.rule_id}": b.source for b in budgeted}
    # what each budgeted line pays after the sale's caps: a capped-away bonus takes no budget
    # and does not count against the member's limit
    wanted = [(label, points) for label, points in domain.paid_bonus(earning).items()
              if label in sources and points > 0]
    allowed: dict[str, int] = {}
    for source in sorted({sources[label] for label, _ in wanted}):
        labels = [(label, points) for label, points in wanted if sources[label] == source]
        if not repo.take_award(tx, source, member_id):
            allowed.update((label, 0) for label, _ in labels)  # the member's limit of bonus sales
            continue
        allowed.update((label, repo.take_budget(tx, source, points)) for label, points in labels)
        if not any(allowed[label] for label, _ in labels):
            repo.give_back_award(tx, source, member_id)  # nothing granted: the sale does not count
    return domain.within_budgets(earning, allowed)


def expiring(summary: dict[str, Any]) -> Expiring | None:
    """The soonest-expiring points of a lot summary (None: nothing expires)."""
    if summary["soonest"] is None or not summary["soonest_points"]:
        return None
    return Expiring(points=summary["soonest_points"], expires_at=summary["soonest"])
