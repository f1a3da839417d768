"""The catalog service on its real database and broker: create, update with the version read, lists
with filters and paging, bulk upserts idempotent per source and version, the category tree, who may
write, and each change's event in the outbox, published to the catalog's exchange."""
from __future__ import annotations

import uuid

import pytest

from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.points import inputs
from tests.helpers import query, wait_for
from tests.service.notify_support import call

ADMIN = '{"kind":"staff","id":"a-1","roles":["admin"]}'
ERP = '{"kind":"key","id":"k-1","roles":["erp"]}'
CLERK = '{"kind":"staff","id":"c-1","roles":["clerk"],"stores":["S1"]}'
MEMBER = '{"kind":"member","id":"m-1","member_id":"m-1"}'


@pytest.fixture
def catalog(start_service):
    return start_service("catalog")


def _code(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _store(code: str, **values: object) -> dict[str, object]:
    return {"code": code, "name": "Nanjing Road", "region": "east", "brand": "Fresh", "time_zone": "Asia/Shanghai",
            "currency": "CNY", "status": "open", "opened_on": "2020-05-01", **values}


def _events(event_type: str, key: str) -> list[dict[str, object]]:
    rows = query("catalog", "SELECT body, published_at FROM outbox WHERE event_type = :t ORDER BY id", t=event_type)
    field = event_type.split(".")[0]
    return [row.body | {"published": row.published_at is not None} for row in rows
            if row.body["payload"][field].get("code", row.body["payload"][field].get("sku")) == key]


def test_a_store_is_created_updated_with_its_version_and_announced(catalog):
    code = _code("SH")
    created = call(catalog, "create", caller=ADMIN, kind="store", record=_store(code))
    assert created["version"] == 1 and created["source"] == "manual" and created["time_zone"] == "Asia/Shanghai"
    with pytest.raises(Conflict) as stale:
        call(catalog, "update", caller=ADMIN, kind="store", key=code, expected_version=2,
             changes={"time_zone": "Asia/Tokyo"})
    assert stale.value.field == "If-Match"
    updated = call(catalog, "update", caller=ADMIN, kind="store", key=code, expected_version=1,
                   changes={"time_zone": "Asia/Tokyo", "status": "closed"})
    assert (updated["version"], updated["time_zone"], updated["status"]) == (2, "Asia/Tokyo", "closed")
    assert call(catalog, "get", caller=CLERK, kind="store", key=code) == updated
    again = call(catalog, "update", caller=ADMIN, kind="store", key=code, expected_version=2,
                 changes={"time_zone": "Asia/Tokyo"})
    assert again["version"] == 2  # nothing changed: no new version, no event
    events = wait_for(lambda: (e := _events("store.changed", code)) and all(x["published"] for x in e) and e,
                      message="store events published")
    assert [(e["payload"]["change"], e["payload"]["store"]["version"]) for e in events] == [("created", 1),
                                                                                              ("updated", 2)]
    assert events[1]["payload"]["store"]["time_zone"] == "Asia/Tokyo" and events[1]["producer"] == "catalog"


def test_bad_input_names_the_field(catalog):
    cases = [({"time_zone": "Mars/Olympus"}, "time_zone"), ({"currency": "yuan"}, "currency"),
             ({"status": "gone"}, "status"), ({"code": ""}, "code")]
    for override, field in cases:
        with pytest.raises(InvalidInput) as refused:
            call(catalog, "create", caller=ADMIN, kind="store", record={**_store(_code("X")), **override})
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as number:
        call(catalog, "create", caller=ADMIN, kind="product",
             record={"sku": _code("P"), "name": "Cola", "unit_price": 3.5})
    assert number.value.field == "unit_price"
    with pytest.raises(InvalidInput) as category:
        call(catalog, "create", caller=ADMIN, kind="product",
             record={"sku": _code("P"), "name": "Cola", "unit_price": "3.50", "category": "nowhere"})
    assert category.value.field == "category"
    with pytest.raises(NotFound):
        call(catalog, "get", caller=ADMIN, kind="store", key="no-such-store")


def test_only_admins_and_erp_keys_write_and_members_read_nothing(catalog):
    with pytest.raises(Forbidden):
        call(catalog, "create", caller=CLERK, kind="store", record=_store(_code("C")))
    with pytest.raises(Forbidden):
        call(catalog, "page", caller=MEMBER, kind="store")
    made = call(catalog, "create", caller=ERP, kind="store", record=_store(_code("E")))
    assert made["version"] == 1


def test_the_category_tree_refuses_loops_and_products_show_their_path(catalog):
    root, child = _code("food"), _code("drinks")
    call(catalog, "create", caller=ADMIN, kind="category", record={"code": root, "name": "Food"})
    made = call(catalog, "create", caller=ADMIN, kind="category",
                record={"code": child, "name": "Drinks", "parent": root})
    assert made["path"] == [root, child]
    with pytest.raises(InvalidInput) as loop:
        call(catalog, "update", caller=ADMIN, kind="category", key=root, expected_version=1,
             changes={"parent": child})
    assert loop.value.field == "parent"
    sku = _code("SKU")
    product = call(catalog, "create", caller=ADMIN, kind="product",
                   record={"sku": sku, "name": "Cola", "category": child, "unit_price": "3.50",
                           "excluded_from_earning": True})
    assert product["category_path"] == [root, child] and product["unit_price"] == "3.50"
    assert product["excluded_from_earning"] is True and product["coupon_eligible"] is True
    listed = call(catalog, "page", caller=CLERK, kind="product", filters={"category": child})
    assert [p["sku"] for p in listed] == [sku]


def test_bulk_upsert_is_idempotent_per_source_and_version_and_reports_each_item(catalog):
    codes = sorted(_code("B") for _ in range(3))
    items = [dict(_store(code), version=1) for code in codes]
    items.insert(1, dict(_store(_code("bad"), time_zone="Nowhere/Land"), version=1))
    first = call(catalog, "upsert", caller=ERP, kind="store", items=items, source="odoo")
    assert [r["outcome"] for r in first] == ["created", "error", "created", "created"]
    assert first[1]["field"] == "items.1.time_zone"
    replay = call(catalog, "upsert", caller=ERP, kind="store", items=items, source="odoo")
    assert [r["outcome"] for r in replay] == ["unchanged", "error", "unchanged", "unchanged"]
    older = dict(_store(codes[0], name="Old name"), version=1)
    assert call(catalog, "upsert", caller=ERP, kind="store", items=[older], source="odoo")[0]["outcome"] == \
        "unchanged"
    newer = dict(_store(codes[0], name="New name"), version=2)
    assert call(catalog, "upsert", caller=ERP, kind="store", items=[newer], source="odoo")[0] == \
        {"key": codes[0], "outcome": "updated", "version": 2, "field": None, "message": None}
    stored = call(catalog, "get", caller=ADMIN, kind="store", key=codes[0])
    assert (stored["source"], stored["source_version"], stored["name"]) == ("odoo", 2, "New name")
    assert len(_events("store.changed", codes[0])) == 2
    with pytest.raises(InvalidInput) as source:
        call(catalog, "upsert", caller=ERP, kind="store", items=items, source="Bad Source")
    assert source.value.field == "source"


def test_lists_page_in_code_order_with_filters(catalog):
    region = _code("r")
    codes = sorted(_code("L") for _ in range(5))
    for code in codes:
        call(catalog, "create", caller=ADMIN, kind="store", record=_store(code, region=region))
    first = call(catalog, "page", caller=CLERK, kind="store", limit=3, filters={"region": region})
    rest = call(catalog, "page", caller=CLERK, kind="store", after=first[-1]["code"], limit=3,
                filters={"region": region})
    assert [s["code"] for s in first + rest] == codes
    with pytest.raises(InvalidInput) as bad:
        call(catalog, "page", caller=CLERK, kind="store", filters={"colour": "red"})
    assert bad.value.field == "colour"


def test_a_time_zone_changed_in_the_catalog_is_the_one_points_uses(start_service):
    catalog = start_service("catalog")
    start_service("points")
    code = _code("TZ")
    call(catalog, "create", caller=ADMIN, kind="store", record=_store(code))
    call(catalog, "update", caller=ADMIN, kind="store", key=code, expected_version=1,
         changes={"time_zone": "America/New_York"})

    def zone() -> object:
        rows = query("points", "SELECT time_zone, version FROM store_zones WHERE store_code = :c", c=code)
        return rows and tuple(rows[0]) == ("America/New_York", 2)
    wait_for(zone, message="points holds the store's new time zone")
    wait_for(lambda: inputs.zone(code) == "America/New_York", message="points uses the catalog's zone")
    assert inputs.zone("never-announced") == inputs.StoreZones.from_env().zone_of("never-announced")
