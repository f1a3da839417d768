"""Campaigns with the catalog's stores and categories, on the real broker and database: a coupon
scoped to a region and a category applies at that region's stores to the lines of the category's
subtree, and a member day starts at local midnight in the zone the catalog gives a store."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import InvalidInput
from tests.helpers import query, wait_for
from tests.service.coupons_support import MARKETER, new_member, template
from tests.service.notify_support import call
from tests.service.segments_support import add_member

ADMIN = '{"kind":"staff","id":"a-1","roles":["admin"]}'
START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def services(start_service):
    return start_service("catalog"), start_service("campaigns", outbox_relay=False)


def _code(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _store(catalog, region: str, zone: str = "Asia/Shanghai") -> str:
    code = _code("ST")
    call(catalog, "create", caller=ADMIN, kind="store",
         record={"code": code, "name": "Store", "region": region, "brand": "Fresh", "time_zone": zone,
                 "currency": "CNY"})
    return code


def _announced(table: str, key: str) -> None:
    wait_for(lambda: query("campaigns", f"SELECT 1 FROM {table} WHERE code = :c", c=key),
             message=f"campaigns holds {key}")


def test_a_coupon_for_a_region_and_a_category_applies_to_that_regions_stores_and_the_subtree(services):
    catalog, campaigns = services
    region = _code("east")
    inside, outside = _store(catalog, region), _store(catalog, _code("west"))
    food, soda = _code("food"), _code("soda")
    call(catalog, "create", caller=ADMIN, kind="category", record={"code": food, "name": "Food"})
    call(catalog, "create", caller=ADMIN, kind="category", record={"code": soda, "name": "Soda", "parent": food})
    for table, key in (("catalog_stores", inside), ("catalog_stores", outside), ("catalog_categories", soda)):
        _announced(table, key)

    made = call(campaigns, "create_template", caller=MARKETER,
                **template(kind="cash", amount="5.00", min_spend="0", regions=[region], categories=[food]))
    member = new_member()
    coupon = call(campaigns, "issue_coupon", caller=MARKETER, template_id=made["template_id"], member_id=member)
    till = json.dumps({"kind": "key", "id": "pos-1", "roles": [], "stores": [inside, outside]})
    basket = {"codes": [coupon["code"]], "member_id": member, "amount": "30.00",
              "items": [{"sku": "COLA", "category": soda, "amount": "10.00"},
                        {"sku": "BEAR", "category": "toys", "amount": "20.00"}]}
    checked = call(campaigns, "validate_coupons", caller=till, store=inside, **basket)
    assert checked["discount"] == "5.00"
    with pytest.raises(InvalidInput) as elsewhere:
        call(campaigns, "validate_coupons", caller=till, store=outside, **basket)
    assert elsewhere.value.field == "store"
    with pytest.raises(InvalidInput) as no_line:
        call(campaigns, "validate_coupons", caller=till, store=inside,
             **{**basket, "amount": "20.00", "items": basket["items"][1:]})
    assert no_line.value.field == "items"


def test_a_member_day_starts_at_midnight_in_the_zone_the_catalog_gives_the_store(services):
    catalog, campaigns = services
    store = _store(catalog, "east", zone="America/New_York")  # not in STORE_TIMEZONES
    _announced("catalog_stores", store)
    add_member(store)
    segment = call(campaigns, "create_segment", caller=MARKETER, name="all of " + store,
                   rule={"field": "store", "op": "eq", "value": store})["segment_id"]
    made = call(campaigns, "create_campaign", caller=MARKETER, name="Member day", type="member_day",
                segment_id=segment, starts_at=START.isoformat(), ends_at=(START + timedelta(days=10)).isoformat(),
                control_share="0", channel="sms", template="campaign.double_points", recurrence={"weekdays": [2]},
                stores=[store], points_per_sale=30)
    cid = made["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled", caller=MARKETER)
    call(campaigns, "campaign_tick", at=(START + timedelta(days=1)).isoformat(), caller=ADMIN)
    started = [r[0]["payload"] for r in query(
        "campaigns", "SELECT body FROM outbox WHERE event_type = 'campaign.bonus_started' "
                     "AND body->'payload'->>'campaign_id' = :c", c=cid)]
    assert [datetime.fromisoformat(r["starts_at"]) for r in started] == [
        datetime(2030, 3, 6, 5, tzinfo=UTC)]  # Wednesday 00:00 in New York, not in the default zone
