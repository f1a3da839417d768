"""Points service entrypoints: parse, lock the accounts, apply the rules, write, reply."""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from nameko.rpc import ServiceRpc, rpc
from nameko.timer import timer
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from contracts.campaigns import (
    CampaignAudienceGranted,
    CampaignBonusEnded,
    CampaignBonusStarted,
    CampaignBudgetChanged,
)
from contracts.envelope import Envelope
from contracts.errors import (
    Conflict,
    Forbidden,
    InsufficientPoints,
    InvalidEvent,
    InvalidInput,
    NotFound,
    ServiceError,
)
from contracts.events import (
    MemberBirthday,
    MemberErased,
    MemberMerged,
    MemberRegistered,
    MembersImported,
    MemberUpdated,
    PointsAccrued,
    PointsAdjusted,
    PointsExpired,
    PointsExpiring,
    PointsRedeemed,
    PointsReversed,
    TierChanged,
)
from contracts.points import (
    Account,
    Activity,
    ActivityResult,
    Adjust,
    AdjustResult,
    BatchItemResult,
    BatchResult,
    BonusRule,
    BonusRuleOut,
    Expiring,
    Hold,
    HoldRequest,
    ItemError,
    JobResult,
    LedgerEntry,
    LedgerPage,
    LiabilityRow,
    Program,
    ProgramVersion,
    Refund,
    RefundItem,
    RefundResult,
    Sale,
    SaleItem,
    SaleResult,
    SetProgram,
    SettlementRow,
    TierProgress,
)
from service_runtime.base import ServiceBase, parse_request
from service_runtime.config import StoreZones, env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe, subscribe_batch
from services.points import domain, ledger, limits, opening, repo, reports, uploads
from services.points.combine import SaleCombiner, SaleCombinerProvider
from services.points.programs import ProgramProvider, Programs

log = logging.getLogger(__name__)
limits.from_env()  # a limit setting that cannot be used stops the service at start, not at a sale
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict, InsufficientPoints)
CAMPAIGN_RULES = uuid.UUID("0b6a3f55-2f7c-4a59-8d0e-5f3c1d2e9a41")  # bonus rule ids from campaigns' rule keys
JOB_BATCH = 100  # accounts locked per job transaction (short, so tills wait little)


class _Race(Exception):
    """Another process recorded one of these sales between our check and our insert."""


def _member_id(value: str, field: str = "member_id", what: str = "a member id") -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInput(f"not {what}", field) from None


def _within(problem: tuple[str, str] | None) -> None:
    """An amount above the sanity limits (limits.py) is a bad field."""
    if problem is not None:
        raise InvalidInput(problem[1], problem[0])


def _campaign_bonus(earning: domain.Earning, bonuses: list[domain.Bonus]) -> dict[str, int]:
    """Bonus points this earning really pays by campaign id (after caps and budget cuts)."""
    campaign_of = {f"bonus:{b.rule_id}": b.source.removeprefix("campaign:") for b in bonuses
                   if b.source.startswith("campaign:")}
    out: dict[str, int] = {}
    for label, points in domain.paid_bonus(earning).items():
        if label in campaign_of and points:
            out[campaign_of[label]] = out.get(campaign_of[label], 0) + points
    return out


def _hash(model: BaseModel) -> str:
    """The request's digest for idempotency: an upload's item hashes as the same sale or refund
    sent alone (its "kind" left out)."""
    body = model.model_dump(mode="json", exclude={"kind"} if isinstance(model, SaleItem | RefundItem) else None)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _at(at: str | None) -> datetime:
    if not at:
        return _now()
    try:
        value = datetime.fromisoformat(at)
    except ValueError:
        raise InvalidInput("an ISO-8601 time with a zone", "at") from None
    if value.tzinfo is None:
        raise InvalidInput("give a time zone", "at")
    return value.astimezone(UTC)


def _expiring(summary: dict[str, Any]) -> Expiring | None:
    if summary["soonest"] is None or not summary["soonest_points"]:
        return None
    return Expiring(points=summary["soonest_points"], expires_at=summary["soonest"])


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(entry_id=row.id, kind=row.kind, points=row.delta, store=row.store, at_store=row.at_store,
                       reference=row.reference, detail=dict(row.detail or {}), created_at=row.created_at)


def _adjustment(rows: list[Any]) -> LedgerEntry:
    """One adjustment as one entry, even when it spent points of several stores."""
    first = _entry(rows[0])
    return first.model_copy(update={"points": sum(r.delta for r in rows),
                                    "store": first.store if len({r.store for r in rows}) == 1 else None})


