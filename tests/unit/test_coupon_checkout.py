"""Coupons at the till (services/campaigns/coupons/checkout.py) on the in-memory fake of their
tables: validity, ownership, stacking, redemption replays and refunds, in milliseconds. Two tills
racing for one coupon needs PostgreSQL's locks: tests/service/test_coupons.py."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts.coupons import Basket, CouponRefund, Redeem
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.campaigns.coupons import checkout
from tests.unit.coupons_fakes import FakeCoupons
from tests.unit.fake_db import FakeDb, FakeTx

NOW = datetime.now(UTC)
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
TEN_OFF = {"kind": "cash", "amount": "10", "stackable": True}
FIVE_OFF_ONCE = {"kind": "cash", "amount": "5", "stackable": True, "restore_on_refund": False}
EXCLUSIVE = {"kind": "cash", "amount": "3"}


@pytest.fixture
def coupons(monkeypatch: pytest.MonkeyPatch) -> FakeCoupons:
    fake = FakeCoupons()
    monkeypatch.setattr(checkout, "repo", fake)
    return fake


def issued(coupons: FakeCoupons, terms: dict[str, Any], member: str | None = ALICE, state: str = "issued",
           starts: timedelta = timedelta(days=-1), lasts: timedelta = timedelta(days=30)) -> str:
    return coupons.add(terms, NOW + starts, NOW + starts + lasts, member, state)


def basket(*codes: str, amount: str = "100", member: str | None = ALICE) -> Basket:
    return Basket(codes=list(codes), store="S1", amount=Decimal(amount), member_id=member)


def redeem(db: FakeDb, *codes: str, txn: str = "t1", amount: str = "100", digest: str = "h1") -> dict[str, Any]:
    req = Redeem(codes=list(codes), store="S1", amount=Decimal(amount), member_id=ALICE, transaction_id=txn)
    return checkout.redeem(db, req, list(codes), digest)  # type: ignore[arg-type]


def refused(coupons: FakeCoupons, *codes: str, member: str | None = ALICE) -> Exception:
    with pytest.raises((NotFound, Conflict, Forbidden, InvalidInput)) as caught:
        checkout.validate(FakeTx(), basket(*codes, member=member), list(codes))  # type: ignore[arg-type]
    return caught.value


def test_a_valid_coupon_takes_its_amount_off_and_validating_changes_nothing(coupons: FakeCoupons) -> None:
    code = issued(coupons, TEN_OFF)
    answer = checkout.validate(FakeTx(), basket(code), [code])  # type: ignore[arg-type]
    assert (answer["discount"], answer["amount_due"]) == ("10.00", "90.00")
    assert coupons.coupons[code].state == "issued"


def test_a_coupon_is_refused_naming_why_and_which_code(coupons: FakeCoupons) -> None:
    good = issued(coupons, TEN_OFF)
    cases = [
        (issued(coupons, TEN_OFF, state="redeemed"), Conflict, "this coupon has been used"),
        (issued(coupons, TEN_OFF, state="void"), Conflict, "this coupon is void"),
        (issued(coupons, TEN_OFF, member=BOB), Forbidden, "this coupon belongs to another member"),
        (issued(coupons, TEN_OFF, starts=timedelta(days=1)), InvalidInput, "valid from"),
        (issued(coupons, TEN_OFF, starts=timedelta(days=-31)), InvalidInput, "expired at"),
        ("NOT-A-CODE", NotFound, "no such coupon"),
    ]
    for code, error, message in cases:
        alone = refused(coupons, code)
        assert isinstance(alone, error) and alone.message.startswith(message) and alone.field == "code"
        second = refused(coupons, good, code)
        assert type(second) is error and second.field == "codes.1"


def test_an_anonymous_basket_may_use_a_members_coupon(coupons: FakeCoupons) -> None:
    code = issued(coupons, TEN_OFF)
    assert checkout.validate(FakeTx(), basket(code, member=None), [code])["discount"] == "10.00"  # type: ignore[arg-type]


def test_stackable_coupons_add_up_and_an_exclusive_one_goes_alone(coupons: FakeCoupons) -> None:
    ten, five, alone = issued(coupons, TEN_OFF), issued(coupons, FIVE_OFF_ONCE), issued(coupons, EXCLUSIVE)
    assert checkout.validate(FakeTx(), basket(ten, five), [ten, five])["discount"] == "15.00"  # type: ignore[arg-type]
    assert isinstance(refused(coupons, ten, alone), InvalidInput)


def test_a_redeemed_sale_replays_and_its_coupon_is_used_for_any_other_sale(coupons: FakeCoupons) -> None:
    db, code = FakeDb(), issued(coupons, TEN_OFF)
    first = redeem(db, code)
    assert (first["discount"], coupons.coupons[code].state) == ("10.00", "redeemed")
    again = redeem(db, code)
    assert again["replayed"] is True and again["redemption_id"] == first["redemption_id"]
    with pytest.raises(Conflict) as changed:
        redeem(db, code, digest="h2")  # the same transaction id with another body
    assert changed.value.field == "transaction_id"
    with pytest.raises(Conflict, match="has been used"):
        redeem(db, code, txn="t2")


def test_a_refund_gives_back_the_coupons_whose_template_says_so_once(coupons: FakeCoupons) -> None:
    db = FakeDb()
    ten, five = issued(coupons, TEN_OFF), issued(coupons, FIVE_OFF_ONCE)
    redeem(db, ten, five)
    result = checkout.refund(FakeTx(), CouponRefund(store="S1", transaction_id="t1"))  # type: ignore[arg-type]
    assert (result["restored"], result["kept"]) == ([ten], [five])
    assert (coupons.coupons[ten].state, coupons.coupons[five].state) == ("issued", "redeemed")
    again = checkout.refund(FakeTx(), CouponRefund(store="S1", transaction_id="t1"))  # type: ignore[arg-type]
    assert again == {**result, "replayed": True}
    with pytest.raises(NotFound):
        checkout.refund(FakeTx(), CouponRefund(store="S1", transaction_id="never"))  # type: ignore[arg-type]


def test_a_refunded_coupon_of_an_erased_member_comes_back_void(coupons: FakeCoupons) -> None:
    db, code = FakeDb(), issued(coupons, TEN_OFF)
    redeem(db, code)
    coupons.coupons[code].member_id = None  # erased since the sale
    checkout.refund(FakeTx(), CouponRefund(store="S1", transaction_id="t1"))  # type: ignore[arg-type]
    assert coupons.coupons[code].state == "void"
