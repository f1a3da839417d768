"""Historical sales in history-only mode (moving a chain onto the platform): each sale is recorded
as the till's offline upload would record it (idempotent per store and transaction id, checked
by the same rules and limits) but earns nothing: no ledger row, no lot, no tier change. Its
``points.accrued`` event carries 0 points and the amount, so RFM, analytics and reconciliation
see the purchase. Accrual mode is the ordinary offline upload (record_batch)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts.errors import Conflict, InvalidInput, ServiceError
from contracts.events import PointsAccrued
from contracts.points import SaleItem, SaleResult
from service_runtime.db import WorkerDb
from services.points import inputs, limits, opening, repo, uploads
from services.points.programs import Programs
from services.points.repo import history_sales as history_repo


def _net(sale: SaleItem) -> Decimal:
    discounts = sum((d.amount for d in sale.discounts), Decimal(0)) + sum((i.discount for i in sale.items), Decimal(0))
    return sale.amount - discounts


def record(db: WorkerDb, members: Any, programs: Programs, items: Any,
           stores: tuple[str, ...] | None) -> dict[str, Any]:
    """Record an upload of historical sales, each answered on its own (its field named), as JSON."""
    good, refused = uploads.check_items(items, stores, limits.from_env())
    sales_in: list[tuple[int, SaleItem]] = []
    for index, item in good:
        if isinstance(item, SaleItem):
            sales_in.append((index, item))
        else:
            refused[index] = InvalidInput("history imports carry sales only", uploads.item_field(index, "kind"))
    outcomes: dict[int, Any] = dict(refused)
    refs = _refs(sales_in, outcomes)
    resolved = _resolve(db, members, refs)
    with db.transaction() as tx:
        version, _ = programs.current(tx)
        accounts = history_repo.accounts(tx, set(resolved.values()))
        rows: list[dict[str, Any]] = []
        events: list[Any] = []
        answers: dict[int, tuple[SaleResult, str]] = {}
        by_index = dict(sales_in)
        for index, sale in sales_in:
            if index in outcomes:
                continue
            member_id = resolved.get(refs[index])
            account = accounts.get(member_id) if member_id else None
            if account is None:
                outcomes[index] = InvalidInput("unknown member", uploads.item_field(
                    index, "member_number" if sale.member_number else "member_id"))
                continue
            result = SaleResult(store=sale.store, transaction_id=sale.transaction_id, member_id=member_id,
                                points_earned=0, breakdown=[], balance=account.balance, available=0, pending=0,
                                tier=account.tier, expiring=None)
            digest = inputs.request_hash(sale)
            answers[index] = (result, digest)
            rows.append({"store": sale.store, "transaction_id": sale.transaction_id, "member_id": member_id,
                         "terminal": sale.terminal, "amount": sale.amount, "net_amount": _net(sale),
                         "currency": sale.currency, "sold_at": sale.sold_at, "points": 0, "program_version": version,
                         "request_hash": digest, "result": result.model_dump(mode="json")})
        inserted = history_repo.insert_sales(tx, rows)
        existing = history_repo.hashes(tx, [(r["store"], r["transaction_id"]) for r in rows
                                            if (r["store"], r["transaction_id"]) not in inserted])
        for index, (result, digest) in answers.items():
            key = (result.store, result.transaction_id)
            if key in inserted:
                outcomes[index] = result
                sale = by_index[index]
                events.append(PointsAccrued(member_id=result.member_id, store=sale.store, source="sale",
                                            reference=sale.transaction_id, points=0, amount=_net(sale),
                                            currency=sale.currency, occurred_at=sale.sold_at, balance=result.balance))
                inserted.discard(key)  # the same sale twice in one upload: the second is a replay
            elif existing.get(key, (None,))[0] == digest:
                outcomes[index] = SaleResult.model_validate(existing[key][1]).model_copy(update={"replayed": True})
            else:
                outcomes[index] = Conflict("this transaction id was recorded with other content",
                                           uploads.item_field(index, "transaction_id"))
        tx.emit_many(events)
    # every error here names its item already (items.N.field)
    return uploads.answer(items, outcomes, {i: e for i, e in outcomes.items() if isinstance(e, ServiceError)})


def _refs(sales_in: list[tuple[int, SaleItem]], outcomes: dict[int, Any]) -> dict[int, str]:
    refs: dict[int, str] = {}
    for index, sale in sales_in:
        try:
            refs[index] = inputs.canonical_id(sale.member_id) if sale.member_id else str(sale.member_number)
        except InvalidInput as exc:
            outcomes[index] = InvalidInput(exc.message, uploads.item_field(index, exc.field))
    return refs


def _resolve(db: WorkerDb, members: Any, refs: dict[int, str]) -> dict[str, str]:
    ids = [r for r in refs.values() if len(r) == 36]
    numbers = [r for r in refs.values() if len(r) != 36]
    with db.transaction() as tx:
        resolved = repo.resolve(tx, ids, numbers)
    missing = [r for r in refs.values() if r not in resolved]
    if missing:  # imported a moment ago: members.imported not handled yet
        found = opening.confirm(members, [m for m in missing if len(m) == 36], [m for m in missing if len(m) != 36])
        if found:
            with db.transaction() as tx:
                opening.open_confirmed(tx, found)
                resolved = repo.resolve(tx, ids, numbers)
    return resolved
