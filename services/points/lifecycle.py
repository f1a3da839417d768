"""Member lifecycle (registered, updated, erased, merged) and campaigns' bonus rules, from events."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal

from contracts.campaigns import CampaignBonusStarted, CampaignBudgetChanged
from contracts.envelope import Envelope
from contracts.errors import InvalidEvent, InvalidInput
from contracts.events import MemberMerged, MemberRegistered, MemberUpdated, TierChanged
from contracts.points import BonusRule
from service_runtime.db import Tx
from services.points import domain, inputs, ledger, repo
from services.points.programs import Programs

log = logging.getLogger(__name__)
CAMPAIGN_RULES = uuid.UUID("0b6a3f55-2f7c-4a59-8d0e-5f3c1d2e9a41")  # bonus rule ids from campaigns' rule keys


def open_accounts(tx: Tx, registered: list[tuple[MemberRegistered, Envelope]]) -> None:
    for event, envelope in registered:
        try:
            inputs.canonical_id(event.member_id)
        except InvalidInput:
            raise InvalidEvent(f"{envelope.type} with a malformed member_id {event.member_id!r}") from None
    repo.open_accounts(tx, [{"member_id": event.member_id, "opened_by_event": str(envelope.event_id),
                             "member_number": event.member_number,
                             "registration_store": event.registration_store} for event, envelope in registered])


def updated(tx: Tx, event: MemberUpdated) -> None:
    if "status" in event.changed_fields and event.status in ("active", "frozen"):
        accounts = repo.lock_accounts(tx, [event.member_id])
        if event.member_id in accounts and accounts[event.member_id].status in ("active", "frozen"):
            repo.set_status(tx, event.member_id, event.status)


def erased(tx: Tx, member_id: str) -> None:
    """Points hold no personal data beyond the member id; the accounting stays, the account
    takes no more points."""
    account = repo.lock_accounts(tx, [member_id]).get(member_id)
    if account is not None:
        for hold in repo.open_holds(tx, account.member_id):
            ledger.release(tx, account, hold, "released", inputs.now())
        repo.save_accounts(tx, [account])
        repo.set_status(tx, member_id, "erased")


def merged(tx: Tx, programs: Programs, event: MemberMerged) -> None:
    """Balance, lots, holds released, history, sales and activities move to the survivor."""
    # the survivor may itself have been merged since (events handled out of order): follow it
    survivor_id = repo.resolve(tx, [event.survivor_id]).get(event.survivor_id, event.survivor_id)
    accounts = repo.lock_accounts(tx, [survivor_id, event.merged_id])
    survivor, gone = accounts.get(survivor_id), accounts.get(event.merged_id)
    if survivor is None or gone is None:  # not opened yet (member.registered behind): try again later
        raise RuntimeError(f"merge of {event.merged_id} into {survivor_id}: account not open yet")
    if gone.status == "merged" or survivor_id == gone.member_id:
        log.info("merge of %s into %s: already merged", event.merged_id, survivor_id)
        return
    now = inputs.now()
    for hold in repo.open_holds(tx, gone.member_id):
        ledger.release(tx, gone, hold, "released", now)
    repo.move_member(tx, gone.member_id, survivor.member_id)
    repo.move_bonus_state(tx, gone.member_id, survivor.member_id)
    repo.add_ledger(tx, [
        {"member_id": survivor.member_id, "kind": "merge_in", "delta": 0, "reference": gone.member_id,
         "detail": {"balance": gone.balance, "debt": gone.debt}}])
    survivor.balance += gone.balance
    survivor.debt += gone.debt
    gone.balance = gone.debt = 0
    _, program = programs.current(tx)
    if domain.tier_rank(program, gone.tier) > domain.tier_rank(program, survivor.tier):
        tx.emit(TierChanged(member_id=survivor.member_id, old_tier=survivor.tier, new_tier=gone.tier,
                            direction="up", reason="merge", changed_at=now))
        survivor.tier, survivor.tier_since = gone.tier, now
    survivor.dirty = gone.dirty = True
    repo.save_accounts(tx, [survivor, gone])
    repo.trim_lots(tx, survivor.member_id, max(0, survivor.balance - survivor.held))
    repo.set_status(tx, gone.member_id, "merged", merged_into=survivor.member_id)


# -- campaigns' bonus rules --------------------------------------------------------------------
def bonus_started(tx: Tx, programs: Programs, event: CampaignBonusStarted) -> None:
    """One bonus rule per rule key (its id derives from the key: a repeated start adds nothing)."""
    rule = BonusRule(name=event.name[:100], starts_at=event.starts_at, ends_at=event.ends_at,
                     multiplier=event.multiplier, points_per_sale=event.points_per_sale, stores=event.stores)
    rule_id = str(uuid.uuid5(CAMPAIGN_RULES, event.rule_key))
    source = f"campaign:{event.campaign_id}"
    repo.add_bonus_rule(tx, rule.model_dump(mode="json"), rule.name, rule.starts_at, rule.ends_at, None,
                        source=source, rule_id=rule_id, audience=source if event.audience_only else None)
    cap = bonus_cap(tx, programs, event.points_budget, event.money_budget)
    if cap is not None or event.per_member_limit is not None:
        repo.set_budget(tx, source, cap, per_member=event.per_member_limit)
    programs.invalidate()


def budget_changed(tx: Tx, programs: Programs, event: CampaignBudgetChanged) -> None:
    cap = bonus_cap(tx, programs, event.points_budget, event.money_budget)
    repo.set_budget(tx, f"campaign:{event.campaign_id}", cap, event.granted)
    programs.invalidate()


def bonus_cap(tx: Tx, programs: Programs, points: int | None, money: Decimal | None) -> int | None:
    """The bonus points a campaign may grant: its points cap, and its money cap in points at the
    program's point value, whichever is less (None: no cap)."""
    _, program = programs.current(tx)
    return domain.budget_cap(points, money, program.point_value)


def audience_granted(tx: Tx, campaign_id: str, member_ids: list[str]) -> None:
    """Members the campaign's audience-only bonus rules reward (its treated audience)."""
    repo.grant_audience(tx, f"campaign:{campaign_id}", [inputs.canonical_id(m) for m in member_ids])


def bonus_ended(tx: Tx, programs: Programs, campaign_id: str, ended_at: datetime) -> None:
    repo.end_bonus_rules_of(tx, f"campaign:{campaign_id}", ended_at)
    programs.invalidate()
