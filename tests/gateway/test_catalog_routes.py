"""The master-data routes in front of the catalog service: who may read and write, bad input refused
naming the field, If-Match (428 missing, 412 stale), ETags, cursor paging, and bulk upserts relayed
with their source (a stand-in answers for the service; the service itself: tests/service)."""
from __future__ import annotations

from typing import Any

import pytest

from services.gateway.rpc import RemoteError
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

_BOOK = {"version": 3, "source": "manual", "source_version": None, "last_synced_at": "2026-12-05T08:00:00Z",
         "updated_at": "2026-12-05T08:00:00Z"}
STORE = {"code": "SH-001", "name": "Nanjing Road", "region": "east", "brand": "Fresh", "address": None,
         "time_zone": "Asia/Shanghai", "currency": "CNY", "status": "open", "opened_on": "2020-05-01"}
PRODUCT = {"sku": "P-1", "name": "Cola", "category": None, "brand": None, "unit_price": "3.50",
           "excluded_from_earning": False, "coupon_eligible": True}


def _stored(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**record, **_BOOK, **extra}


@pytest.mark.parametrize("method,path,body,field", [
    ("POST", "/v1/stores", {**STORE, "time_zone": "Mars/Olympus"}, "time_zone"),
    ("POST", "/v1/stores", {**STORE, "currency": "yuan"}, "currency"),
    ("POST", "/v1/stores", {**STORE, "status": "gone"}, "status"),
    ("POST", "/v1/products", {**PRODUCT, "unit_price": 3.5}, "unit_price"),
    ("POST", "/v1/products", {**PRODUCT, "unit_price": "-1"}, "unit_price"),
    ("POST", "/v1/categories", {"code": "has space", "name": "x"}, "code"),
    ("POST", "/v1/stores/bulk", {"source": "Not A Source", "items": [STORE]}, "source"),
    ("POST", "/v1/products/bulk", {"items": []}, "items"),
    ("GET", "/v1/stores?status=gone", None, "status"),
    ("GET", "/v1/products?limit=0", None, "limit"),
])
def test_bad_requests_name_the_field(client, callers, method, path, body, field):
    response = client.request(method, path, headers=callers["admin"], json=body)
    assert response.status_code == 422, response.text
    assert (response.json()["error"].get("field") or "").endswith(field), response.json()


@pytest.mark.parametrize("who,allowed", [("admin", True), ("erp", True), ("manager", False), ("clerk", False),
                                         ("pos", False), ("member", False)])
def test_admins_and_erp_keys_write(client, callers, fake, who, allowed):  # noqa: F811
    services = fake({("catalog", "create"): _stored(STORE, version=1)})
    response = client.post("/v1/stores", headers=callers[who], json=STORE)
    assert response.status_code == (201 if allowed else 403), response.text
    assert services.methods() == (["catalog.create"] if allowed else [])


@pytest.mark.parametrize("who,allowed", [("clerk", True), ("manager", True), ("marketer", True), ("auditor", True),
                                         ("pos", True), ("erp", True), ("member", False), ("anonymous", False)])
def test_everybody_who_works_with_stores_reads(client, callers, fake, who, allowed):  # noqa: F811
    fake({("catalog", "get"): _stored(STORE)})
    response = client.get("/v1/stores/SH-001", headers=callers[who])
    assert response.status_code == (200 if allowed else 401 if who == "anonymous" else 403), response.text
    if allowed:
        assert response.headers["ETag"] == '"3"' and response.json()["time_zone"] == "Asia/Shanghai"


def test_updates_need_the_version_read(client, callers, fake):  # noqa: F811
    services = fake({("catalog", "update"): lambda kw: _stored(STORE, version=kw["expected_version"] + 1,
                                                               **kw["changes"])})
    missing = client.patch("/v1/stores/SH-001", headers=callers["admin"], json={"time_zone": "Asia/Tokyo"})
    assert missing.status_code == 428 and missing.json()["error"]["field"] == "If-Match"
    done = client.patch("/v1/stores/SH-001", headers={**callers["admin"], "If-Match": '"3"'},
                        json={"time_zone": "Asia/Tokyo"})
    assert done.status_code == 200 and done.headers["ETag"] == '"4"' and done.json()["time_zone"] == "Asia/Tokyo"
    assert services.calls[-1][2] == {"kind": "store", "key": "SH-001", "expected_version": 3,
                                     "changes": {"time_zone": "Asia/Tokyo"}}
    fake({("catalog", "update"): RemoteError("Conflict", "the record is at version 4, not 3", "If-Match")})
    stale = client.patch("/v1/products/P-1", headers={**callers["erp"], "If-Match": '"3"'},
                         json={"unit_price": "4.00"})
    assert stale.status_code == 412 and stale.json()["error"]["field"] == "If-Match"


def test_lists_page_with_a_cursor_and_pass_filters(client, callers, fake):  # noqa: F811
    stores = [_stored(STORE, code=f"S-{n}") for n in range(3)]
    services = fake({("catalog", "page"): lambda kw: [s for s in stores if kw["after"] is None
                                                      or s["code"] > kw["after"]][:kw["limit"]]})
    first = client.get("/v1/stores?limit=2&region=east", headers=callers["clerk"]).json()
    assert [s["code"] for s in first["items"]] == ["S-0", "S-1"] and first["next_cursor"]
    rest = client.get(f"/v1/stores?limit=2&region=east&cursor={first['next_cursor']}", headers=callers["clerk"])
    assert [s["code"] for s in rest.json()["items"]] == ["S-2"] and rest.json()["next_cursor"] is None
    assert services.calls[0][2] == {"kind": "store", "after": None, "limit": 3, "filters": {"region": "east"}}
    assert services.calls[1][2]["after"] == "S-1"


def test_bulk_upserts_relay_their_source_and_answer_per_item(client, callers, fake):  # noqa: F811
    results = [{"key": "P-1", "outcome": "created", "version": 1, "field": None, "message": None},
               {"key": "P-2", "outcome": "error", "version": None, "field": "items.1.unit_price",
                "message": "send money as a decimal string"}]
    services = fake({("catalog", "upsert"): results})
    items = [{**PRODUCT, "version": 7}, {**PRODUCT, "sku": "P-2", "unit_price": 2}]
    response = client.post("/v1/products/bulk", headers=callers["erp"], json={"source": "odoo", "items": items})
    assert response.status_code == 200 and response.json() == {"results": results}
    assert services.calls[0][2] == {"kind": "product", "items": items, "source": "odoo"}
