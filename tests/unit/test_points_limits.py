"""Sanity limits on every amount points accepts (pure rules: limits.py), and an offline upload's
per-item answers for every validation rule (uploads.py)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.points import Refund, Sale
from services.points import limits
from services.points.domain import tier_after_refund
from services.points.uploads import check_items

LIMITS = limits.from_env({"POINTS_SALE_LIMITS": "CNY=1000,USD=100,*=500", "POINTS_LINE_LIMITS": "CNY=400,*=200",
                          "POINTS_HOLD_LIMIT": "5000", "POINTS_ADJUST_LIMIT": "300"})
NOW = datetime.now(UTC) - timedelta(minutes=1)
cents = st.integers(min_value=0, max_value=10**14 - 1).map(lambda c: Decimal(c) / 100)
currencies = st.sampled_from(["CNY", "USD", "EUR"])


def _sale(amount: Decimal, currency: str = "CNY", **extra: object) -> Sale:
    return Sale.model_validate({"member_id": str(uuid.uuid4()), "store": "S1", "transaction_id": "t1",
                                "amount": amount, "currency": currency, "sold_at": NOW, **extra})


@settings(max_examples=300)
@given(amount=cents, currency=currencies)
def test_a_sale_above_its_currencys_limit_is_refused_naming_amount(amount, currency):
    problem = LIMITS.sale_problem(_sale(amount, currency))
    limit = LIMITS.sale_limit(currency)
    assert (problem is not None) == (amount > limit)
    if problem:
        assert problem[0] == "amount" and str(limit) in problem[1]


@settings(max_examples=300)
@given(line=cents.filter(lambda c: c < 10**11), discount=cents, position=st.integers(0, 3), currency=currencies)
def test_a_line_or_its_discount_above_the_line_limit_is_refused_naming_that_line(line, discount, position,
                                                                                 currency):
    discount = min(discount, line)
    items = [{"sku": f"A{i}", "amount": "1.00"} for i in range(position)] + [
        {"sku": "X", "amount": str(line), "discount": str(discount)}]
    total = sum((Decimal(i["amount"]) for i in items), Decimal(0))
    sale = _sale(total, currency, items=items)
    problem = LIMITS.sale_problem(sale)
    over_sale = total > LIMITS.sale_limit(currency)
    over_line = line > LIMITS.line_limit(currency)
    if over_sale:
        assert problem is not None and problem[0] == "amount"
    elif over_line:
        assert problem is not None and problem[0] == f"items.{position}.amount"
    else:
        assert problem is None  # a discount is at most its line here


@settings(max_examples=200)
@given(amount=cents)
def test_a_sale_discount_above_the_sale_limit_is_refused_naming_it(amount):
    discount = min(amount, Decimal(2 * 10**9))
    sale = _sale(Decimal("2000000000"), "CNY", discounts=[{"code": "D", "amount": str(discount)}])
    problem = LIMITS.sale_problem(sale.model_copy(update={"amount": Decimal(900)}))
    assert (problem is not None) == (discount > 1000)
    if problem:
        assert problem[0] == "discounts.0.amount"


@settings(max_examples=200)
@given(amount=cents)
def test_a_refund_above_any_sales_limit_is_refused_naming_amount(amount):
    refund = Refund.model_validate({"store": "S1", "refund_id": "r1", "transaction_id": "t1", "amount": amount,
                                    "refunded_at": NOW})
    problem = LIMITS.refund_problem(refund)
    assert (problem is not None) == (amount > 1000)
    assert problem is None or problem[0] == "amount"


@given(points=st.integers(min_value=1, max_value=10**9))
def test_holds_and_adjustments_are_within_their_points_limits(points):
    assert (LIMITS.hold_problem(points) is not None) == (points > 5000)
    assert (LIMITS.adjust_problem(points) is not None) == (points > 300)
    assert (LIMITS.adjust_problem(-points) is not None) == (points > 300)
    for problem in (LIMITS.hold_problem(points), LIMITS.adjust_problem(-points)):
        assert problem is None or problem[0] == "points"


def test_every_default_limit_fits_the_money_columns():
    defaults = limits.from_env({})
    assert all(Decimal(0) < v <= limits.COLUMN_MAX for v in [*defaults.sale.values(), *defaults.line.values()])
    assert defaults.sale_limit("CNY") == Decimal(100000) and defaults.sale_limit("XYZ") == defaults.sale["*"]


@pytest.mark.parametrize("setting", ["CNY=0,*=1", "CNY=abc,*=1", "CNY=1000", "cny=10,*=1",
                                     "CNY=1000000000000,*=1"])
def test_a_limit_setting_that_cannot_be_used_is_refused(setting):
    with pytest.raises(limits.LimitsError):
        limits.from_env({"POINTS_SALE_LIMITS": setting})


# ---- an offline upload: an answer per item ------------------------------------------------------------
GOOD_SALE = {"kind": "sale", "member_id": str(uuid.uuid4()), "store": "S1", "transaction_id": "t1",
             "amount": "10.00", "sold_at": NOW.isoformat()}
GOOD_REFUND = {"kind": "refund", "store": "S1", "refund_id": "r1", "transaction_id": "t1", "amount": "5.00",
               "refunded_at": NOW.isoformat()}
RULES = [  # (item, the field its answer names): one per validation rule of sales and refunds
    ({**GOOD_SALE, "amount": "-5"}, "amount"),
    ({**GOOD_SALE, "amount": "1.005"}, "amount"),
    ({**GOOD_SALE, "amount": "5000"}, "amount"),  # above the limit
    ({**GOOD_SALE, "currency": "cny"}, "currency"),
    ({**GOOD_SALE, "member_number": "800000000017", "member_id": None}, "member_number"),
    ({**GOOD_SALE, "member_id": None}, "member_id"),
    ({**GOOD_SALE, "member_phone": "13800000001"}, "member_phone"),
    ({**GOOD_SALE, "sold_at": "yesterday"}, "sold_at"),
    ({**GOOD_SALE, "sold_at": (NOW + timedelta(days=3)).isoformat()}, "sold_at"),
    ({**GOOD_SALE, "transaction_id": "t 1"}, "transaction_id"),
    ({**GOOD_SALE, "store": ""}, "store"),
    ({**GOOD_SALE, "store": "S9"}, "store"),  # not the caller's store
    ({**GOOD_SALE, "items": [{"sku": "A", "amount": "9.00"}]}, "amount"),
    ({**GOOD_SALE, "items": [{"sku": "A", "amount": "10.00", "qty": "0"}]}, "items.0.qty"),
    ({**GOOD_SALE, "amount": "900", "items": [{"sku": "A", "amount": "900"}]}, "items.0.amount"),
    ({**GOOD_SALE, "discounts": [{"code": "X", "amount": "20"}]}, "discounts"),
    ({**GOOD_REFUND, "amount": "-1"}, "amount"),
    ({**GOOD_REFUND, "amount": "100000"}, "amount"),
    ({**GOOD_REFUND, "refunded_at": "yesterday"}, "refunded_at"),
    ({**GOOD_REFUND, "refund_id": None}, "refund_id"),
    ({**GOOD_SALE, "kind": "void"}, "kind"),
    ("not an item", None),
]


@settings(max_examples=200)
@given(picks=st.lists(st.one_of(st.none(), st.integers(0, len(RULES) - 1)), min_size=1, max_size=30))
def test_each_item_of_an_upload_gets_its_own_answer_naming_its_field(picks):
    items = [(GOOD_SALE if i % 2 else GOOD_REFUND) if pick is None else RULES[pick][0]
             for i, pick in enumerate(picks)]
    good, refused = check_items(items, ("S1",), LIMITS)
    assert sorted([i for i, _ in good] + list(refused)) == list(range(len(items)))
    for index, pick in enumerate(picks):
        if pick is None:
            assert index not in refused
            continue
        error = refused[index]
        assert error.field is not None and error.field.startswith(f"items.{index}")
        assert ".sale." not in error.field and ".refund." not in error.field  # only what the request names
        expected = RULES[pick][1]
        if expected:
            assert error.field == f"items.{index}.{expected}", (RULES[pick][0], error.field)
        assert error.code == ("forbidden" if expected == "store" and items[index].get("store") == "S9"
                              else "invalid_input")


@pytest.mark.parametrize("raw", [None, [], "items", [GOOD_SALE] * 1001])
def test_an_upload_that_is_not_a_list_of_items_is_refused_whole(raw):
    from contracts.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        check_items(raw, None, LIMITS)
    assert caught.value.field == "items"


# ---- a refund undoes its sale's upgrade -----------------------------------------------------------------
def test_a_refund_undoes_the_upgrade_its_sale_made_but_not_an_earlier_one():
    from contracts.points import Program

    program = Program()
    sold = datetime(2026, 11, 1, tzinfo=UTC)
    assert tier_after_refund(program, "platinum", Decimal(100), sold + timedelta(seconds=1), sold) == "normal"
    assert tier_after_refund(program, "platinum", Decimal(9000), sold, sold) == "gold"
    assert tier_after_refund(program, "gold", Decimal(9000), sold, sold) is None  # still qualifies
    assert tier_after_refund(program, "gold", Decimal(0), sold - timedelta(days=1), sold) is None  # evaluation's
    assert tier_after_refund(program, "gold", Decimal(0), None, sold) is None
