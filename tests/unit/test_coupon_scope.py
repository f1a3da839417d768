"""Coupons scoped by the catalog's data (services/campaigns/coupons/domain.py): a template for a
region or a brand applies at that region's or brand's stores; one for a category applies to the
lines of every category below it."""
from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.catalog import category_path
from services.campaigns.coupons import domain as d

D = Decimal
PARENTS = {"food": None, "drinks": "food", "soda": "drinks", "toys": None}


def _basket(store: str = "S1", region: str | None = "east", brand: str | None = "Fresh") -> d.Basket:
    lines = [d.Line("COLA", D("10.00"), category="soda", path=category_path("soda", PARENTS)),
             d.Line("BEAR", D("30.00"), category="toys", path=category_path("toys", PARENTS))]
    return d.Basket(store, D("40.00"), lines, region=region, brand=brand)


@pytest.mark.parametrize("scope,valid", [
    ({}, True), ({"regions": ("east",)}, True), ({"regions": ("west",)}, False), ({"brands": ("Fresh",)}, True),
    ({"brands": ("Other",)}, False), ({"stores": ("S9",), "regions": ("east",)}, True),
    ({"stores": ("S1",), "regions": ("west",)}, True), ({"stores": ("S9",), "brands": ("Other",)}, False)])
def test_a_store_qualifies_by_its_code_region_or_brand(scope, valid):
    rules = d.Rules("cash", amount=D(5), **scope)
    if valid:
        assert d.discount(rules, _basket()) == D("5.00")
    else:
        with pytest.raises(d.Refusal) as refused:
            d.discount(rules, _basket())
        assert refused.value.field == "store"


def test_a_store_the_catalog_never_announced_is_outside_a_region_scope():
    with pytest.raises(d.Refusal):
        d.discount(d.Rules("cash", amount=D(5), regions=("east",)), _basket(region=None, brand=None))


def test_a_category_coupon_covers_the_categorys_subtree():
    food_10 = d.Rules("percent", discount_percent=D(10), max_discount=D(100), categories=("food",))
    assert d.discount(food_10, _basket()) == D("1.00")  # the soda line, under food
    toys = d.Rules("percent", discount_percent=D(10), max_discount=D(100), categories=("toys",))
    assert d.discount(toys, _basket()) == D("3.00")
    offs, left = d.settle([("A", food_10)], _basket())
    assert offs == [("A", D("1.00"))] and [ln.amount for ln in left.lines] == [D("9.00"), D("30.00")]
    assert left.region == "east"  # the basket keeps its store's data through stacking
    flat = d.Line("COLA", D("10.00"), category="soda")  # no path: only its own category counts
    assert d.Rules("cash", amount=D(1), categories=("soda",)).eligible(flat)
    assert not d.Rules("cash", amount=D(1), categories=("food",)).eligible(flat)
