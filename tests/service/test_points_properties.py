"""Property tests of the points ledger on its real database: random interleavings of sales
(some resent, some months old), refunds (partial, full, too much, resent), holds, commits,
releases, adjustments, and the holds and expiry jobs run at later times keep the balance equal
to the ledger's sum, the lots equal to what is neither held nor owed, and never take a balance
below zero except by the refund policy in force. Also: the same sale sent to two points
processes at once is credited once."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from nameko.rpc import rpc

from contracts.errors import Conflict, InsufficientPoints, InvalidInput
from contracts.points import Program
from service_runtime.config import database_url
from services.points import domain
from tests.callers import entrypoint_hook
from tests.helpers import scalar
from tests.service.points_support import invariant_violations, open_account, sale

NEGATIVE_LIMIT = 1000  # the default program's negative_limit
CENT = Decimal("0.01")


@pytest.fixture
def points(start_service):
    container = start_service("points", outbox_relay=False)
    yield container
    assert invariant_violations() == []


def call(container, method, *args, context=None, **kwargs):
    with entrypoint_hook(container, method, context_data=context or {}) as hook:
        return hook(*args, **kwargs)


_engine: sa.Engine | None = None


def db() -> sa.Engine:
    global _engine
    if _engine is None:
        _engine = sa.create_engine(database_url("points"), pool_size=1, max_overflow=2, pool_pre_ping=True)
    return _engine


@pytest.fixture(autouse=True, scope="module")
def _dispose_engine():
    yield
    global _engine
    if _engine is not None:
        _engine.dispose()
        _engine = None


def expired_so_far(member_id: str) -> int:
    with db().connect() as conn:
        return -int(conn.execute(sa.text(
            "SELECT coalesce(sum(delta), 0) FROM ledger WHERE member_id = :m AND kind = 'expiry'"),
            {"m": member_id}).scalar_one())


def lots_due(member_id: str, at: datetime) -> int:
    with db().connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT coalesce(sum(remaining), 0) FROM lots WHERE member_id = :m AND expires_at <= :at"),
            {"m": member_id, "at": at}).scalar_one())


# ---- the model -----------------------------------------------------------------------------------
@dataclass
class SaleModel:
    body: dict[str, Any]
    first: dict[str, Any]
    net: Decimal
    points: int
    refunded: Decimal = Decimal(0)
    reversed: int = 0
    returned: int = 0
    redeemed: int = 0  # committed holds paying for this sale


@dataclass
class HoldModel:
    hold_id: str
    points: int
    status: str
    expires_at: datetime
    sale: SaleModel | None


@dataclass
class Model:
    """What the account should hold, computed from the rules, not read from the service."""

    debt_policy: bool
    balance: int = 0
    held: int = 0
    debt: int = 0
    available: int = 0  # as get_account last said
    allowance: int = 0  # how far below zero refunds of spent points may have taken balance - held
    sales: list[SaleModel] = field(default_factory=list)
    refunds: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    holds: list[HoldModel] = field(default_factory=list)

    def credit(self, points: int) -> int:
        """A credit first makes good a balance below what is held, then repays a debt."""
        into_lot = max(0, self.balance + points - self.held) - max(0, self.balance - self.held)
        self.balance += points
        repaid = min(into_lot, self.debt)
        self.debt -= repaid
        self.balance -= repaid
        return repaid

    def take_back(self, points: int) -> int:
        """A refund's reversal: from the lots, then (spent points) below zero down to the policy's
        floor, then a debt. Returns the points not covered by lots."""
        floor = 0 if self.debt_policy else -NEGATIVE_LIMIT
        from_balance = max(0, min(points, self.balance - self.held - floor))
        from_lots = min(from_balance, max(0, self.balance - self.held))
        self.balance -= from_balance
        self.debt += points - from_balance
        self.allowance += from_balance - from_lots
        return points - from_lots


def pick(items: list[Any], index: int) -> Any | None:
    return items[index % len(items)] if items else None


class Run:
    """One example: a fresh account, the operations applied one by one, checked after each."""

    def __init__(self, container: Any, debt_policy: bool) -> None:
        self.container = container
        self.member_id, _ = open_account()
        self.model = Model(debt_policy=debt_policy)
        # each run adjusts as its own staff member, so the per-staff daily limit is never reached
        self.staff = {"caller": json.dumps({"kind": "staff", "id": f"prop-{uuid.uuid4()}", "roles": ["manager"],
                                            "stores": None})}

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return call(self.container, method, *args, **kwargs)

    def apply(self, op: tuple[Any, ...]) -> None:
        getattr(self, f"op_{op[0]}")(*op[1:])
        self.check(op)

    def check(self, op: tuple[Any, ...]) -> None:
        m = self.model
        assert invariant_violations(self.member_id) == [], op
        account = self.call("get_account", self.member_id)
        assert (account["balance"], account["held"], account["debt"]) == (m.balance, m.held, m.debt), (op, m)
        balance, held = account["balance"], account["held"]
        if m.debt_policy:
            assert balance - held >= 0 and balance >= 0, op
        else:
            assert balance - held >= -NEGATIVE_LIMIT, op
            assert balance - held >= -m.allowance, op  # below zero only by refunds of spent points
            if m.allowance == 0:
                assert balance >= 0, op
        assert 0 <= account["available"] <= max(0, balance - held), op
        if balance < 0:
            event("balance below zero")
        if account["debt"]:
            event("debt recorded")
        assert account["pending"] == 0
        m.available = account["available"]

    # -- sales and refunds --------------------------------------------------------------------------
    def op_sale(self, cents: int, store: str, old: bool) -> None:
        amount = Decimal(cents) / 100
        sold_at = datetime.now(UTC) - (timedelta(days=400) if old else timedelta(0))  # old: expired on arrival
        body = sale(self.member_id, f"{amount:.2f}", store=store, sold_at=sold_at)
        result = self.call("record_sale", **body)
        assert result["points_earned"] == cents // 100  # 1 point per yuan, floor; the tier stays normal
        repaid = self.model.credit(result["points_earned"])
        assert result["debt_repaid"] == repaid and result["balance"] == self.model.balance
        assert not result["replayed"]
        self.model.sales.append(SaleModel(body, result, amount, result["points_earned"]))

    def op_resend(self, index: int) -> None:
        original = pick(self.model.sales, index)
        if original is None:
            return
        assert self.call("record_sale", **original.body) == {**original.first, "replayed": True}

    def op_refund(self, index: int, mode: str, percent: int) -> None:
        open_sales = [s for s in self.model.sales if s.refunded < s.net]
        s = pick(self.model.sales if mode == "over" or not open_sales else open_sales, index)
        if s is None:
            return
        left = s.net - s.refunded
        amount = {"part": (left * percent / 100).quantize(CENT, ROUND_DOWN), "rest": left,
                  "over": left + CENT}[mode]
        if amount == 0:
            amount = left + CENT
        body = {"store": s.body["store"], "transaction_id": s.body["transaction_id"],
                "refund_id": f"r-{uuid.uuid4().hex[:12]}", "amount": f"{amount:.2f}",
                "refunded_at": datetime.now(UTC).isoformat()}
        if amount > left:
            with pytest.raises(InvalidInput) as caught:
                self.call("refund_sale", **body)
            assert caught.value.field == "amount"
            return
        result = self.call("refund_sale", **body)
        reverse = domain.cumulative_share(s.points, s.net, s.refunded, s.refunded + amount)
        # points paid on the sale come back by the share refunded so far, less what came back before:
        # points paid after an earlier partial refund come back in full once the whole sale is refunded
        give_back = max(0, domain.cumulative_share(s.redeemed, s.net, Decimal(0), s.refunded + amount) - s.returned)
        self.model.credit(give_back)
        uncovered = self.model.take_back(reverse)
        assert (result["points_reversed"], result["redeemed_points_returned"], result["points_uncovered"]) == (
            reverse, give_back, uncovered)
        if uncovered:
            event("refund of spent points")
        assert result["policy"] == (("debt" if self.model.debt_policy else "negative") if uncovered else None)
        assert (result["balance"], result["debt"]) == (self.model.balance, self.model.debt)
        s.refunded += amount
        s.reversed += reverse
        s.returned += give_back
        if s.refunded == s.net:
            assert s.reversed == s.points  # a full refund in any number of parts takes back exactly the earning
        self.model.refunds.append((body, result))

    def op_refund_again(self, index: int) -> None:
        done = pick(self.model.refunds, index)
        if done is None:
            return
        body, result = done
        assert self.call("refund_sale", **body) == {**result, "replayed": True}

    # -- holds --------------------------------------------------------------------------------------
    def op_hold(self, size: int | str, on_sale: bool) -> None:
        available = self.model.available
        points = {"all": available, "half": available // 2}.get(size, size) or 1  # type: ignore[call-overload]
        paid = next((s for s in self.model.sales
                     if not any(h.sale is s for h in self.model.holds)), None) if on_sale else None
        store, txn = (paid.body["store"], paid.body["transaction_id"]) if paid else ("S1", f"pay-{uuid.uuid4().hex}")
        request = {"member_id": self.member_id, "store": store, "transaction_id": txn, "points": points}
        if points > self.model.available:
            with pytest.raises(InsufficientPoints):
                self.call("hold", **request)
            return
        hold = self.call("hold", **request)
        assert hold["status"] == "held" and hold["points"] == points and not hold["replayed"]
        self.model.held += points
        assert hold["balance"] == self.model.balance
        self.model.holds.append(HoldModel(hold["hold_id"], points, "held",
                                          datetime.fromisoformat(hold["expires_at"]), paid))

    def op_spend(self, size: int | str, on_sale: bool) -> None:
        """Pay with points at a till: a hold, committed at once."""
        holds = len(self.model.holds)
        self.op_hold(size, on_sale)
        if len(self.model.holds) > holds:
            self.op_commit(-1)

    def op_commit(self, index: int) -> None:
        h = pick(self.model.holds, index)
        if h is None:
            return
        if h.status in ("released", "expired"):
            with pytest.raises(Conflict):
                self.call("commit_hold", h.hold_id)
            return
        result = self.call("commit_hold", h.hold_id)
        assert result["status"] == "committed" and result["replayed"] == (h.status == "committed")
        if h.status == "held":
            h.status = "committed"
            self.model.balance -= h.points
            self.model.held -= h.points
            if h.sale is not None:
                h.sale.redeemed += h.points
        assert result["balance"] == self.model.balance

    def op_release(self, index: int) -> None:
        h = pick(self.model.holds, index)
        if h is None:
            return
        if h.status == "committed":
            with pytest.raises(Conflict):
                self.call("release_hold", h.hold_id)
            return
        result = self.call("release_hold", h.hold_id)
        assert result["replayed"] == (h.status != "held")
        if h.status == "held":
            h.status = "released"
            self.model.held -= h.points
        assert result["status"] == h.status

    # -- adjustments and jobs -------------------------------------------------------------------------
    def op_adjust(self, points: int) -> None:
        request = {"member_id": self.member_id, "points": points, "reason": "property test",
                   "request_id": f"adj-{uuid.uuid4().hex[:16]}"}
        if -points > self.model.available:
            with pytest.raises(InsufficientPoints):
                self.call("adjust", context=self.staff, **request)
            return
        result = self.call("adjust", context=self.staff, **request)
        repaid = self.model.credit(points) if points > 0 else 0
        if points < 0:
            self.model.balance += points
        assert result["balance"] == self.model.balance
        assert (result["entry"]["kind"], result["entry"]["points"]) == ("adjustment", points)
        del repaid

    def op_holds_job(self, seconds: int) -> None:
        at = datetime.now(UTC) + timedelta(seconds=seconds)
        self.call("run_job", "holds", at=at.isoformat())
        for h in self.model.holds:
            if h.status == "held" and h.expires_at <= at:
                h.status = "expired"
                self.model.held -= h.points

    def op_expiry_job(self, later: bool) -> None:
        at = datetime.now(UTC) + (timedelta(days=800) if later else timedelta(0))
        due = lots_due(self.member_id, at)
        if later:  # every lot has expired by then
            assert due == max(0, self.model.balance - self.model.held)
        before = expired_so_far(self.member_id)
        self.call("run_job", "expiry", at=at.isoformat())
        assert expired_so_far(self.member_id) - before == due and lots_due(self.member_id, at) == 0
        if due:
            event("points expired")
        self.model.balance -= due


sizes = st.sampled_from(["all", "half", 1, 10, 50, 150])
amounts = st.sampled_from([0, 999, 5_000, 12_000]) | st.integers(100, 12_000)  # cents
SALE = st.tuples(st.just("sale"), amounts, st.sampled_from(["S1", "S2"]), st.sampled_from([False, False, False, True]))
REFUND = st.tuples(st.just("refund"), st.integers(0, 50), st.sampled_from(["part", "part", "rest", "over"]),
                   st.integers(1, 99))
SPEND = st.tuples(st.just("spend"), sizes, st.booleans())
step = st.one_of(
    SALE, SPEND, REFUND, SALE, SPEND, REFUND,  # the flows that matter most, twice as likely
    st.tuples(st.just("resend"), st.integers(0, 50)),
    st.tuples(st.just("refund_again"), st.integers(0, 50)),
    st.tuples(st.just("hold"), sizes, st.booleans()),
    st.tuples(st.just("commit"), st.integers(0, 50)),
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("adjust"), st.integers(1, 100) | st.integers(-100, -1)),
    st.tuples(st.just("holds_job"), st.sampled_from([0, 400])),
    st.tuples(st.just("expiry_job"), st.booleans()),
)
# a run starts with a sale or a few (else most steps find nothing to spend or refund), then anything
operations = st.tuples(st.lists(SALE, min_size=1, max_size=3), st.lists(step, min_size=2, max_size=12)).map(
    lambda parts: parts[0] + parts[1])

# runs that reach the interesting corners for certain (hypothesis adds random ones)
SPENT_THEN_REFUNDED = [("sale", 10_000, "S1", False), ("hold", 80, False), ("commit", 0),
                       ("refund", 0, "part", 50), ("refund", 0, "rest", 1), ("sale", 3_000, "S1", False),
                       ("sale", 9_000, "S2", False), ("expiry_job", True)]
PAST_THE_LIMIT = [("sale", 150_000, "S1", False), ("hold", 1_400, False), ("commit", 0), ("refund", 0, "rest", 1),
                  ("refund_again", 0), ("sale", 2_000, "S2", False), ("adjust", 30), ("hold", "all", False),
                  ("release", 1), ("refund", 1, "part", 50), ("commit", 0)]
HELD_THROUGH_A_REFUND = [("sale", 10_000, "S1", False), ("hold", 100, True), ("refund", 0, "rest", 1),
                         ("commit", 0), ("sale", 5_000, "S1", True), ("hold", 10, False), ("expiry_job", False),
                         ("holds_job", 400), ("sale", 4_000, "S1", False), ("expiry_job", True)]
# points paid on a sale after part of it was refunded all come back when the rest is refunded
PAID_AFTER_A_PARTIAL_REFUND = [("sale", 10_000, "S1", False), ("refund", 0, "part", 50), ("hold", 16, True),
                               ("commit", 0), ("refund", 0, "rest", 1)]
# no shrinking: each step is a few RPCs and shrinking a failure could take minutes; runs are short
# enough (15 steps at most) to read as they are
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])


def current_program(container: Any) -> Program:
    return Program.model_validate(call(container, "get_program")["program"])


@PROPERTY_SETTINGS
@example(ops=SPENT_THEN_REFUNDED)
@example(ops=PAST_THE_LIMIT)
@example(ops=HELD_THROUGH_A_REFUND)
@given(ops=operations)
def test_any_interleaving_keeps_the_ledger_exact_under_the_negative_policy(points, ops):
    program = current_program(points)
    assert (program.refund_policy, program.negative_limit) == ("negative", NEGATIVE_LIMIT)
    run = Run(points, debt_policy=False)
    run.check(("start",))
    for op in ops:
        run.apply(op)


@pytest.fixture
def debt_program(points):
    """The debt policy in force for one test; a version with the default program after it."""
    call(points, "set_program", program=Program(refund_policy="debt").model_dump(mode="json"))
    assert current_program(points).refund_policy == "debt"
    yield points
    call(points, "set_program", program=Program().model_dump(mode="json"))
    assert current_program(points) == Program()


@PROPERTY_SETTINGS
@example(ops=SPENT_THEN_REFUNDED)
@example(ops=PAST_THE_LIMIT)
@example(ops=HELD_THROUGH_A_REFUND)
@example(ops=PAID_AFTER_A_PARTIAL_REFUND)
@given(ops=operations)
def test_any_interleaving_keeps_the_ledger_exact_under_the_debt_policy(debt_program, ops):
    run = Run(debt_program, debt_policy=True)
    run.check(("start",))
    for op in ops:
        run.apply(op)


def spent_then_refunded(container: Any, spent: int) -> tuple[str, dict[str, Any]]:
    """A member earns 100 points, spends ``spent`` of them, and the sale is refunded in full."""
    member_id, _ = open_account()
    body = sale(member_id, "100.00")
    call(container, "record_sale", **body)
    hold = call(container, "hold", member_id=member_id, store="S1", transaction_id=f"pay-{uuid.uuid4().hex}",
                points=spent)
    call(container, "commit_hold", hold["hold_id"])
    refund = call(container, "refund_sale", store="S1", transaction_id=body["transaction_id"], amount="100.00",
                  refund_id=f"r-{uuid.uuid4().hex}", refunded_at=datetime.now(UTC).isoformat())
    return member_id, refund


def test_an_adjustment_that_repays_a_debt_answers_with_the_adjustment_entry(debt_program):
    member_id, _ = spent_then_refunded(debt_program, 100)
    request = {"member_id": member_id, "points": 30, "reason": "goodwill", "request_id": f"repay-{uuid.uuid4().hex}"}
    first = call(debt_program, "adjust", **request)
    assert first["balance"] == 0 and call(debt_program, "get_account", member_id)["debt"] == 70
    assert (first["entry"]["kind"], first["entry"]["points"]) == ("adjustment", 30)
    assert call(debt_program, "adjust", **request) == {**first, "replayed": True}


def test_under_the_debt_policy_spent_points_become_a_debt_repaid_from_later_earning(debt_program):
    member_id, refund = spent_then_refunded(debt_program, 70)
    assert (refund["points_reversed"], refund["points_uncovered"], refund["policy"]) == (100, 70, "debt")
    assert (refund["balance"], refund["debt"]) == (0, 70)
    later = call(debt_program, "record_sale", **sale(member_id, "50.00"))
    assert (later["debt_repaid"], later["balance"]) == (50, 0)
    account = call(debt_program, "get_account", member_id)
    assert (account["balance"], account["debt"], account["available"]) == (0, 20, 0)
    last = call(debt_program, "record_sale", **sale(member_id, "30.00"))
    assert (last["debt_repaid"], last["balance"], last["available"]) == (20, 10, 10)
    assert invariant_violations(member_id) == []


def test_a_negative_adjustment_can_spend_points_of_two_stores(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "10.00", store="S1"))
    call(points, "record_sale", **sale(member_id, "10.00", store="S2"))
    result = call(points, "adjust", member_id=member_id, points=-15, reason="correction")
    assert result["balance"] == 5 and result["entry"]["points"] == -15


# ---- the same sale from two processes at once ------------------------------------------------------------
def tagged_points(tag: str, seen: list[str]) -> type:
    """The points service, noting which container served each sale."""
    from services.points.service import EXPECTED, PointsService

    class Tagged(PointsService):
        @rpc(expected_exceptions=EXPECTED)
        def record_sale(self, **request: Any) -> dict[str, Any]:
            seen.append(tag)
            return super().record_sale(**request)

        @rpc(expected_exceptions=EXPECTED)
        def record_batch(self, **request: Any) -> dict[str, Any]:
            seen.append(tag)
            return super().record_batch(**request)

    return Tagged


def test_the_same_sale_posted_to_two_points_processes_at_once_is_credited_once(start_service):
    from tests.callers import ClusterRpcClient

    seen: list[str] = []
    first = start_service("points", service_cls=tagged_points("a", seen), outbox_relay=False)
    start_service("points", service_cls=tagged_points("b", seen), outbox_relay=False)
    member_id, number = open_account()
    key = uuid.uuid4().hex[:8]
    twice = sale(member_id, "88.80", txn=f"dup-1-{key}")
    others = [sale(member_id, f"{10 + n}.00", txn=f"other-{n}-{key}") for n in range(10)]
    by_number = {**sale(None, "7.00", txn=f"dup-2-{key}"), "member_id": None, "member_number": number}
    answers: dict[str, list[dict[str, Any]]] = {}
    for _round in range(3):  # each sale several times in each round, and each round again
        with ClusterRpcClient() as client:
            calls = []
            for n in range(10):
                calls.append((f"S1:dup-1-{key}", client.points.record_sale.call_async(**twice)))
                calls.append((f"S1:other-{n}-{key}", client.points.record_sale.call_async(**others[n])))
                calls.append((f"S1:dup-2-{key}", client.points.record_sale.call_async(**by_number)))
                if n % 3 == 0:
                    calls.append(("batch", client.points.record_batch.call_async(
                        items=[{"kind": "sale", **twice}, {"kind": "sale", **by_number}])))
            for reference, pending in calls:
                result = pending.result()
                if reference == "batch":
                    assert [item["ok"] for item in result["results"]] == [True, True]
                    answers.setdefault(f"S1:dup-1-{key}", []).append(result["results"][0]["sale"])
                    answers.setdefault(f"S1:dup-2-{key}", []).append(result["results"][1]["sale"])
                else:
                    answers.setdefault(reference, []).append(result)
    assert {"a", "b"} <= set(seen)  # both processes took part
    assert {r["points_earned"] for r in answers[f"S1:dup-1-{key}"]} == {88}
    assert {r["points_earned"] for r in answers[f"S1:dup-2-{key}"]} == {7}
    for reference, replies in answers.items():
        assert sum(not r["replayed"] for r in replies) == 1, reference  # one answer as new, the rest replayed
        assert scalar("points", "SELECT count(*) FROM ledger WHERE member_id = :m AND reference = :r "
                                "AND kind = 'accrual'", m=member_id, r=reference) == 1, reference
    assert scalar("points", "SELECT count(*) FROM sales WHERE member_id = :m", m=member_id) == 12
    expected = 88 + 7 + sum(10 + n for n in range(10))
    assert call(first, "get_account", member_id)["balance"] == expected
    assert invariant_violations(member_id) == []


def test_the_same_sale_in_the_first_round_is_answered_once_as_new_and_otherwise_as_replayed(start_service):
    from tests.callers import ClusterRpcClient

    seen: list[str] = []
    first = start_service("points", service_cls=tagged_points("a", seen), outbox_relay=False)
    start_service("points", service_cls=tagged_points("b", seen), outbox_relay=False)
    members = [open_account()[0] for _ in range(5)]
    bodies = [sale(m, "25.50", txn=f"race-{m}") for m in members]
    with ClusterRpcClient() as client:
        calls = [(b["transaction_id"], client.points.record_sale.call_async(**b)) for _ in range(10) for b in bodies]
        results = [(txn, pending.result()) for txn, pending in calls]
    assert {"a", "b"} <= set(seen)
    for body in bodies:
        answers = [r for txn, r in results if txn == body["transaction_id"]]
        assert sum(not r["replayed"] for r in answers) == 1
        assert {(r["points_earned"], r["balance"]) for r in answers} == {(25, 25)}
        assert call(first, "get_account", body["member_id"])["balance"] == 25
        assert invariant_violations(body["member_id"]) == []


# ---- receipts in an offline batch --------------------------------------------------------------------------
def test_each_receipt_in_an_offline_batch_names_its_own_sale(points):
    member_id, _ = open_account()
    items = [{"kind": "sale", **sale(member_id, "10.00", txn=f"first-{member_id}", store="S1")},
             {"kind": "sale", **sale(member_id, "20.00", txn=f"second-{member_id}", store="S2")}]
    result = call(points, "record_batch", items=items)
    receipts = [(r["sale"]["store"], r["sale"]["transaction_id"], r["sale"]["points_earned"])
                for r in result["results"]]
    assert receipts == [("S1", f"first-{member_id}", 10), ("S2", f"second-{member_id}", 20)]
