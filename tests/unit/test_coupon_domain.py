"""Coupon rules with no broker and no database: codes, check character, templates, discounts."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.campaigns import coupon_domain as d

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
    assert _problem(d.Rules("percent", percent=D(101))) == "percent"
    assert _problem(d.Rules("percent", percent=D(0))) == "percent"
    assert _problem(d.Rules("percent", percent=D(10)), budget_value=D(100)) == "max_discount"
    assert _problem(d.Rules("gift")) == "gift_sku"
    assert _problem(d.Rules("gift", gift_sku="MUG"), budget_value=D(100)) == "gift_value"  # would count nothing
    assert _problem(d.Rules("gift", gift_sku="MUG", gift_value=D(8)), budget_value=D(100)) is None
    assert _problem(d.Rules("cash", amount=D(5), gift_sku="X")) == "gift_sku"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=None) == "valid_until"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=None, valid_from=NOW, valid_until=NOW) == "valid_until"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=None, valid_from=NOW,
                    valid_until=NOW - timedelta(days=1)) == "valid_until"
    assert _problem(d.Rules("cash", amount=D(5)), valid_days=3, valid_from=NOW) == "valid_days"


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
    percent = d.Rules("percent", percent=D("15"), max_discount=D("30"))
    assert d.discount(percent, _basket("33.33")) == D("5.00")  # 4.9995 rounds half up to 5.00
    assert d.discount(percent, _basket("1000")) == D("30")
    assert d.discount(d.Rules("cash", amount=D("50")), _basket("12.30")) == D("12.30")  # never more than the basket
    gift = d.Rules("gift", gift_sku="MUG")
    assert d.discount(gift, _basket("40", ("MUG", "24.00", None), ("TEA", "16.00", None))) == D("24.00")
    assert d.discount(gift, _basket("16", ("TEA", "16.00", None))) == D("0")


def test_eligibility_by_store_category_and_sku() -> None:
    rules = d.Rules("percent", percent=D(10), categories=("drinks",), stores=("S1",))
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
    assert d.face_value(d.Rules("percent", percent=D(5), max_discount=D(8))) == D(8)
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
    ten_percent = d.Rules("percent", percent=D(10), stackable=True)
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
