"""Coupon rules with no broker and no database: codes, check character, templates, discounts."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.campaigns.coupons import domain as d

D = Decimal


def test_codes_are_long_random_and_unambiguous() -> None:
    codes = d.new_codes(2000)
    assert len(set(codes)) == 2000
    assert RANDOM_BITS >= 64
    for code in codes:
        assert len(code) == d.CODE_LENGTH
        assert not set(code) & set("0O1IL")
        assert d.code_problem(code) is None


RANDOM_BITS = d.RANDOM_CHARS * math.log2(len(d.ALPHABET))


def test_alphabet_has_no_ambiguous_characters() -> None:
    assert len(set(d.ALPHABET)) == len(d.ALPHABET) == 31
    assert not set(d.ALPHABET) & set("0O1IL")


@pytest.mark.parametrize("seed", range(30))
def test_every_single_character_error_is_caught(seed: int) -> None:
    code = d.new_code()
    for position in range(len(code)):
        for replacement in d.ALPHABET:
            if replacement != code[position]:
                typo = code[:position] + replacement + code[position + 1:]
                assert d.code_problem(typo) is not None, (code, typo)


@pytest.mark.parametrize("seed", range(30))
def test_every_adjacent_swap_is_caught(seed: int) -> None:
    code = d.new_code()
    for position in range(len(code) - 1):
        a, b = code[position], code[position + 1]
        if a != b:
            swapped = code[:position] + b + a + code[position + 2:]
            assert d.code_problem(swapped) is not None, (code, swapped)


def test_typed_codes_are_normalised_and_refused_with_a_reason() -> None:
    code = d.new_code()
    spaced = " ".join([code[:5], code[5:10], code[10:]]).lower()
    assert d.code_problem(spaced) is None and d.normalise(spaced) == code
    assert "characters" in (d.code_problem(code[:-1]) or "")
    assert "not used" in (d.code_problem("0" + code[1:]) or "")


NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _problem(rules: d.Rules, valid_days: int | None = 30, valid_from: datetime | None = None,
             valid_until: datetime | None = None, budget_value: Decimal | None = None) -> str | None:
    found = d.template_problem(rules, valid_from, valid_until, valid_days, budget_value)
    return None if found is None else found[0]


def test_template_checks_name_the_field() -> None:
    assert _problem(d.Rules("threshold", amount=D(20), min_spend=D(100))) is None
    assert _problem(d.Rules("threshold", amount=D(20))) == "min_spend"
    assert _problem(d.Rules("threshold", amount=D(200), min_spend=D(100))) == "amount"
    assert _problem(d.Rules("cash")) == "amount"
    assert _problem(d.Rules("percent", discount_percent=D(101))) == "discount_percent"
    assert _problem(d.Rules("percent", discount_percent=D(0))) == "discount_percent"
    assert _problem(d.Rules("percent", discount_percent=D(10)), budget_value=D(100)) == "max_discount"
    assert _problem(d.Rules("gift")) == "gift_sku"
    assert _problem(d.Rules("gift", gift_sku="MUG"), budget_value=D(100)) == "gift_value"  # would count nothing
    assert _problem(d.Rules("gift", gift_sku="MUG", gift_value=D(8)), budget_value=D(100)) is None
    assert _problem(d.Rules("cash", amount=D(5), gift_sku="X")) == "gift_sku"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=None) == "valid_until"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=None, valid_from=NOW, valid_until=NOW) == "valid_until"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=None, valid_from=NOW,
                    valid_until=NOW - timedelta(days=1)) == "valid_until"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=3, valid_from=NOW) == "valid_days"


def _percent(off: str, field: str = "discount_percent", confirmed: bool = False, max_discount: str | None = "30",
             budget_count: int | None = None, most: str = "50") -> str | None:
    rules = d.Rules("percent", discount_percent=D(off), max_discount=None if max_discount is None else D(max_discount))
    found = d.percent_problem(rules, budget_count, D(most), confirmed, field)
    return None if found is None else found[0]


def test_a_percent_coupon_above_the_maximum_discount_needs_confirming_naming_how_it_was_given() -> None:
    assert _percent("10") is None  # 9折
    assert _percent("50") is None  # the maximum itself
    assert _percent("90") == "discount_percent"  # 9折 typed as 90: refused, not a 90%-off coupon
    assert _percent("90", field="price_percent") == "price_percent"  # a price_percent of 10 (1折)
    assert _percent("90", confirmed=True) is None
    assert _percent("60", most="70") is None  # the maximum is the deployment's


def test_an_uncapped_percent_coupon_needs_a_budget_count() -> None:
    assert _percent("10", max_discount=None) == "max_discount"
    assert _percent("10", max_discount=None, budget_count=1000) is None
    assert _percent("10", max_discount="20") is None
    assert d.percent_problem(d.Rules("cash", amount=D(5)), None, D(50), False, "discount_percent") is None


def test_validity_window_and_status() -> None:
    assert d.window(NOW, None, None, 7) == (NOW, NOW + timedelta(days=7))
    end = NOW + timedelta(days=1)
    assert d.window(NOW, NOW, end, None) == (NOW, end)
    assert d.status("issued", NOW, end, NOW) == "valid"
    assert d.status("issued", NOW, end, end) == "expired"
    assert d.status("issued", NOW, end, NOW - timedelta(seconds=1)) == "not_yet_valid"
    assert d.status("redeemed", NOW, end, end) == "used"
    assert d.status("void", NOW, end, NOW) == "void"


def _basket(amount: str, *lines: tuple[str, str, str | None], store: str = "S1") -> d.Basket:
    return d.Basket(store=store, amount=D(amount), lines=[d.Line(sku=s, amount=D(a), category=c) for s, a, c in lines])


def test_discounts_are_exact() -> None:
    assert d.discount(d.Rules("threshold", amount=D(20), min_spend=D(100)), _basket("100.00")) == D("20.00")
    with pytest.raises(d.Refusal) as refused:
        d.discount(d.Rules("threshold", amount=D(20), min_spend=D(100)), _basket("99.99"))
    assert refused.value.field == "amount"
    percent = d.Rules("percent", discount_percent=D("15"), max_discount=D("30"))
    assert d.discount(percent, _basket("33.33")) == D("5.00")  # 4.9995 rounds half up to 5.00
    assert d.discount(percent, _basket("1000")) == D("30")
    assert d.discount(d.Rules("cash", amount=D("50")), _basket("12.30")) == D("12.30")  # never more than the basket
    gift = d.Rules("gift", gift_sku="MUG")
    assert d.discount(gift, _basket("40", ("MUG", "24.00", None), ("TEA", "16.00", None))) == D("24.00")
    assert d.discount(gift, _basket("16", ("TEA", "16.00", None))) == D("0")


def test_eligibility_by_store_category_and_sku() -> None:
    rules = d.Rules("percent", discount_percent=D(10), categories=("drinks",), stores=("S1",))
    basket = _basket("100", ("COLA", "30.00", "drinks"), ("BREAD", "70.00", "bakery"))
    assert d.discount(rules, basket) == D("3.00")
    with pytest.raises(d.Refusal) as refused:
        d.discount(rules, _basket("100", ("COLA", "30", "drinks"), store="S2"))
    assert refused.value.field == "store"
    with pytest.raises(d.Refusal) as refused:
        d.discount(rules, _basket("70", ("BREAD", "70", "bakery")))
    assert refused.value.field == "items"
    with pytest.raises(d.Refusal) as refused:
        d.discount(rules, _basket("70"))
    assert refused.value.field == "items"
    sku_rules = d.Rules("cash", amount=D(5), skus=("COLA",), min_spend=D(40))
    with pytest.raises(d.Refusal) as refused:
        d.discount(sku_rules, basket)
    assert refused.value.field == "amount"


def test_stacking() -> None:
    a = d.Rules("cash", amount=D(30), stackable=True)
    b = d.Rules("cash", amount=D(30), stackable=True)
    exclusive = d.Rules("cash", amount=D(5))
    assert d.combine([("A", a), ("B", b)], _basket("50")) == [("A", D(30)), ("B", D(20))]
    with pytest.raises(d.Refusal) as refused:
        d.combine([("A", a), ("X", exclusive)], _basket("50"))
    assert refused.value.field == "codes"
    with pytest.raises(d.Refusal):
        d.combine([("A", a), ("A", a)], _basket("50"))
    assert d.combine([("X", exclusive)], _basket("50")) == [("X", D(5))]


def test_face_value() -> None:
    assert d.face_value(d.Rules("cash", amount=D(5))) == D(5)
    assert d.face_value(d.Rules("percent", discount_percent=D(5), max_discount=D(8))) == D(8)
    assert d.face_value(d.Rules("gift", gift_sku="M", gift_value=D(3))) == D(3)


def test_stacked_coupons_see_what_the_ones_before_them_left() -> None:
    spend_100_get_20 = d.Rules("threshold", amount=D(20), min_spend=D(100), stackable=True)
    # two "spend 100, get 20 off" on a basket of 100: the second sees 80 left and does not apply
    with pytest.raises(d.Refusal) as refused:
        d.combine([("A", spend_100_get_20), ("B", spend_100_get_20)], _basket("100"))
    assert refused.value.field == "amount" and "80" in refused.value.message
    assert d.combine([("A", spend_100_get_20), ("B", spend_100_get_20)], _basket("120")) == [
        ("A", D(20)), ("B", D(20))]
    # an item coupon goes first whatever the order given; a percentage counts what is left to pay
    drinks_5_off = d.Rules("cash", amount=D(5), categories=("drinks",), stackable=True)
    ten_percent = d.Rules("percent", discount_percent=D(10), stackable=True)
    basket = _basket("100", ("COLA", "30.00", "drinks"), ("BREAD", "70.00", "bakery"))
    assert d.combine([("P", ten_percent), ("D", drinks_5_off)], basket) == [("P", D("9.50")), ("D", D(5))]
    # a second drinks coupon sees only the 25 of drinks left after the first
    drinks_min_30 = d.Rules("cash", amount=D(5), categories=("drinks",), min_spend=D(30), stackable=True)
    with pytest.raises(d.Refusal):
        d.combine([("D", drinks_5_off), ("M", drinks_min_30)], basket)


def test_a_discount_spread_over_lines_adds_up_to_the_cent() -> None:
    lines = [d.Line("A", D("10.00")), d.Line("B", D("10.00")), d.Line("C", D("10.00"))]
    after = d._take_off(lines, d.Rules("cash", amount=D(10)), D("10.00"))
    assert sum(ln.amount for ln in after) == D("20.00") and all(ln.amount >= 0 for ln in after)


def test_spread_cents_go_to_the_largest_remainders_so_the_lines_lose_exactly_the_discount() -> None:
    # half-up shares with the remainder on the last (small) line used to take off 4.74 of 4.75
    lines = [d.Line("A", D("2.30")), d.Line("B", D("0.21")), d.Line("C", D("2.57")), d.Line("D", D("0.04"))]
    after = d._take_off(lines, d.Rules("cash", amount=D("4.75")), D("4.75"))
    assert [ln.amount for ln in after] == [D("0.17"), D("0.01"), D("0.19"), D("0.00")]
    assert sum(ln.amount for ln in lines) - sum(ln.amount for ln in after) == D("4.75")
    # more than the eligible lines hold: they go to zero, not below
    drinks = d.Rules("cash", amount=D(9), categories=("drinks",))
    basket = [d.Line("COLA", D("3.00"), category="drinks"), d.Line("BREAD", D("5.00"), category="bakery")]
    assert [ln.amount for ln in d._take_off(basket, drinks, D(9))] == [D("0.00"), D("5.00")]


def _gift_basket(gift_qty: int) -> d.Basket:
    return d.Basket("S1", D("100.00"), [d.Line("G", D("10.00"), qty=D(gift_qty)), d.Line("X", D("90.00"))])


def test_a_gift_coupon_comes_off_its_gift_line_only() -> None:
    gift = d.Rules("gift", gift_sku="G", stackable=True)
    # one unit of G: the first coupon takes it, the second finds no unit left (0: the till hands the gift)
    offs, left = d.settle([("A", gift), ("B", gift)], _gift_basket(1))
    assert offs == [("A", D("10.00")), ("B", D("0.00"))]
    assert [(ln.amount, ln.qty) for ln in left.lines] == [(D("0.00"), D(0)), (D("90.00"), D(1))]
    # two units: one each
    offs, left = d.settle([("A", gift), ("B", gift)], _gift_basket(2))
    assert offs == [("A", D("5.00")), ("B", D("5.00"))]
    assert [ln.amount for ln in left.lines] == [D("0.00"), D("90.00")] and left.amount == D("90.00")
    # a whole-basket coupon after the gift counts what is left: 10% of the 90.00 of X
    ten_percent = d.Rules("percent", discount_percent=D(10), stackable=True)
    assert d.combine([("A", gift), ("P", ten_percent)], _gift_basket(1)) == [("A", D("10.00")), ("P", D("9.00"))]
    # the gift sku on two lines: the second coupon takes its unit from the second line
    two_lines = d.Basket("S1", D("25.00"), [d.Line("G", D("10.00")), d.Line("G", D("15.00"))])
    assert d.combine([("A", gift), ("B", gift)], two_lines) == [("A", D("10.00")), ("B", D("15.00"))]


# ---- stacked coupons add up ------------------------------------------------------------------------------
_money = (st.integers(0, 50_000) | st.integers(0, 500)).map(lambda c: D(c) / 100)  # small lines too
_scope = st.sampled_from([{}, {"categories": ("drinks",)}, {"skus": ("G", "A")}, {"categories": ("food", "drinks")}])


@st.composite
def _coupon(draw: st.DrawFn) -> d.Rules:
    kind = draw(st.sampled_from(d.KINDS))
    scope = draw(_scope)
    min_spend = draw(st.sampled_from([D(0), D(0), D("5.00"), D("50.00")]))
    if kind == "threshold":
        spend = draw(st.integers(1, 20_000).map(lambda c: D(c) / 100))
        return d.Rules(kind, amount=draw(st.integers(1, int(spend * 100)).map(lambda c: D(c) / 100)),
                       min_spend=spend, stackable=True, **scope)
    if kind == "cash":
        return d.Rules(kind, amount=draw(_money.filter(bool)), min_spend=min_spend, stackable=True, **scope)
    if kind == "percent":
        return d.Rules(kind, discount_percent=D(draw(st.integers(1, 100))), max_discount=draw(st.none() | _money),
                       min_spend=min_spend, stackable=True, **scope)
    return d.Rules(kind, gift_sku=draw(st.sampled_from(["G", "H"])), min_spend=min_spend, stackable=True)


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(st.tuples(st.sampled_from(["G", "H", "A", "B"]), st.sampled_from(["drinks", "food", None]),
                                _money, st.integers(1, 3)), min_size=1, max_size=6),
       coupons=st.lists(_coupon(), min_size=1, max_size=4))
def test_stacked_coupons_take_off_exactly_their_discounts(lines: list[tuple[str, str | None, Decimal, int]],
                                                          coupons: list[d.Rules]) -> None:
    basket = d.Basket("S1", sum((a for _, _, a, _ in lines), D(0)),
                      [d.Line(sku, a, D(q), c) for sku, c, a, q in lines])
    try:
        offs, left = d.settle([(f"C{i}", rules) for i, rules in enumerate(coupons)], basket)
    except d.Refusal:
        return
    total = sum((off for _, off in offs), D(0))
    assert all(off >= 0 and off == off.quantize(d.CENT) for _, off in offs)
    assert total <= basket.amount
    assert sum((ln.amount for ln in basket.lines), D(0)) - sum((ln.amount for ln in left.lines), D(0)) == total
    assert left.amount == basket.amount - total
    assert all(ln.amount >= 0 and ln.qty >= 0 for ln in left.lines)
    for sku in ("G", "H"):  # gift coupons never give more than the gift's lines cost
        gifts = sum((off for (_, off), rules in zip(offs, coupons, strict=True) if rules.gift_sku == sku), D(0))
        assert gifts <= sum((ln.amount for ln in basket.lines if ln.sku == sku), D(0))
    assert d.combine([(f"C{i}", rules) for i, rules in enumerate(coupons)], basket) == offs


@settings(max_examples=500, deadline=None)
@given(amounts=st.lists(_money, min_size=1, max_size=8), data=st.data())
def test_a_spread_discount_takes_off_exactly_the_discount(amounts: list[Decimal], data: st.DataObject) -> None:
    lines = [d.Line(f"S{i}", a) for i, a in enumerate(amounts)]
    total = sum(amounts, D(0))
    off = data.draw(st.integers(0, int(total * 100)).map(lambda c: D(c) / 100))
    after = d._take_off(lines, d.Rules("cash", amount=off), off)
    assert total - sum((ln.amount for ln in after), D(0)) == off
    assert all(0 <= a.amount <= b.amount for a, b in zip(after, lines, strict=True))
