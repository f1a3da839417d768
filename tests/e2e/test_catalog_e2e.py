"""End to end: master data through the gateway of a platform started as `make run` starts it. An
admin creates and changes a store (If-Match), an ERP key bulk-upserts stores twice (the rerun changes
nothing), staff list them, the time zone changed in the catalog lands in points' read model, and a
store closed in the catalog has its sales refused with a 409 naming the store."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from service_runtime import config as cfg
from tests.e2e.platform_fixture import running_platform
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("catalog")
    with running_platform(var, "catalog") as running:
        password = (var / "secrets" / "admin-password").read_text().strip()
        token = httpx.post(running["base"] + "/v1/auth/token", data={"username": "admin", "password": password}
                           ).json()["access_token"]
        with httpx.Client(base_url=running["base"], timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            yield {**running, "http": http}


def _points_zone(platform, code: str) -> object:
    parts = urlsplit(cfg.pg_admin_url())
    url = urlunsplit(parts._replace(path="/" + platform["env"]["DB_NAME_PREFIX"] + "points"))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT time_zone FROM store_zones WHERE store_code = :c"),
                                {"c": code}).scalar()
    finally:
        engine.dispose()


def test_stores_are_kept_through_the_gateway_and_reach_points(platform):
    http = platform["http"]
    code = f"E2E-{uuid.uuid4().hex[:6]}"
    store = {"code": code, "name": "Harbour", "region": "north", "time_zone": "Asia/Shanghai", "currency": "CNY"}
    created = http.post("/v1/stores", json=store)
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"' and created.json()["status"] == "open"
    assert http.patch(f"/v1/stores/{code}", json={"time_zone": "Asia/Tokyo"}).status_code == 428
    changed = http.patch(f"/v1/stores/{code}", json={"time_zone": "Asia/Tokyo"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    stale = http.patch(f"/v1/stores/{code}", json={"name": "Old"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["error"]["field"] == "If-Match"
    wait_for(lambda: _points_zone(platform, code) == "Asia/Tokyo", timeout=30, message="points read model")

    key = http.post("/v1/api-keys", json={"name": "erp e2e", "kind": "erp"})
    assert key.status_code == 201, key.text
    erp = httpx.Client(base_url=platform["base"], timeout=30, headers={"X-API-Key": key.json()["key"]})
    items = [{**store, "code": f"{code}-{n}", "version": 1} for n in range(3)]
    first = erp.post("/v1/stores/bulk", json={"source": "odoo", "items": items})
    assert first.status_code == 200, first.text
    assert [r["outcome"] for r in first.json()["results"]] == ["created"] * 3, first.text
    again = erp.post("/v1/stores/bulk", json={"source": "odoo", "items": items})
    assert [r["outcome"] for r in again.json()["results"]] == ["unchanged"] * 3
    erp.close()
    listed = http.get("/v1/stores", params={"region": "north", "limit": 2})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2 and listed.json()["next_cursor"]


def test_a_store_closed_in_the_catalog_refuses_sales_naming_the_store(platform):
    http = platform["http"]
    code = f"E2E-{uuid.uuid4().hex[:6]}"
    store = {"code": code, "name": "Quay", "time_zone": "Asia/Shanghai", "currency": "CNY"}
    assert http.post("/v1/stores", json=store).status_code == 201
    member = http.post("/v1/members", json={"name": "E2E Shopper", "phone": "135" + str(uuid.uuid4().int)[:8],
                                            "channel": "web"})
    assert member.status_code == 201, member.text

    def sell() -> httpx.Response:
        return http.post("/v1/points/sales", json={
            "member_id": member.json()["member"]["member_id"], "store": code, "transaction_id": uuid.uuid4().hex[:16],
            "amount": "10.00", "sold_at": datetime.now(UTC).isoformat()})
    wait_for(lambda: sell().json().get("flags") == [], timeout=30, message="points knows the store")
    closed = http.patch(f"/v1/stores/{code}", json={"status": "closed"}, headers={"If-Match": '"1"'})
    assert closed.status_code == 200, closed.text
    refused: list[httpx.Response] = []
    wait_for(lambda: refused.append(sell()) or refused[-1].status_code == 409, timeout=30,
             message="a sale at the closed store is refused")
    error = refused[-1].json()["error"]
    assert (error["code"], error["field"]) == ("store_not_open", "store") and f"{code} is closed" in error["message"]
