"""The sale, refund and hold use cases on the in-memory fake of their persistence: earning,
daily caps, in-batch duplicates and replays, tiers, budgets, refunds and holds, in milliseconds.
Locks, transactions and concurrency are tested on PostgreSQL (tests/service/test_points_*)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts.access import service
from contracts.errors import Conflict, InsufficientPoints, InvalidInput, NotFound
from contracts.events import PointsAccrued, PointsRedeemed, PointsReversed, TierChanged
from contracts.points import BonusRule, HoldRequest, Program, Refund, RefundResult, Sale, SaleResult, luhn_digit
from services.points import domain, holds, ledger, opening, refunds, sales
from tests.unit.fake_db import FakeDb, FakeTx
from tests.unit.points_fakes import FakePrograms, FakeRows

INTERNAL = service("tests")  # a service calling: every access check passes

NOW = datetime.now(UTC)
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
CARD = "10000000042" + luhn_digit("10000000042")


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> FakeRows:
    fake = FakeRows()
    for module in (sales, refunds, holds, ledger):
        monkeypatch.setattr(module, "repo", fake)
    fake.open(ALICE, number=CARD)
    fake.open(BOB)
    return fake


def sale(txn: str, amount: str, member: str = ALICE, sold_at: datetime | None = None, **extra: Any) -> Sale:
    return Sale(store="S1", transaction_id=txn, member_id=member, amount=Decimal(amount),
                sold_at=sold_at or NOW - timedelta(minutes=5), **extra)


def record(sold: list[Sale], programs: FakePrograms | None = None, tx: FakeTx | None = None,
           confirmed: set[str] | None = None) -> dict[int, Any]:
    return sales.record(tx or FakeTx(), programs or FakePrograms(), list(enumerate(sold)),  # type: ignore[arg-type]
                        confirmed if confirmed is not None else {ALICE, BOB})


def refund(rows: FakeRows, refund_id: str, txn: str, amount: str, programs: FakePrograms | None = None,
           tx: FakeTx | None = None) -> Any:
    return refunds.refund(tx or FakeTx(), programs or FakePrograms(),  # type: ignore[arg-type]
                          Refund(store="S1", refund_id=refund_id, transaction_id=txn, amount=Decimal(amount),
                                 refunded_at=NOW - timedelta(minutes=1)))


def place(db: FakeDb, txn: str, points: int, member: str = ALICE) -> Any:
    return holds.place(db, INTERNAL, HoldRequest(store="S1", transaction_id=txn, member_id=member,  # type: ignore[arg-type]
                                                 points=points), confirmed=True)


def spend(member: str, points: int, txn: str) -> None:
    db = FakeDb()
    holds.finish(db, INTERNAL, place(db, txn, points, member).hold_id, "commit")  # type: ignore[arg-type]


# ---- earning -------------------------------------------------------------------------------------
def test_a_sale_earns_a_point_per_yuan_and_the_ledger_equals_the_balance(rows: FakeRows) -> None:
    tx = FakeTx()
    result = record([sale("t1", "128.50")], tx=tx)[0]
    assert isinstance(result, SaleResult)
    assert (result.points_earned, result.balance, result.available, result.pending) == (128, 128, 128, 0)
    assert rows.account(ALICE)["balance"] == sum(r["delta"] for r in rows.ledger) == 128
    assert [type(e) for e in tx.emitted] == [PointsAccrued]


def test_each_item_of_a_batch_shows_the_account_after_that_item(rows: FakeRows) -> None:
    out = record([sale("t1", "10"), sale("t2", "20"), sale("t3", "30", member=BOB), sale("t4", "40")])
    assert [(o.balance, o.available) for o in out.values()] == [(10, 10), (30, 30), (30, 30), (70, 70)]


def test_pending_points_show_as_pending_item_by_item(rows: FakeRows) -> None:
    out = record([sale("t1", "10"), sale("t2", "5")], FakePrograms(Program(pending_days=14)))
    assert [(o.balance, o.pending, o.available) for o in out.values()] == [(10, 10, 0), (15, 15, 0)]


def test_the_daily_cap_counts_the_batchs_earlier_sales_of_the_same_member(rows: FakeRows) -> None:
    capped = FakePrograms(Program(cap_per_day=100))
    out = record([sale("t1", "70"), sale("t2", "70"), sale("t3", "70", member=BOB)], capped)
    assert [o.points_earned for o in out.values()] == [70, 30, 70]
    assert record([sale("t4", "50")], capped)[0].points_earned == 0  # the day's recorded sales count too


def test_excluded_categories_earn_nothing(rows: FakeRows) -> None:
    lines = [{"sku": "cig", "category": "tobacco", "amount": "60"}, {"sku": "tea", "amount": "40"}]
    assert record([sale("t1", "100", items=lines)])[0].points_earned == 40


# ---- the same sale twice ---------------------------------------------------------------------------
def test_the_same_sale_twice_in_a_batch_is_credited_once_and_answered_twice(rows: FakeRows) -> None:
    out = record([sale("t1", "50"), sale("t1", "50")])
    assert out[0].points_earned == out[1].points_earned == 50
    assert (out[0].replayed, out[1].replayed) == (False, True)
    assert rows.account(ALICE)["balance"] == 50


def test_a_transaction_id_twice_with_different_bodies_refuses_the_second(rows: FakeRows) -> None:
    out = record([sale("t1", "50"), sale("t1", "60")])
    assert isinstance(out[0], SaleResult)
    assert isinstance(out[1], Conflict) and out[1].field == "transaction_id"


def test_a_recorded_sale_sent_again_answers_as_first_recorded(rows: FakeRows) -> None:
    first = record([sale("t1", "50")])[0]
    again = record([sale("t1", "50")])[0]
    assert again.replayed and again.model_copy(update={"replayed": False}) == first
    assert isinstance(record([sale("t1", "51")])[0], Conflict)
    assert rows.account(ALICE)["balance"] == 50


# ---- members ---------------------------------------------------------------------------------------
def test_a_card_number_finds_the_member(rows: FakeRows) -> None:
    by_number = Sale(store="S1", transaction_id="t1", member_number=CARD, amount=Decimal(5), sold_at=NOW)
    assert record([by_number], confirmed={CARD})[0].member_id == ALICE


def test_an_unknown_member_asks_members_first_then_is_that_items_error(rows: FakeRows) -> None:
    stranger = str(uuid.uuid4())
    with pytest.raises(opening.Missing) as missing:
        record([sale("t1", "5", member=stranger)], confirmed=set())
    assert missing.value.member_ids == [stranger]
    out = record([sale("t1", "5", member=stranger), sale("t2", "5")], confirmed={stranger})
    assert isinstance(out[0], NotFound) and out[0].field == "member_id"
    assert out[1].points_earned == 5


def test_a_frozen_account_earns_nothing(rows: FakeRows) -> None:
    rows.account(BOB)["status"] = "frozen"
    out = record([sale("t1", "5", member=BOB)])
    assert isinstance(out[0], Conflict) and "frozen" in out[0].message


# ---- tiers and campaign budgets ----------------------------------------------------------------------
def test_spend_past_a_threshold_raises_the_tier_once(rows: FakeRows) -> None:
    tx = FakeTx()
    out = record([sale("t1", "1500"), sale("t2", "600"), sale("t3", "10")], tx=tx)
    assert [(o.tier, o.tier_changed) for o in out.values()] == [("normal", False), ("silver", True),
                                                               ("silver", False)]
    assert [e.new_tier for e in tx.emitted if isinstance(e, TierChanged)] == ["silver"]
    assert out[2].points_earned == 12  # silver earns 1.2 a yuan


def test_a_campaign_budget_pays_bonus_points_until_it_is_spent(rows: FakeRows) -> None:
    rule = BonusRule(name="double", starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=1),
                     multiplier=Decimal(2))
    programs = FakePrograms(bonuses=[domain.Bonus("r1", rule, source="campaign:c1")], budgeted={"campaign:c1"})
    rows.budgets["campaign:c1"] = {"cap": 150, "granted": 0, "per_member": None}
    tx = FakeTx()
    out = record([sale("t1", "100"), sale("t2", "100", member=BOB)], programs, tx)
    assert [o.points_earned for o in out.values()] == [200, 150]
    assert [e.campaign_bonus for e in tx.emitted if isinstance(e, PointsAccrued)] == [{"c1": 100}, {"c1": 50}]
    assert rows.budgets["campaign:c1"]["granted"] == 150


# ---- refunds -------------------------------------------------------------------------------------------
def test_partial_refunds_reverse_points_in_proportion_and_add_up_to_the_sale(rows: FakeRows) -> None:
    record([sale("t1", "100"), sale("t2", "3", member=BOB)])
    tx = FakeTx()
    parts = [refund(rows, f"r{i}", "t2", "1", tx=tx) for i in range(3)]
    assert [p.points_reversed for p in parts] == [1, 1, 1]
    assert rows.account(BOB)["balance"] == 0
    assert [type(e) for e in tx.emitted] == [PointsReversed] * 3
    first = refund(rows, "r4", "t1", "33.33")
    assert (first.points_reversed, first.balance) == (33, 67)


def test_a_refund_over_what_is_left_is_refused_and_a_resent_one_replays(rows: FakeRows) -> None:
    record([sale("t1", "100")])
    done = refund(rows, "r1", "t1", "60")
    assert isinstance(done, RefundResult) and done.points_reversed == 60
    too_much = refund(rows, "r2", "t1", "50")
    assert isinstance(too_much, InvalidInput) and too_much.field == "amount"
    again = refund(rows, "r1", "t1", "60")
    assert again.replayed and again.balance == 40
    assert isinstance(refund(rows, "r1", "t1", "61"), Conflict)
    assert isinstance(refund(rows, "r9", "nope", "1"), NotFound)


def test_refunding_spent_points_goes_negative_or_into_debt_by_the_program(rows: FakeRows) -> None:
    record([sale("t1", "100"), sale("t2", "100", member=BOB)])
    spend(ALICE, 80, "p1")
    spend(BOB, 80, "p2")
    negative = refund(rows, "r1", "t1", "100")
    assert (negative.balance, negative.debt, negative.points_uncovered) == (-80, 0, 80)
    debt = refund(rows, "r2", "t2", "100", FakePrograms(Program(refund_policy="debt")))
    assert (debt.balance, debt.debt, debt.policy) == (0, 80, "debt")
    assert record([sale("t3", "50", member=BOB)])[0].debt_repaid == 50  # future earning repays it


def test_refunds_together_answer_and_write_as_they_do_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload's refunds run in one pass (refund_many): two of one sale, a resend, a changed
    resend, one over what is left, an unknown sale, one giving redeemed points back, one undoing
    a tier; each answer, the rows and the events as the same refunds sent one after another."""
    asked = [("r1", "t1", "30"), ("r2", "t1", "30"), ("r1", "t1", "30"), ("r1", "t1", "31"), ("r3", "t1", "50"),
             ("r4", "nope", "1"), ("r5", "t9", "10"), ("r6", "big", "6000"), ("r7", "t2", "3")]

    def history() -> FakeRows:
        fake = FakeRows()
        for module in (sales, refunds, holds, ledger):
            monkeypatch.setattr(module, "repo", fake)
        fake.open(ALICE, number=CARD)
        fake.open(BOB)
        record([sale("t1", "100"), sale("t2", "3", member=BOB)])
        db = FakeDb()
        holds.finish(db, INTERNAL, place(db, "t9", 50).hold_id, "commit")  # type: ignore[arg-type]
        record([sale("t9", "10"), sale("big", "6000", member=BOB)])  # BOB's upgrade, undone by r6
        return fake

    def shown(outcome: Any) -> Any:
        return (type(outcome).__name__, outcome.field) if isinstance(outcome, Exception) else outcome.model_dump()

    alone, tx = history(), FakeTx()
    one_by_one = [shown(refund(alone, *args, tx=tx)) for args in asked]
    together_rows, together_tx = history(), FakeTx()
    at = NOW - timedelta(minutes=1)
    together = refunds.refund_many(together_tx, FakePrograms(), [  # type: ignore[arg-type]
        (i, Refund(store="S1", refund_id=r, transaction_id=t, amount=Decimal(a), refunded_at=at))
        for i, (r, t, a) in enumerate(asked)])
    assert [shown(together[i]) for i in range(len(asked))] == one_by_one
    assert one_by_one[2]["replayed"] and one_by_one[3][0] == "Conflict" and one_by_one[6]["redeemed_points_returned"]
    assert [type(e) for e in tx.emitted].count(TierChanged) == 1
    clock = {"changed_at", "tier_since", "available_at", "expires_at"}  # "now" of each run

    def without_clock(rows: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        return {k: {f: v for f, v in row.items() if f not in clock} for k, row in rows.items()}

    assert [e.model_dump(exclude=clock) for e in together_tx.emitted] == [e.model_dump(exclude=clock)
                                                                        for e in tx.emitted]
    assert without_clock(together_rows.accounts) == without_clock(alone.accounts)
    assert without_clock(together_rows.lots) == without_clock(alone.lots)
    hold_ids = {"redemption"}  # its detail names the hold, a new id in each run
    assert ([r for r in together_rows.ledger if r["kind"] not in hold_ids]
            == [r for r in alone.ledger if r["kind"] not in hold_ids])
    assert {k: vars(v) for k, v in together_rows.sales.items()} == {k: vars(v) for k, v in alone.sales.items()}
    assert {k: vars(v) for k, v in together_rows.refunds.items()} == {k: vars(v) for k, v in alone.refunds.items()}


# ---- holds -----------------------------------------------------------------------------------------------
def test_a_hold_takes_available_points_and_commit_spends_them(rows: FakeRows) -> None:
    record([sale("t1", "100")])
    db = FakeDb()
    placed = place(db, "p1", 70)
    assert (placed.status, placed.balance, placed.available) == ("held", 100, 30)
    with pytest.raises(InsufficientPoints):
        place(db, "p2", 31)
    spent = holds.finish(db, INTERNAL, placed.hold_id, "commit")  # type: ignore[arg-type]
    assert (spent.status, spent.balance, spent.available) == ("committed", 30, 30)
    assert [type(e) for e in db.tx.emitted] == [PointsRedeemed]
    assert holds.finish(db, INTERNAL, placed.hold_id, "commit").replayed  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        holds.finish(db, INTERNAL, placed.hold_id, "release")  # type: ignore[arg-type]


def test_a_released_hold_gives_its_points_back_and_a_refund_returns_redeemed_points(rows: FakeRows) -> None:
    record([sale("t1", "100")])
    db = FakeDb()
    held = place(db, "p1", 40)
    released = holds.finish(db, INTERNAL, held.hold_id, "release")  # type: ignore[arg-type]
    assert (released.status, released.balance, released.available) == ("released", 100, 100)
    paid = place(db, "t9", 50)
    holds.finish(db, INTERNAL, paid.hold_id, "commit")  # type: ignore[arg-type]
    record([sale("t9", "10")])  # the sale those points paid for, refunded in full
    back = refund(rows, "r1", "t9", "10")
    assert (back.redeemed_points_returned, back.points_reversed, back.balance) == (50, 10, 100)


def test_an_expired_hold_stops_counting_at_the_next_spend(rows: FakeRows) -> None:
    record([sale("t1", "100")])
    db = FakeDb()
    short = place(db, "p1", 90)
    rows.holds[short.hold_id].expires_at = NOW - timedelta(seconds=1)
    again = place(db, "p2", 90)
    assert again.status == "held" and rows.holds[short.hold_id].status == "expired"
