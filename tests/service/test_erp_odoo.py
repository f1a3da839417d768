"""The Odoo adapters (JSON-2 and XML-RPC) against a local server speaking Odoo's documented protocols,
on the real catalog database and broker: full sync, incremental sync, resume after the server dies
mid-page, auth failure, a malformed record, rate limiting, and a rerun that creates nothing twice."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from prometheus_client import REGISTRY

from tests.erp_servers.records import past
from tests.helpers import query, wait_for
from tests.service.erp_support import (
    ADMIN,
    announced,
    catalog_rows,
    connect,
    erp_sales,
    odoo_server,
    run,
    seed_odoo,
    set_secrets,
)
from tests.service.notify_support import call


@pytest.fixture
def catalog(start_service):
    return start_service("catalog")


@pytest.fixture(name="odoo")
def _odoo():
    yield from odoo_server()


@pytest.fixture(name="secrets")
def _secrets(monkeypatch):
    return set_secrets(monkeypatch)


@pytest.mark.parametrize("kind", ["odoo_json2", "odoo_xmlrpc"])
def test_a_full_sync_brings_stores_categories_products_and_sales(catalog, odoo, secrets, kind):
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token)
    name = connect(catalog, odoo.url, kind, ref="ERP_SECRET_ODOO_TEST", kinds=["category", "store", "product", "sale"])
    done = run(catalog, name)
    assert done["status"] == "succeeded" and done["failure"] is None
    categories = catalog_rows("categories", name)
    assert [(c.code, c.parent) for c in categories] == [(f"{name}-categ-1", None),
                                                        (f"{name}-categ-2", f"{name}-categ-1")]
    stores = catalog_rows("stores", name)
    assert [(s.code, s.name, s.status, s.time_zone, s.currency) for s in stores] == [
        (f"{name}-pos-1", "Nanjing Road", "open", "Asia/Shanghai", "CNY"),
        (f"{name}-pos-2", "Old shop", "closed", "Asia/Shanghai", "CNY")]
    products = catalog_rows("products", name)
    assert [(p.sku, str(p.unit_price), p.category) for p in products][:2] == [
        (f"{token}-SKU-1", "13.30", f"{name}-categ-2"), (f"{token}-SKU-2", "14.30", f"{name}-categ-2")]
    assert len(products) == 5
    # the product without an internal reference is reported, named by its field; the rest went on
    assert [(e["kind"], e["external_id"], e["field"]) for e in done["errors"]] == [("product", "6", "default_code")]
    sales = erp_sales(name)
    assert [(s.transaction_id, s.store, s.day, s.amount_cents) for s in sales] == [
        (f"{token}-T1", f"{name}-pos-1", date(2026, 12, 1), 3760),
        (f"{token}-T2", f"{name}-pos-1", date(2026, 12, 1), 1330)]  # 17:00 UTC is 01:00 the next day in Shanghai
    assert sales[0].lines == [{"sku": f"{token}-SKU-1", "quantity": "2.0", "amount_cents": 3760}]
    assert done["rows_in"] == 2 + 2 + 6 + 2 and done["rows_out"] == 2 + 2 + 5 + 2 and done["error_count"] == 1
    assert announced("product.changed", name) == 5 and announced("store.changed", name) == 2


def test_incremental_sync_takes_only_what_changed_and_a_rerun_creates_nothing_twice(catalog, odoo, secrets):
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token)
    name = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST", kinds=["category", "product"])
    first = run(catalog, name)
    assert first["rows_out"] == 2 + 5
    again = run(catalog, name)
    assert (again["status"], again["rows_in"], again["rows_out"]) == ("succeeded", 0, 0)
    assert announced("product.changed", name) == 5
    odoo.put("product.product", {"id": 3, "list_price": 99.9}, past(60))
    incremental = run(catalog, name)
    assert (incremental["rows_in"], incremental["rows_out"]) == (1, 1)
    assert str(next(p for p in catalog_rows("products", name) if p.sku == f"{token}-SKU-3").unit_price) == "99.90"
    assert announced("product.changed", name) == 6
    cursor = call(catalog, "sync_status", caller=ADMIN, name=name)["cursors"]
    assert {c["kind"]: c["key"] for c in cursor} == {"category": "1", "product": "3"}


def test_a_lookback_rereads_recent_records_and_changes_nothing(catalog, odoo, secrets):
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token)
    name = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST",
                   kinds=["category", "product", "sale"], lookback_seconds=86400)
    run(catalog, name)
    again = run(catalog, name)
    assert again["rows_in"] == 2 + 6 + 2 and again["rows_out"] == 0  # read again, written once
    assert len(erp_sales(name)) == 2 and announced("product.changed", name) == 5


def test_a_server_dying_mid_page_fails_the_run_and_the_next_run_resumes_after_the_last_page(catalog, odoo, secrets):
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token, products=7)
    name = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST", kinds=["category", "product"],
                   page_size=3, retry_attempts=2)
    odoo.die_after(2)  # categories, the first page of products; the second page dies half-way, every try
    failed = run(catalog, name)
    assert (failed["status"], failed["failure_kind"]) == ("failed", "unavailable")
    assert "IncompleteRead" in failed["failure"] or "unreadable" in failed["failure"]
    assert [p.sku for p in catalog_rows("products", name)] == [f"{token}-SKU-{n}" for n in (1, 2, 3)]
    status = call(catalog, "sync_status", caller=ADMIN, name=name)
    assert {c["kind"]: c["key"] for c in status["cursors"]}["product"] == "3"
    assert status["last_run"]["failure_kind"] == "unavailable" and status["running"] is False
    odoo.die_after(None)
    resumed = run(catalog, name)
    assert resumed["status"] == "succeeded" and resumed["rows_in"] == 5  # products 4-8, no category again
    assert len(catalog_rows("products", name)) == 7 and announced("product.changed", name) == 7


def test_rate_limiting_and_a_dropped_page_are_retried(catalog, odoo, secrets):
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token)
    name = connect(catalog, odoo.url, "odoo_xmlrpc", ref="ERP_SECRET_ODOO_TEST", kinds=["category", "product"])
    odoo.rate_limit(2, retry_after="1")
    done = run(catalog, name)
    assert done["status"] == "succeeded" and len(catalog_rows("products", name)) == 5
    assert sum(1 for method, path in odoo.requests if path == "/xmlrpc/2/object") >= 2 + 2  # two 429s, then on
    odoo.put("product.product", {"id": 1, "name": "Tea one"}, past(30))
    odoo.drop_next(1)
    again = run(catalog, name)
    assert again["status"] == "succeeded" and again["rows_out"] == 1
    assert catalog_rows("products", name)[0].name == "Tea one"


@pytest.mark.parametrize("kind", ["odoo_json2", "odoo_xmlrpc"])
def test_wrong_credentials_fail_the_run_with_a_clear_error_and_write_nothing(catalog, odoo, secrets, kind):
    seed_odoo(odoo, uuid.uuid4().hex[:6])
    name = connect(catalog, odoo.url, kind, ref="ERP_SECRET_ODOO_WRONG")
    done = run(catalog, name)
    assert (done["status"], done["failure_kind"]) == ("failed", "auth")
    assert ("Invalid apikey" if kind == "odoo_json2" else "refused the login") in done["failure"]
    assert catalog_rows("products", name) == [] and odoo.data_requests == 0
    missing = connect(catalog, odoo.url, kind, ref="ERP_SECRET_NOT_SET")
    unset = run(catalog, missing)
    assert unset["failure_kind"] == "auth" and "ERP_SECRET_NOT_SET" in unset["failure"]
    assert "not-the-key" not in str(call(catalog, "sync_connections", caller=ADMIN))


def test_customers_go_through_the_members_import(start_service, odoo, secrets):
    catalog = start_service("catalog")
    start_service("members")
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token)
    odoo.put("res.partner", {"id": 11, "mobile": f"1380013{int(token, 16) % 10000:04d}"}, past(3900))
    name = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST", kinds=["customer"])
    done = run(catalog, name)
    assert done["status"] == "succeeded" and done["rows_out"] == 1
    assert [(e["external_id"], e["field"]) for e in done["errors"]] == [("12", "mobile")]
    members = query("members", "SELECT name, external_id FROM members WHERE external_id = :x", x=f"{name}:11")
    assert [(m.name, m.external_id) for m in members] == [("Li Wei", f"{name}:11")]
    odoo.put("res.partner", {"id": 11, "email": "new@example.com"}, past(10))
    again = run(catalog, name)
    assert again["rows_out"] == 0  # the member exists: nothing created twice


def test_the_scheduler_runs_a_due_connection_and_metrics_count_it(catalog, odoo, secrets):
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token)
    name = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST", enabled=True,
                   kinds=["category", "product"])
    try:
        status = wait_for(lambda: (s := call(catalog, "sync_status", caller=ADMIN, name=name))["last_run"]
                          and s["last_run"]["status"] == "succeeded" and s, timeout=30, message="a timer run")
        assert status["last_run"]["trigger"] == "timer" and status["last_run"]["rows_out"] == 7
        assert status["next_run_at"] > status["last_run"]["started_at"]  # the next one is interval_seconds away
        def age() -> float:  # the sync-health gauge the catalog publishes from its database each tick
            return REGISTRY.get_sample_value("loyalty_erp_last_success_age_seconds", {"connection": name}) or 1e9

        wait_for(lambda: age() < 60, timeout=30, message="the sync-health gauge")
        assert REGISTRY.get_sample_value("loyalty_erp_sync_interval_seconds", {"connection": name}) == 10
        asked = call(catalog, "request_sync", caller=ADMIN, name=name)
        assert asked["run_requested_at"] is not None
        wait_for(lambda: call(catalog, "sync_status", caller=ADMIN, name=name)["last_run"]["id"] != status["last_run"][
            "id"], timeout=30, message="the asked run")
    finally:
        call(catalog, "put_connection", caller=ADMIN, name=name, connection={
            "kind": "odoo_json2", "base_url": odoo.url, "credentials_ref": "ERP_SECRET_ODOO_TEST", "enabled": False})
    assert REGISTRY.get_sample_value("loyalty_erp_rows_out_total", {"connection": name, "kind": "product"}) == 5
    disabled = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST", kinds=["category"])
    call(catalog, "request_sync", caller=ADMIN, name=disabled)  # a disabled connection runs when asked
    wait_for(lambda: call(catalog, "sync_status", caller=ADMIN, name=disabled)["last_run"], timeout=30,
             message="the asked run of a disabled connection")
    assert REGISTRY.get_sample_value("loyalty_erp_errors_total", {"connection": name, "kind": "product"}) == 1
    assert REGISTRY.get_sample_value("loyalty_erp_last_success_timestamp_seconds", {"connection": name}) > 0
