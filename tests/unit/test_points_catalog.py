"""services/points/catalog_rules.py and the earning rules with the catalog's data: the sales policy
for closed, suspended and unknown stores and unknown SKUs; SKU exclusions; a category filled in
from the catalog; a rule on a category covering its subtree."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.catalog import category_path
from contracts.errors import StoreNotOpen
from contracts.points import BonusRule, Program
from services.points import catalog_rules, domain
from services.points.catalog_rules import Catalog, Product
from services.points.domain import Bonus, Line

D = Decimal
NOW = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
# food > drinks > soda; tobacco a root
TREE = Catalog(
    products={"COLA": Product("soda", False, ("food", "drinks", "soda")), "CIG": Product("tobacco", True, ("tobacco",)),
              "GIFT": Product(None, True), "BREAD": Product("food", False, ("food",))},
    parents={"food": None, "drinks": "food", "soda": "drinks", "tobacco": None})


def earn(lines: list[Line], program: Program | None = None, bonuses: tuple[Bonus, ...] = ()) -> dict[str, int]:
    result = domain.earn(program or Program(excluded_categories=[]), lines=catalog_rules.apply(lines, TREE),
                         sale_discount=D(0), currency="CNY", tier="normal", store="S1", sold_at=NOW,
                         bonuses=bonuses)
    assert sum(p for _, p in result.breakdown) == result.points
    return dict(result.breakdown)


@pytest.mark.parametrize("status,flags", [("open", ()), (None, ("unknown_store",))])
def test_an_open_store_earns_and_an_unknown_one_is_accepted_and_flagged(status, flags):
    assert catalog_rules.store_flags("S1", status) == flags


@pytest.mark.parametrize("status", ["closed", "suspended"])
def test_a_closed_or_suspended_store_is_refused_naming_the_store(status):
    with pytest.raises(StoreNotOpen) as refused:
        catalog_rules.store_flags("SH-9", status)
    assert refused.value.field == "store" and f"SH-9 is {status}" in refused.value.message
    assert refused.value.code == "store_not_open" and refused.value.http_status == 409


def test_an_unknown_sku_is_flagged_and_earns_as_an_ordinary_line():
    assert catalog_rules.sku_flags(["COLA", "BREAD"], TREE) == ()
    assert catalog_rules.sku_flags(["COLA", "NEW-1"], TREE) == ("unknown_sku",)
    assert earn([Line("NEW-1", None, D("10.00"))]) == {"base": 10}


def test_a_sku_the_catalog_excludes_earns_nothing_and_shows_in_the_breakdown():
    lines = [Line("BREAD", None, D("10.00")), Line("CIG", None, D("50.00")), Line("GIFT", None, D("30.00")),
             Line("CIG", None, D("5.00"))]
    assert earn(lines) == {"base": 10, "excluded:CIG": 0, "excluded:GIFT": 0}
    bonus = Bonus("r1", BonusRule(name="x2", starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1),
                                  multiplier=D(2)))
    assert earn(lines, bonuses=(bonus,)) == {"base": 10, "bonus:r1": 10, "excluded:CIG": 0, "excluded:GIFT": 0}


def test_a_line_without_a_category_takes_the_catalogs_and_what_the_till_says_wins():
    applied = catalog_rules.apply([Line("COLA", None, D(1)), Line("COLA", "food", D(1)), Line("X", "soda", D(1))],
                                  TREE)
    assert [(line.category, line.path) for line in applied] == [
        ("soda", ("food", "drinks", "soda")), ("food", ("food",)), ("soda", ("food", "drinks", "soda"))]
    assert catalog_rules.apply([Line("X", None, D(1)), Line(None, None, D(1))], TREE) == [
        Line("X", None, D(1)), Line(None, None, D(1))]


def test_a_category_rule_covers_its_subtree():
    cola = [Line("COLA", None, D("10.00"))]
    assert earn(cola, Program(excluded_categories=["drinks"])) == {"base": 0, "excluded": 0}
    assert earn(cola, Program(excluded_categories=[], category_multipliers={"food": D(2), "drinks": D(3)})) == {
        "base": 10, "category:drinks": 20}  # the nearest category up the tree
    food_x2 = Bonus("r1", BonusRule(name="food", starts_at=NOW - timedelta(hours=1),
                                    ends_at=NOW + timedelta(hours=1), multiplier=D(2), categories=["food"]))
    assert earn(cola + [Line("TOY", "toys", D("5.00"))], bonuses=(food_x2,)) == {"base": 15, "bonus:r1": 10}


def test_the_path_follows_the_tree_as_it_is_now():
    moved = Catalog(products=TREE.products, parents={**TREE.parents, "drinks": None})
    assert moved.path("soda", TREE.products["COLA"]) == ("drinks", "soda")
    unannounced = Catalog(products=TREE.products)  # the product came before its category
    assert unannounced.path("soda", TREE.products["COLA"]) == ("food", "drinks", "soda")
    assert category_path("a", {"a": "b", "b": "a"}) == ("b", "a")  # stops on a loop