class PointsService(ServiceBase):
    name = "points"
    programs: Programs = ProgramProvider()  # type: ignore[assignment]
    sales: SaleCombiner = SaleCombinerProvider()  # type: ignore[assignment]
    members = ServiceRpc("members")  # only to confirm a member whose account is not open yet

    # -- who may do what (the gateway checks too; this holds for any caller) ------------------
    def _check_store(self, store_code: str | None, field: str = "store") -> None:
        stores = self.caller.stores
        if stores is not None and store_code not in stores:
            raise Forbidden(f"not allowed for store {store_code!r}", field)

    def _check_member(self, member_id: str) -> None:
        if self.caller.kind == "member" and self.caller.member_id != member_id:
            raise Forbidden("a member sees only their own points", "member_id")

    def _zone(self, store_code: str | None) -> str:
        return StoreZones.from_env().zone_of(store_code)

    # -- member lifecycle (events from members) --------------------------------------------------
    @subscribe_batch("members", "member.registered")
    def on_member_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        """Accounts open in batches: registrations come in bursts at opening time."""
        self._open_accounts(tx, events)

    @subscribe_batch("members", "members.imported", max_batch=10)
    def on_members_imported(self, tx: Tx, events: list[tuple[MembersImported, Envelope]]) -> None:
        """A bulk import's members, up to 500 an event: accounts for all of them in one statement."""
        self._open_accounts(tx, [(member, envelope) for event, envelope in events for member in event.members])

    @staticmethod
    def _open_accounts(tx: Tx, registered: list[tuple[MemberRegistered, Envelope]]) -> None:
        for event, envelope in registered:
            try:
                _member_id(event.member_id)
            except InvalidInput:
                raise InvalidEvent(f"{envelope.type} with a malformed member_id {event.member_id!r}") from None
        repo.open_accounts(tx, [{"member_id": event.member_id, "opened_by_event": str(envelope.event_id),
                                  "member_number": event.member_number,
                                  "registration_store": event.registration_store} for event, envelope in registered])

    @subscribe("members", "member.updated")
    def on_member_updated(self, tx: Tx, event: MemberUpdated, envelope: Envelope) -> None:
        if "status" in event.changed_fields and event.status in ("active", "frozen"):
            accounts = repo.lock_accounts(tx, [event.member_id])
            if event.member_id in accounts and accounts[event.member_id].status in ("active", "frozen"):
                repo.set_status(tx, event.member_id, event.status)

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        """Points hold no personal data beyond the member id; the accounting stays, the
        account takes no more points."""
        accounts = repo.lock_accounts(tx, [event.member_id])
        account = accounts.get(event.member_id)
        if account is not None:
            for hold in repo.open_holds(tx, account.member_id):
                ledger.release(tx, account, hold, "released", _now())
            repo.save_accounts(tx, [account])
            repo.set_status(tx, event.member_id, "erased")

    @subscribe("members", "member.merged")
    def on_member_merged(self, tx: Tx, event: MemberMerged, envelope: Envelope) -> None:
        """Balance, lots, holds released, history, sales and activities move to the survivor."""
        # the survivor may itself have been merged since (events handled out of order): follow it
        survivor_id = repo.resolve(tx, [event.survivor_id]).get(event.survivor_id, event.survivor_id)
        accounts = repo.lock_accounts(tx, [survivor_id, event.merged_id])
        survivor, merged = accounts.get(survivor_id), accounts.get(event.merged_id)
        if survivor is None or merged is None:  # not opened yet (member.registered behind): try again later
            raise RuntimeError(f"merge of {event.merged_id} into {survivor_id}: account not open yet")
        if merged.status == "merged" or survivor_id == merged.member_id:
            log.info("merge of %s into %s: already merged", event.merged_id, survivor_id)
            return
        now = _now()
        for hold in repo.open_holds(tx, merged.member_id):
            ledger.release(tx, merged, hold, "released", now)
        repo.move_member(tx, merged.member_id, survivor.member_id)
        repo.move_bonus_state(tx, merged.member_id, survivor.member_id)
        repo.add_ledger(tx, [
            {"member_id": survivor.member_id, "kind": "merge_in", "delta": 0, "reference": merged.member_id,
             "detail": {"balance": merged.balance, "debt": merged.debt}}])
        survivor.balance += merged.balance
        survivor.debt += merged.debt
        merged.balance = merged.debt = 0
        _, program = self.programs.current(tx)
        if domain.tier_rank(program, merged.tier) > domain.tier_rank(program, survivor.tier):
            tx.emit(TierChanged(member_id=survivor.member_id, old_tier=survivor.tier, new_tier=merged.tier,
                                direction="up", reason="merge", changed_at=now))
            survivor.tier, survivor.tier_since = merged.tier, now
        survivor.dirty = merged.dirty = True
        repo.save_accounts(tx, [survivor, merged])
        repo.trim_lots(tx, survivor.member_id, max(0, survivor.balance - survivor.held))
        repo.set_status(tx, merged.member_id, "merged", merged_into=survivor.member_id)

    @subscribe("members", "member.birthday")
    def on_member_birthday(self, tx: Tx, event: MemberBirthday, envelope: Envelope) -> None:
        self._activity(tx, event.member_id, "birthday", str(event.year), event.registration_store, _now())

    # -- campaigns' bonus rules (events from campaigns) --------------------------------------------
    @subscribe("campaigns", "campaign.bonus_started")
    def on_campaign_bonus_started(self, tx: Tx, event: CampaignBonusStarted, envelope: Envelope) -> None:
        """One bonus rule per rule key (its id derives from the key: a repeated start adds nothing)."""
        rule = BonusRule(name=event.name[:100], starts_at=event.starts_at, ends_at=event.ends_at,
                         multiplier=event.multiplier, points_per_sale=event.points_per_sale, stores=event.stores)
        rule_id = str(uuid.uuid5(CAMPAIGN_RULES, event.rule_key))
        source = f"campaign:{event.campaign_id}"
        repo.add_bonus_rule(tx, rule.model_dump(mode="json"), rule.name, rule.starts_at, rule.ends_at, None,
                             source=source, rule_id=rule_id, audience=source if event.audience_only else None)
        cap = self._bonus_cap(tx, event.points_budget, event.money_budget)
        if cap is not None or event.per_member_limit is not None:
            repo.set_budget(tx, source, cap, per_member=event.per_member_limit)
        self.programs.invalidate()

    @subscribe("campaigns", "campaign.budget_changed")
    def on_campaign_budget_changed(self, tx: Tx, event: CampaignBudgetChanged, envelope: Envelope) -> None:
        cap = self._bonus_cap(tx, event.points_budget, event.money_budget)
        repo.set_budget(tx, f"campaign:{event.campaign_id}", cap, event.granted)
        self.programs.invalidate()

    def _bonus_cap(self, tx: Tx, points: int | None, money: Decimal | None) -> int | None:
        """The bonus points a campaign may grant: its points cap, and its money cap in points at the
        program's point value, whichever is less (None: no cap)."""
        caps = [] if points is None else [points]
        _, program = self.programs.current(tx)
        if money is not None and program.point_value > 0:
            caps.append(int(money // program.point_value))
        return min(caps) if caps else None

    @subscribe("campaigns", "campaign.audience_granted")
    def on_campaign_audience_granted(self, tx: Tx, event: CampaignAudienceGranted, envelope: Envelope) -> None:
        """Members the campaign's audience-only bonus rules reward (its treated audience)."""
        repo.grant_audience(tx, f"campaign:{event.campaign_id}", [_member_id(m) for m in event.member_ids])

    @subscribe("campaigns", "campaign.bonus_ended")
    def on_campaign_bonus_ended(self, tx: Tx, event: CampaignBonusEnded, envelope: Envelope) -> None:
        repo.end_bonus_rules_of(tx, f"campaign:{event.campaign_id}", event.ended_at)
        self.programs.invalidate()

    # -- sales -------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def record_sale(self, **request: Any) -> dict[str, Any]:
        sale: Sale = parse_request(Sale, request)
        self._check_store(sale.store)
        _within(limits.from_env().sale_problem(sale))
        outcome = self.sales.submit(sale, self._post_sales)  # with the sales other tills send meanwhile
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome.model_dump(mode="json")

    def _post_sales(self, sales: list[Sale]) -> list[SaleResult | ServiceError]:
        outcomes = self._post(list(enumerate(sales)), [])
        return [outcomes[index] for index in range(len(sales))]  # type: ignore[misc]

    @rpc(expected_exceptions=EXPECTED)
    def refund_sale(self, **request: Any) -> dict[str, Any]:
        refund: Refund = parse_request(Refund, request)
        self._check_store(refund.store)
        _within(limits.from_env().refund_problem(refund))
        outcome = self._post([], [(0, refund)])[0]
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome.model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def record_batch(self, items: Any = None) -> dict[str, Any]:
        """An offline upload: sales first (a refund may come before its sale in the file), then
        refunds, all in one transaction; each item answered on its own, a refused item (its
        validation, its store, its limits, its member) included, with the balance after it."""
        good, refused = uploads.check_items(items, self.caller.stores, limits.from_env())
        # the items are sales and refunds already (validated once; their hashes leave out "kind")
        sales_in: list[tuple[int, Sale]] = [(i, item) for i, item in good if item.kind == "sale"]
        refunds_in: list[tuple[int, Refund]] = [(i, item) for i, item in good if item.kind == "refund"]  # type: ignore[misc]
        outcomes: dict[int, Any] = {**self._post(sales_in, refunds_in), **refused} if good else dict(refused)
        results = []
        for i, raw in enumerate(items):
            outcome = outcomes[i]
            kind = "refund" if isinstance(raw, dict) and raw.get("kind") == "refund" else "sale"
            if isinstance(outcome, ServiceError):
                field = outcome.field if i in refused else uploads.item_field(i, outcome.field)
                results.append(BatchItemResult(index=i, kind=kind, ok=False, error=ItemError(
                    code=outcome.code, message=outcome.message, field=field)))
            elif isinstance(outcome, SaleResult):
                results.append(BatchItemResult(index=i, kind="sale", ok=True, sale=outcome))
            else:
                results.append(BatchItemResult(index=i, kind="refund", ok=True, refund=outcome))
        failed = sum(1 for r in results if not r.ok)
        return BatchResult(results=results, accepted=len(results) - failed, failed=failed).model_dump(mode="json")

    def _post(self, sales_in: list[tuple[int, Sale]], refunds_in: list[tuple[int, Refund]]
              ) -> dict[int, SaleResult | RefundResult | ServiceError]:
        """Sales and refunds in one transaction, each answered on its own (the callers checked
        that the caller may post for their stores)."""
        confirmed: set[str] = set()  # references members was asked about (opened, or unknown)
        races = 0
        while True:
            try:
                with self.db.transaction() as tx:
                    if refunds_in:  # every account of the upload locked at once, in order: no deadlocks
                        self._lock_all(tx, sales_in, refunds_in)
                    outcomes: dict[int, SaleResult | RefundResult | ServiceError] = {}
                    outcomes.update(self._sales(tx, sales_in, confirmed))
                    for index, refund in refunds_in:
                        outcomes[index] = self._refund(tx, refund)
                    return outcomes
            except _Race:
                races += 1
                if races == 2:
                    raise Conflict("the same sale is being recorded concurrently: retry", "transaction_id") from None
            except opening.Missing as missing:  # at most once: every reference is confirmed after it
                self._open_missing(missing.member_ids, missing.numbers)
                confirmed.update(missing.member_ids, missing.numbers)

    def _open_missing(self, member_ids: list[str], numbers: list[str]) -> None:
        """Accounts of members registered a moment ago (member.registered not handled yet)."""
        found = opening.confirm(self.members, member_ids, numbers)
        if found:
            with self.db.transaction() as tx:
                opening.open_confirmed(tx, found)

    @staticmethod
    def _lock_all(tx: Tx, sales_in: list[tuple[int, Sale]], refunds_in: list[tuple[int, Refund]]) -> None:
        ids: list[str] = []
        numbers: list[str] = []
        for _, sale in sales_in:
            if sale.member_number:
                numbers.append(sale.member_number)
                continue
            try:
                ids.append(_member_id(sale.member_id or ""))
            except InvalidInput:
                continue  # answered as that item's error later
        members = set(repo.resolve(tx, ids, numbers).values())
        members |= set(repo.sale_members(tx, [(r.store, r.transaction_id) for _, r in refunds_in]))
        repo.lock_accounts(tx, members)

    def _sales(self, tx: Tx, sales_in: list[tuple[int, Sale]], confirmed: set[str]
               ) -> dict[int, SaleResult | ServiceError]:
        if not sales_in:
            return {}
        outcomes: dict[int, SaleResult | ServiceError] = {}
        refs: dict[int, str] = {}
        for index, sale in sales_in:
            try:
                refs[index] = _member_id(sale.member_id) if sale.member_id else sale.member_number  # type: ignore[assignment]
            except InvalidInput as exc:
                outcomes[index] = exc
        sales_in = [(index, sale) for index, sale in sales_in if index in refs]
        resolved, accounts = repo.lock_refs(tx, [refs[i] for i, s in sales_in if s.member_id],
                                             [refs[i] for i, s in sales_in if not s.member_id])
        unconfirmed = opening.unknown([refs[i] for i, _ in sales_in], resolved, confirmed)
        if unconfirmed:  # registered a moment ago, or unknown: members says which
            raise opening.Missing([r for i, s in sales_in if s.member_id and (r := refs[i]) in unconfirmed],
                                  [r for i, s in sales_in if not s.member_id and (r := refs[i]) in unconfirmed])
        now = _now()
        for held in accounts.values():  # an expired hold stops counting at once, not at the next hold job
            ledger.release_expired(tx, held, now)
        _, current = self.programs.current(tx)
        since = now - timedelta(days=current.tier_window_days)
        existing, spend, summaries = repo.sale_context(
            tx, sorted(accounts), [(s.store, s.transaction_id) for _, s in sales_in], since, now)
        bonuses = self.programs.bonuses(tx)
        live = [b for b in bonuses if any(b.rule.starts_at <= s.sold_at < b.rule.ends_at for _, s in sales_in)]
        # no query unless an audience-only rule applies
        granted = repo.granted_audiences(tx, {b.audience for b in live if b.audience is not None}, sorted(accounts))
        budgeted = self.programs.budgeted(tx)
        # the budgets these sales may draw on, locked at once in order: two uploads taking from
        # two campaigns' budgets in opposite orders would deadlock
        repo.lock_budgets(tx, {b.source for b in live if b.source in budgeted})
        writes = ledger.Writes()
        seen: dict[tuple[str, str], tuple[str, int]] = {}
        rows: list[dict[str, Any]] = []
        pending: list[tuple[int, Sale, Account, dict[str, Any]]] = []
        events: list[Any] = []
        for index, sale in sales_in:
            key, digest = (sale.store, sale.transaction_id), _hash(sale)
            try:
                if key in existing:
                    if existing[key].request_hash != digest:
                        raise Conflict("this transaction_id was recorded with a different body", "transaction_id")
                    outcomes[index] = SaleResult.model_validate({**existing[key].result, "replayed": True})
                    continue
                if key in seen:
                    if seen[key][0] != digest:
                        raise Conflict("this transaction_id appears twice with different bodies", "transaction_id")
                    pending.append((index, sale, None, {"same_as": seen[key][1]}))  # type: ignore[arg-type]
                    continue
                member_id = resolved.get(refs[index])
                account = accounts.get(member_id) if member_id else None
                if account is None:
                    raise NotFound("unknown member: no member has this id" if sale.member_id else
                                   "unknown member: no member has this card number",
                                   "member_id" if sale.member_id else "member_number")
                if account.status != "active":
                    raise Conflict(f"the member's account is {account.status}", "member_id")
                version, program = self.programs.at(tx, sale.sold_at)
                zone = self._zone(sale.store)
                today = 0
                if program.cap_per_day is not None:
                    start, end = domain.local_day_bounds(sale.sold_at, zone)
                    today = repo.earned_between(tx, account.member_id, start, end) + sum(
                        r["points"] for r in rows
                        if r["member_id"] == account.member_id and start <= r["sold_at"] < end)
                lines = [domain.Line(i.sku, i.category, i.amount, i.discount) for i in sale.items] or [
                    domain.Line(None, None, sale.amount)]
                open_to = [b for b in bonuses if b.open_to(account.member_id, granted)]
                earning = domain.earn(program, lines=lines, sale_discount=sum((d.amount for d in sale.discounts),
                                                                                Decimal(0)),
                                      currency=sale.currency, tier=account.tier, store=sale.store,
                                      sold_at=sale.sold_at, bonuses=open_to, earned_today=today)
                earning = self._within_budgets(tx, earning, [b for b in open_to if b.source in budgeted],
                                               account.member_id)
            except domain.RuleError as exc:
                outcomes[index] = InvalidInput(str(exc), exc.field)
                continue
            except ServiceError as exc:
                outcomes[index] = exc
                continue
            reference = f"{sale.store}:{sale.transaction_id}"
            repaid = ledger.credit(tx, account, earning.points, kind="accrual", store_code=sale.store,
                                   reference=reference, program=program, zone=zone, at=sale.sold_at,
                                   available_at=ledger.pending_until(program, sale.sold_at),
                                   detail={"breakdown": dict(earning.breakdown)}, writes=writes)
            total_spend, total_points = spend.get(account.member_id, (Decimal(0), 0))
            if sale.sold_at >= since:
                total_spend, total_points = total_spend + earning.net_amount, total_points + earning.points
            spend[account.member_id] = (total_spend, total_points)
            qualifying = total_spend if current.tier_basis == "spend" else Decimal(total_points)
            new_tier = domain.upgrade(current, account.tier, qualifying)
            if new_tier:
                events.append(TierChanged(member_id=account.member_id, old_tier=account.tier, new_tier=new_tier,
                                          direction="up", reason="sale", changed_at=now))
                account.tier, account.tier_since, account.dirty = new_tier, now, True
            seen[key] = (digest, index)
            rows.append({"store": sale.store, "transaction_id": sale.transaction_id, "member_id": account.member_id,
                         "terminal": sale.terminal, "amount": sale.amount, "net_amount": earning.net_amount,
                         "currency": sale.currency, "sold_at": sale.sold_at, "points": earning.points,
                         "program_version": version, "request_hash": digest})
            pending.append((index, sale, account, {"earning": earning, "repaid": repaid, "row": rows[-1],
                                                   "tier_changed": bool(new_tier),
                                                   "balance": account.balance, "tier": account.tier}))
            events.append(PointsAccrued(member_id=account.member_id, store=sale.store, source="sale",
                                        reference=sale.transaction_id, points=earning.points,
                                        amount=earning.net_amount, currency=sale.currency, occurred_at=sale.sold_at,
                                        balance=account.balance, point_value=program.point_value,
                                        campaign_bonus=_campaign_bonus(earning, open_to)))
        for lot in writes.lots:
            repo.add_to_summary(summaries[lot["member_id"]], lot, now)
        for index, sale, account, info in pending:
            if account is None:
                continue
            earning = info["earning"]
            result = SaleResult(
                store=sale.store, transaction_id=sale.transaction_id, member_id=account.member_id,
                points_earned=earning.points, breakdown=[{"rule": r, "points": p} for r, p in earning.breakdown],
                balance=info["balance"], available=summaries[account.member_id]["available"],
                pending=summaries[account.member_id]["pending"], debt_repaid=info["repaid"], tier=info["tier"],
                tier_changed=info["tier_changed"], expiring=_expiring(summaries[account.member_id]))
            info["row"]["result"] = result.model_dump(mode="json")
            outcomes[index] = result
        for index, _sale, account, info in pending:
            if account is None:
                first = outcomes[info["same_as"]]
                outcomes[index] = first.model_copy(update={"replayed": True}) if isinstance(first, SaleResult) \
                    else first
        if repo.write_sales(tx, writes.ledger, writes.lots, rows, [a for a in accounts.values() if a.dirty]) \
                != len(rows):
            raise _Race()
        tx.emit_many(events)
        return outcomes

    @staticmethod
    def _within_budgets(tx: Tx, earning: domain.Earning, budgeted: list[domain.Bonus],
                        member_id: str) -> domain.Earning:
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

    def _refund(self, tx: Tx, refund: Refund) -> RefundResult | ServiceError:
        try:
            existing = repo.existing_refund(tx, refund.store, refund.refund_id)
            if existing is not None:
                return self._replayed_refund(existing, refund)
            sale = repo.existing_sales(tx, [(refund.store, refund.transaction_id)]).get(
                (refund.store, refund.transaction_id))
            if sale is None:
                raise NotFound("no sale with this transaction_id in this store", "transaction_id")
            account = repo.lock_accounts(tx, [str(sale.member_id)]).get(str(sale.member_id))
            if account is None:
                raise NotFound("the sale's points account is gone", "transaction_id")
            sale = repo.existing_sales(tx, [(refund.store, refund.transaction_id)], lock=True)[
                (refund.store, refund.transaction_id)]
            existing = repo.existing_refund(tx, refund.store, refund.refund_id)  # raced while we waited
            if existing is not None:
                return self._replayed_refund(existing, refund)
            left = sale.net_amount - sale.refunded_amount
            if refund.amount > left:
                raise InvalidInput(f"more than what is left of the sale ({left})", "amount")
            after = sale.refunded_amount + refund.amount
            # shares of the whole so far, less what earlier refunds took: exact over any split, and
            # right even when points were paid on the sale after an earlier partial refund
            reverse = domain.cumulative_share(sale.points, sale.net_amount, Decimal(0), after) - sale.points_reversed
            paid = repo.redeemed_for_sale(tx, refund.store, refund.transaction_id)
            give_back = max(0, domain.cumulative_share(sum(paid.values()), sale.net_amount, Decimal(0), after)
                            - sale.redeemed_returned)
            _, program = self.programs.current(tx)
            reference = f"{refund.store}:{refund.refund_id}"
            zone = self._zone(refund.store)
            now = _now()
            for issuer, points in domain.split(give_back, paid).items():  # back to the stores that issued them
                lot_writes = ledger.Writes()
                ledger.credit(tx, account, points, kind="redemption_refund", store_code=issuer,
                              reference=reference, program=program, zone=zone, at=now,
                              detail={"transaction_id": refund.transaction_id}, writes=lot_writes)
                for row in lot_writes.ledger:
                    row["at_store"] = refund.store
                lot_writes.flush(tx)
            from_lots = ledger.take_back(
                tx, account, reverse, kind="reversal", at_store=refund.store, reference=reference, program=program,
                detail={"transaction_id": refund.transaction_id, "amount": str(refund.amount)},
                own_lot=f"{refund.store}:{refund.transaction_id}")
            uncovered = reverse - from_lots
            repo.record_refund_on_sale(tx, refund.store, refund.transaction_id, refund.amount, reverse, give_back)
            self._tier_after_refund(tx, account, sale.sold_at, now)
            result = RefundResult(
                store=refund.store, refund_id=refund.refund_id, transaction_id=refund.transaction_id,
                member_id=account.member_id, points_reversed=reverse, points_uncovered=uncovered,
                policy=program.refund_policy if uncovered else None, redeemed_points_returned=give_back,
                balance=account.balance, debt=account.debt)
            repo.insert_refund(tx, {"store": refund.store, "refund_id": refund.refund_id,
                                     "transaction_id": refund.transaction_id, "member_id": account.member_id,
                                     "amount": refund.amount, "refunded_at": refund.refunded_at,
                                     "request_hash": _hash(refund), "result": result.model_dump(mode="json")})
            repo.save_accounts(tx, [account])
            tx.emit(PointsReversed(member_id=account.member_id, store=refund.store,
                                   transaction_id=refund.transaction_id, refund_id=refund.refund_id,
                                   amount=refund.amount, points_reversed=reverse, points_uncovered=uncovered,
                                   redeemed_points_returned=give_back, refunded_at=refund.refunded_at,
                                   balance=account.balance))
            return result
        except ServiceError as exc:
            return exc

    def _tier_after_refund(self, tx: Tx, account: Any, sold_at: datetime, now: datetime) -> None:
        """Qualifying spend recomputed without the refunded amount; an upgrade the sale made is undone."""
        _, program = self.programs.current(tx)
        spend, points = repo.qualifying(tx, [account.member_id],
                                         now - timedelta(days=program.tier_window_days))[account.member_id]
        lower = domain.tier_after_refund(program, account.tier, spend if program.tier_basis == "spend"
                                         else Decimal(points), account.tier_since, sold_at)
        if lower:
            tx.emit(TierChanged(member_id=account.member_id, old_tier=account.tier, new_tier=lower,
                                direction="down", reason="refund", changed_at=now))
            account.tier, account.tier_since, account.dirty = lower, now, True

    @staticmethod
    def _replayed_refund(existing: Any, refund: Refund) -> RefundResult | ServiceError:
        if existing.request_hash != _hash(refund):
            return Conflict("this refund_id was recorded with a different body", "refund_id")
        return RefundResult.model_validate({**existing.result, "replayed": True})

    # -- redemption: hold, commit, release --------------------------------------------------------
    def _hold_out(self, tx: Tx, hold: Any, account: Any, replayed: bool = False) -> dict[str, Any]:
        summary = repo.summaries(tx, [str(hold.member_id)], _now())[str(hold.member_id)]
        return Hold(hold_id=str(hold.id), member_id=str(hold.member_id), store=hold.store,
                    transaction_id=hold.transaction_id, points=hold.points, status=hold.status,
                    expires_at=hold.expires_at, balance=account.balance, available=summary["available"],
                    replayed=replayed).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def hold(self, **request: Any) -> dict[str, Any]:
        req: HoldRequest = parse_request(HoldRequest, request)
        self._check_store(req.store)
        _within(limits.from_env().hold_problem(req.points))
        return self._opening(lambda confirmed: self._hold(req, confirmed))

    def _opening(self, attempt: Callable[[bool], dict[str, Any]]) -> dict[str, Any]:
        """attempt(confirmed); when it finds an account missing, members confirms the member (the
        account opens) and it runs once more, now answering an unknown member."""
        try:
            return attempt(False)
        except opening.Missing as missing:
            self._open_missing(missing.member_ids, missing.numbers)
            return attempt(True)

    def _hold(self, req: HoldRequest, confirmed: bool) -> dict[str, Any]:
        digest = _hash(req)
        with self.db.transaction() as tx:
            ref = _member_id(req.member_id) if req.member_id else req.member_number
            member_id = repo.resolve(tx, [ref] if req.member_id else [], [] if req.member_id else [ref]).get(ref)  # type: ignore[list-item]
            account = repo.lock_accounts(tx, [member_id]).get(member_id) if member_id else None  # type: ignore[list-item]
            if account is None:
                if not confirmed:
                    raise opening.Missing([ref] if req.member_id else [], [] if req.member_id else [ref])  # type: ignore[list-item]
                raise NotFound("unknown member", "member_id" if req.member_id else "member_number")
            self._check_member(account.member_id)
            existing = repo.get_hold(tx, key=(req.store, req.transaction_id))
            if existing is not None:
                if existing.request_hash != digest:
                    raise Conflict("a hold for this transaction_id exists with a different body", "transaction_id")
                return self._hold_out(tx, existing, account, replayed=True)
            if account.status != "active":
                raise Conflict(f"the member's account is {account.status}", "member_id")
            now = _now()
            ledger.release_expired(tx, account, now)  # an expired hold blocks nothing
            row = {"id": str(uuid.uuid4()), "member_id": account.member_id, "store": req.store,
                   "terminal": req.terminal, "transaction_id": req.transaction_id, "points": req.points,
                   "status": "held", "request_hash": digest, "expires_at": now + timedelta(seconds=req.ttl_seconds)}
            if not ledger.hold(tx, account, row, now):
                raise Conflict("a hold for this transaction_id is being placed concurrently: retry", "transaction_id")
            repo.save_accounts(tx, [account])
            return self._hold_out(tx, repo.get_hold(tx, row["id"]), account)

    def _finish(self, hold_id: str, action: str) -> dict[str, Any]:
        hold_id = _member_id(hold_id, "hold_id", "a hold id (the hold_id of POST /v1/points/holds)")
        with self.db.transaction() as tx:
            hold = repo.get_hold(tx, hold_id)
            if hold is None:
                raise NotFound("no such hold", "hold_id")
            self._check_store(hold.store, "hold_id")
            account = repo.lock_accounts(tx, [str(hold.member_id)])[str(hold.member_id)]
            hold = repo.get_hold(tx, hold_id, lock=True)
            now = _now()
            if hold.status == "held" and hold.expires_at <= now:
                ledger.release(tx, account, hold, "expired", now)
                repo.save_accounts(tx, [account])
                hold = repo.get_hold(tx, hold_id)
            wanted = "committed" if action == "commit" else "released"
            if hold.status == wanted:
                return self._hold_out(tx, hold, account, replayed=True)
            if hold.status != "held":
                if action == "release" and hold.status == "expired":
                    return self._hold_out(tx, hold, account, replayed=True)
                raise Conflict(f"the hold is {hold.status}", "hold_id")
            if action == "commit":
                ledger.commit(tx, account, hold, now)
                tx.emit(PointsRedeemed(member_id=account.member_id, store=hold.store,
                                       transaction_id=hold.transaction_id, hold_id=hold_id, points=hold.points,
                                       redeemed_at=now, balance=account.balance))
            else:
                ledger.release(tx, account, hold, "released", now)
            repo.save_accounts(tx, [account])
            return self._hold_out(tx, repo.get_hold(tx, hold_id), account)

    @rpc(expected_exceptions=EXPECTED)
    def commit_hold(self, hold_id: str) -> dict[str, Any]:
        return self._finish(hold_id, "commit")

    @rpc(expected_exceptions=EXPECTED)
    def release_hold(self, hold_id: str) -> dict[str, Any]:
        return self._finish(hold_id, "release")

    # -- accounts and history ------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def get_account(self, member_id: str) -> dict[str, Any]:
        member_id = _member_id(member_id)
        self._check_member(member_id)
        return self._opening(lambda confirmed: self._account(member_id, confirmed))

    def _account(self, member_id: str, confirmed: bool) -> dict[str, Any]:
        with self.db.transaction() as tx:
            target = repo.resolve(tx, [member_id]).get(member_id, member_id)
            row = repo.get_account(tx, target)
            if row is None:
                if not confirmed:
                    raise opening.Missing([member_id], [])
                raise NotFound("unknown member", "member_id")
            now = _now()
            if row.held > 0:  # an expired hold stops counting at once, not at the next hold job
                locked = repo.lock_accounts(tx, [target])[target]
                if ledger.release_expired(tx, locked, now):
                    repo.save_accounts(tx, [locked])
                    row = repo.get_account(tx, target)
            summary = repo.summaries(tx, [target], now)[target]
            _, program = self.programs.current(tx)
            spend, points = repo.qualifying(tx, [target], now - timedelta(days=program.tier_window_days))[target]
            qualifying = spend if program.tier_basis == "spend" else Decimal(points)
        nxt, needed = domain.next_tier(program, row.tier, qualifying)
        return Account(
            member_id=target, balance=row.balance, available=min(summary["available"], max(0, row.balance)),
            pending=summary["pending"], held=row.held, debt=row.debt, tier=row.tier, tier_since=row.tier_since,
            progress=TierProgress(basis=program.tier_basis, qualifying=qualifying, next_tier=nxt, needed=needed),
            expiring=_expiring(summary), status=row.status, opened_at=row.opened_at,
        ).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def brief_accounts(self, member_ids: list[str]) -> dict[str, dict[str, Any]]:
        """What the till's member look-up shows, for members the caller has just found in members:
        balance, tier, held and available points (a member whose account opens on first use shows
        as it will open)."""
        if not isinstance(member_ids, list) or len(member_ids) > 200:
            raise InvalidInput("a list of at most 200 member ids", "member_ids")
        ids = [_member_id(m, "member_ids") for m in member_ids]
        if self.caller.kind == "member" and set(ids) - {self.caller.member_id}:
            raise Forbidden("a member sees only their own points", "member_ids")
        with self.db.transaction() as tx:
            found = repo.brief(tx, ids, _now())
        return {m: found.get(m, {"balance": domain.OPENING_BALANCE, "tier": domain.DEFAULT_TIER, "held": 0,
                                 "available": domain.OPENING_BALANCE}) for m in ids}

    @rpc(expected_exceptions=EXPECTED)
    def history(self, member_id: str, limit: int = 50, after: str | None = None) -> dict[str, Any]:
        member_id = _member_id(member_id)
        self._check_member(member_id)
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            raise InvalidInput("between 1 and 200", "limit")
        try:
            before = int(after) if after else None
        except ValueError:
            raise InvalidInput("not a position from a previous page", "after") from None
        with self.db.transaction() as tx:
            target = repo.resolve(tx, [member_id]).get(member_id, member_id)
            rows = repo.history(tx, target, limit + 1, before)
        items = [_entry(r) for r in rows[:limit]]
        return LedgerPage(items=items, next=str(rows[limit - 1].id) if len(rows) > limit else None
                          ).model_dump(mode="json")

    # -- staff adjustments and member activities ------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def adjust(self, **request: Any) -> dict[str, Any]:
        try:
            return self._adjust(**request)
        except IntegrityError:  # the same request_id on another member at the same moment
            raise Conflict("this request_id was used for another adjustment", "request_id") from None

    def _adjust(self, **request: Any) -> dict[str, Any]:
        cmd: Adjust = parse_request(Adjust, request)
        member_id = _member_id(cmd.member_id)
        _within(limits.from_env().adjust_problem(cmd.points))
        if self.caller.kind != "internal" and not ({"manager", "admin"} & set(self.caller.roles)
                                                   and self.caller.kind == "staff"):
            raise Forbidden("adjustments are for managers and admins", "member_id")
        self._check_store(cmd.store)
        actor = self.caller.id or self.caller.kind
        reference = f"{actor}:{cmd.request_id or uuid.uuid4()}"
        with self.db.transaction() as tx:
            account = repo.lock_accounts(tx, [member_id]).get(member_id)
            if account is None:
                raise NotFound(f"no points account for member {member_id}", "member_id")
            done = repo.adjustment(tx, reference) if cmd.request_id else []
            if done:
                if done[0].member_id != member_id or sum(r.delta for r in done) != cmd.points:
                    raise Conflict("this request_id was used for another adjustment", "request_id")
                return AdjustResult(entry=_adjustment(done), balance=account.balance,
                                    replayed=True).model_dump(mode="json")
            if account.status in ("merged", "erased"):
                raise Conflict(f"the member's account is {account.status}", "member_id")
            now = _now()
            _, program = self.programs.current(tx)
            zone = self._zone(cmd.store)
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
            entry = _adjustment(repo.adjustment(tx, reference))
            tx.emit(PointsAdjusted(member_id=member_id, store=cmd.store, points=cmd.points, reason=cmd.reason,
                                   actor_id=actor, adjusted_at=now, balance=account.balance))
            return AdjustResult(entry=entry, balance=account.balance).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def activity(self, **request: Any) -> dict[str, Any]:
        cmd: Activity = parse_request(Activity, request)
        member_id = _member_id(cmd.member_id)
        self._check_member(member_id)
        if self.caller.kind == "member":
            if cmd.kind not in ("checkin", "share"):
                raise Forbidden("members record check-ins and shares; staff record the rest", "kind")
            cmd = cmd.model_copy(update={"store": None, "at": None})  # their registration store's day, now
        self._check_store(cmd.store)

        def attempt(confirmed: bool) -> dict[str, Any]:
            with self.db.transaction() as tx:
                return self._activity(tx, member_id, cmd.kind, cmd.key, cmd.store, cmd.at or _now(),
                                      confirmed).model_dump(mode="json")
        return self._opening(attempt)

    def _activity(self, tx: Tx, member_id: str, kind: str, key: str | None, store_code: str | None,
                  at: datetime, confirmed: bool = True) -> ActivityResult:
        referred: str | None = None
        ids = [member_id]
        if kind == "referral":
            if not key:
                raise InvalidInput("the referred member's id", "key")
            referred = _member_id(key, "key")
            if referred == member_id:
                raise InvalidInput("a member cannot refer themselves", "key")
            ids.append(referred)
        accounts = repo.lock_accounts(tx, ids)
        account = accounts.get(member_id)
        if account is None or (referred and referred not in accounts):
            if not confirmed:
                raise opening.Missing([m for m in ids if m not in accounts], [])
            raise NotFound("unknown member", "key" if account else "member_id")
        _, program = self.programs.current(tx)
        zone = self._zone(store_code or account.registration_store)
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
            natural = referred  # type: ignore[assignment]
        else:  # profile completion, birthday (its key is the year)
            natural = key if kind == "birthday" and key else kind
        if account.status != "active":
            raise Conflict(f"the member's account is {account.status}", "member_id")
        granted = repo.claim_activity(tx, member_id, kind, natural, points)
        if not granted:
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
                events.append(PointsAccrued(member_id=target.member_id, store=store_code, source=kind,  # type: ignore[arg-type]
                                            reference=natural, points=amount, occurred_at=at, balance=target.balance))
        repo.save_accounts(tx, [a for a in accounts.values() if a.dirty])
        tx.emit_many(events)
        return ActivityResult(member_id=member_id, kind=kind, granted=True, points=points, balance=account.balance,
                              referred_member_id=referred,
                              referred_points=program.activities.referral_referred if referred else 0)

    # -- the program and bonus rules ------------------------------------------------------------------
    @staticmethod
    def _version(row: Any) -> ProgramVersion:
        return ProgramVersion(version=row.version, effective_from=row.effective_from,
                              program=Program.model_validate(row.program), created_by=row.created_by,
                              created_at=row.created_at)

    def _staff(self, *roles: str) -> None:
        if self.caller.kind == "internal":
            return
        if self.caller.kind != "staff" or not set(roles) & set(self.caller.roles):
            raise Forbidden(f"for {', '.join(roles)} only")

    @rpc(expected_exceptions=EXPECTED)
    def get_program(self) -> dict[str, Any]:
        with self.db.transaction() as tx:
            version, _ = self.programs.current(tx)
            row = next(r for r in repo.program_versions(tx) if r.version == version)
        return self._version(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def program_versions(self) -> list[dict[str, Any]]:
        with self.db.transaction() as tx:
            self.programs.current(tx)  # seeds the default on first use
            return [self._version(r).model_dump(mode="json") for r in repo.program_versions(tx)]

    @rpc(expected_exceptions=EXPECTED)
    def set_program(self, **request: Any) -> dict[str, Any]:
        self._staff("admin", "marketer")
        cmd: SetProgram = parse_request(SetProgram, request)
        now = _now()
        effective = cmd.effective_from or now
        if effective < now - timedelta(minutes=1):
            raise InvalidInput("not in the past: sales already recorded keep the rules they were evaluated by",
                               "effective_from")
        with self.db.transaction() as tx:
            self.programs.current(tx)
            row = repo.add_program(tx, cmd.program.model_dump(mode="json"), effective, self.caller.id)
        self.programs.invalidate()
        return self._version(row).model_dump(mode="json")

    @staticmethod
    def _bonus(row: Any, now: datetime) -> BonusRuleOut:
        rule = BonusRule.model_validate({**row.rule, "starts_at": row.starts_at, "ends_at": row.ends_at})
        return BonusRuleOut(**rule.model_dump(), rule_id=str(row.id), source=row.source,
                            active=row.starts_at <= now < row.ends_at, audience=row.audience)

    @rpc(expected_exceptions=EXPECTED)
    def bonus_rules(self, active_only: bool = False) -> list[dict[str, Any]]:
        now = _now()
        with self.db.transaction() as tx:
            rows = repo.all_bonus_rules(tx)
        out = [self._bonus(r, now) for r in rows]
        return [b.model_dump(mode="json") for b in out if b.active or not active_only]

    @rpc(expected_exceptions=EXPECTED)
    def create_bonus_rule(self, **request: Any) -> dict[str, Any]:
        self._staff("admin", "marketer")
        rule: BonusRule = parse_request(BonusRule, request)
        with self.db.transaction() as tx:
            row = repo.add_bonus_rule(tx, rule.model_dump(mode="json"), rule.name, rule.starts_at, rule.ends_at,
                                       self.caller.id)
        self.programs.invalidate()
        return self._bonus(row, _now()).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def end_bonus_rule(self, rule_id: str) -> dict[str, Any]:
        self._staff("admin", "marketer")
        rule_id = _member_id(rule_id, "rule_id", "a rule id")
        with self.db.transaction() as tx:
            row = repo.end_bonus_rule(tx, rule_id, _now())
        if row is None:
            raise NotFound("no such bonus rule", "rule_id")
        self.programs.invalidate()
        return self._bonus(row, _now()).model_dump(mode="json")

    # -- reports ------------------------------------------------------------------------------------
    @staticmethod
    def _days(day_from: str, day_to: str) -> tuple[date, date]:
        try:
            start, end = date.fromisoformat(str(day_from)), date.fromisoformat(str(day_to))
        except ValueError:
            raise InvalidInput("a date as YYYY-MM-DD", "from") from None
        for day, field in ((start, "from"), (end, "to")):
            if not 1900 <= day.year <= 9998:
                raise InvalidInput("a year between 1900 and 9998", field)
        if end < start:
            raise InvalidInput("before from", "to")
        if (end - start).days > 366:
            raise InvalidInput("at most 366 days", "to")
        return start, end

    @rpc(expected_exceptions=EXPECTED)
    def liability(self, day_from: str, day_to: str, store: str | None = None) -> list[dict[str, Any]]:
        start, end = self._days(day_from, day_to)
        if self.caller.stores is not None:
            if store is None:
                raise InvalidInput("store-bound callers name their store", "store")
            self._check_store(store)
        zone = StoreZones.from_env().default
        with self.db.transaction() as tx:
            _, program = self.programs.current(tx)
            rows = repo.liability(tx, start, end, zone, store)
        return [LiabilityRow(store=r.store, bucket="store" if r.store is not None else "chain", day=r.day,
                             points=int(r.points),
                             value=(Decimal(int(r.points)) * program.point_value).quantize(Decimal("0.01"))
                             ).model_dump(mode="json") for r in rows]

    @rpc(expected_exceptions=EXPECTED)
    def daily_report(self, store: str, day: str, total_sales: str | None = None) -> dict[str, Any]:
        """A store's day: member sales, their share of the takings (given the total), points issued,
        redeemed, expired and reversed."""
        if self.caller.kind == "member":
            raise Forbidden("reports are for staff")
        self._check_store(store)
        start, _ = self._days(day, day)
        total = reports.takings(total_sales)
        start_at, end_at = domain.local_day_bounds(
            datetime.combine(start, time(12), tzinfo=ZoneInfo(self._zone(store))), self._zone(store))
        with self.db.transaction() as tx:
            figures = repo.daily(tx, store, start_at, end_at)
        return reports.daily(store, start, figures, total).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def settlement(self, day_from: str, day_to: str) -> list[dict[str, Any]]:
        start, end = self._days(day_from, day_to)
        zone = ZoneInfo(StoreZones.from_env().default)
        begin = datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC)
        finish = datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        with self.db.transaction() as tx:
            _, program = self.programs.current(tx)
            rows = repo.settlement(tx, begin, finish)
        return [SettlementRow(earned_store=r.earned_store, spent_store=r.spent_store, points=int(r.points),
                              value=(Decimal(int(r.points)) * program.point_value).quantize(Decimal("0.01"))
                              ).model_dump(mode="json") for r in rows
                if self.caller.stores is None or {r.earned_store, r.spent_store} & set(self.caller.stores)]

    # -- jobs (timers, and by RPC for operators and tests) ----------------------------------------------
    @timer(interval=env_int("POINTS_JOB_SECONDS", 600))
    def jobs(self) -> None:
        for name in ("holds", "expiry", "reminders", "tiers"):
            try:
                self.run_job(name)
            except Exception:
                log.exception("points job %s failed", name)

    @rpc(expected_exceptions=EXPECTED)
    def run_job(self, name: str, at: str | None = None) -> dict[str, Any]:
        """Each job is safe to run twice or in two processes at once: it works member by member
        under the account lock and re-checks what is still due."""
        jobs = {"holds": self._expire_holds, "expiry": self._expire_lots, "reminders": self._remind,
                "tiers": self._evaluate_tiers}
        if name not in jobs:
            raise InvalidInput(f"one of {', '.join(jobs)}", "name")
        if self.caller.kind not in ("internal",) and "admin" not in self.caller.roles:
            raise Forbidden("jobs are run by admins")
        when = _at(at)
        if name in ("expiry", "holds") and when > _now() + timedelta(minutes=1) and self.caller.kind != "internal":
            raise InvalidInput("expiry and hold release cannot run ahead of time (points would expire early)", "at")
        processed, events = jobs[name](when)
        return JobResult(job=name, processed=processed, events=events).model_dump(mode="json")

    def _expire_holds(self, now: datetime) -> tuple[int, int]:
        done = 0
        while True:
            with self.db.transaction() as tx:
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

    def _expire_lots(self, now: datetime) -> tuple[int, int]:
        """Expire lots whose time has come (their expiry is the end of a local day in the store's
        zone). A lot is expired exactly once: its remaining points are zeroed under the lock."""
        members = events = 0
        while True:
            with self.db.transaction() as tx:
                due = repo.members_with_expired_lots(tx, now, JOB_BATCH)
                locked = repo.lock_accounts(tx, due)  # in one go, in order
                out = []
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

    def _remind(self, now: datetime) -> tuple[int, int]:
        sent = 0
        with self.db.transaction() as tx:
            _, program = self.programs.current(tx)
        while True:
            with self.db.transaction() as tx:
                due = repo.expiring_between(tx, now, now + timedelta(days=program.reminder_days), JOB_BATCH)
                out = []
                for row in due:
                    if repo.claim_reminder(tx, str(row.member_id), row.expires_at, int(row.points)):
                        out.append(PointsExpiring(member_id=str(row.member_id), points=int(row.points),
                                                  expires_at=row.expires_at,
                                                  days_ahead=max(0, (row.expires_at - now).days)))
                tx.emit_many(out)
                sent += len(out)
            if len(due) < JOB_BATCH:
                return sent, sent

    def _evaluate_tiers(self, now: datetime) -> tuple[int, int]:
        """Downgrade members who no longer qualify, one tier per evaluation, after the grace period."""
        checked = changed = 0
        after: str | None = None
        with self.db.transaction() as tx:
            _, program = self.programs.current(tx)
        while True:
            with self.db.transaction() as tx:
                ids = repo.tiered_members(tx, after, JOB_BATCH, program.tiers[0].name)
                if not ids:
                    return checked, changed
                accounts = repo.lock_accounts(tx, ids)
                spend = repo.qualifying(tx, ids, now - timedelta(days=program.tier_window_days))
                out = []
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

    # -- privacy ------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def export_member(self, member_id: str) -> dict[str, Any]:
        member_id = _member_id(member_id)
        self._check_member(member_id)
        with self.db.transaction() as tx:
            row = repo.get_account(tx, member_id)
            if row is None:
                return {}
            rows = repo.export_rows(tx, member_id)
        return {
            "account": {"member_id": member_id, "balance": row.balance, "held": row.held, "debt": row.debt,
                        "tier": row.tier, "status": row.status, "opened_at": row.opened_at.isoformat()},
            "sales": [{k: (str(v) if isinstance(v, Decimal) else v.isoformat() if isinstance(v, datetime) else v)
                       for k, v in r._mapping.items()} for r in rows["sales"]],
            "ledger": [_entry(r).model_dump(mode="json") for r in rows["ledger"]],
            "holds": [{"hold_id": str(h.id), "store": h.store, "transaction_id": h.transaction_id,
                       "points": h.points, "status": h.status, "created_at": h.created_at.isoformat()}
                      for h in rows["holds"]],
            "activities": [{"kind": a.kind, "key": a.key, "points": a.points, "created_at": a.created_at.isoformat()}
                           for a in rows["activities"]],
        }
