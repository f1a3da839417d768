"""The catalog's pure rules: versions, bulk-upsert idempotency, the category tree,
and the contracts' validation of time zones, currencies and prices."""
from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from contracts.catalog import ProductIn, StoreIn
from contracts.errors import Conflict, InvalidInput
from services.catalog import domain

CURRENT = {"code": "S1", "name": "One", "time_zone": "Asia/Shanghai", "version": 4, "source": "odoo",
           "source_version": 10}


def test_an_update_must_name_the_current_version():
    domain.check_version(4, 4)
    with pytest.raises(Conflict) as stale:
        domain.check_version(5, 4)
    assert stale.value.field == "If-Match"


def test_changed_ignores_bookkeeping_and_equal_values():
    wanted = {"name": "One", "time_zone": "Asia/Tokyo", "version": 9, "source": "x"}
    assert domain.changed(CURRENT, wanted) == {"time_zone": "Asia/Tokyo"}
    assert domain.changed({"unit_price": Decimal("3.50")}, {"unit_price": Decimal("3.5")}) == {}


@pytest.mark.parametrize("current,source,version,expected", [
    (None, "odoo", 1, "create"),
    (CURRENT, "odoo", 10, "unchanged"),   # the same item again
    (CURRENT, "odoo", 9, "unchanged"),    # an older version from the same source
    (CURRENT, "odoo", 11, "update"),
    (CURRENT, "erpnext", 1, "update"),    # another source's numbering says nothing about ours
    (CURRENT, "odoo", None, "update"),    # no version: compared by content
])
def test_bulk_upsert_decisions(current, source, version, expected):
    assert domain.upsert_decision(current, {"name": "Renamed"}, source, version) == expected


def test_an_unchanged_record_from_a_new_version_changes_nothing():
    assert domain.upsert_decision(CURRENT, {"name": "One"}, "odoo", 11) == "unchanged"


def test_category_paths_and_loops():
    parents = {"food": None, "drinks": "food", "cola": "drinks"}
    assert domain.category_path("cola", parents) == ["food", "drinks", "cola"]
    domain.check_parent("cola", "food", parents)
    for code, parent in (("food", "cola"), ("food", "food")):
        with pytest.raises(InvalidInput) as loop:
            domain.check_parent(code, parent, parents)
        assert loop.value.field == "parent"
    with pytest.raises(InvalidInput):
        domain.check_parent("cola", "nowhere", parents)
    assert domain.category_path("a", {"a": "b", "b": "a"}) == ["b", "a"]  # stops on a loop in stored data


def test_contracts_refuse_bad_zones_currencies_and_float_prices():
    good = {"code": "S1", "name": "One", "time_zone": "Europe/Berlin", "currency": "EUR"}
    assert StoreIn.model_validate(good).status == "open"
    for field, value in (("time_zone", "Europe/Atlantis"), ("currency", "eur"), ("status", "gone")):
        with pytest.raises(ValidationError) as refused:
            StoreIn.model_validate({**good, field: value})
        assert refused.value.errors()[0]["loc"] == (field,)
    product = {"sku": "P1", "name": "Cola", "unit_price": "3.50"}
    assert ProductIn.model_validate(product).unit_price == Decimal("3.50")
    for price in (3.5, "3.505", "-1"):
        with pytest.raises(ValidationError):
            ProductIn.model_validate({**product, "unit_price": price})
