"""The ERPNext adapter against a local server speaking Frappe's documented REST API, on the real
catalog database and broker: full and incremental sync, a Sales Invoice's items from its own document,
a malformed record, token refused (401) and a DocType the key may not read (403), a dropped page."""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from tests.erp_servers.records import past
from tests.service.erp_support import (
    ADMIN,
    CLERK,
    announced,
    catalog_rows,
    connect,
    erp_sales,
    erpnext_server,
    run,
    seed_erpnext,
    set_secrets,
)
from tests.service.notify_support import call


@pytest.fixture
def catalog(start_service):
    return start_service("catalog")


@pytest.fixture(name="erpnext")
def _erpnext():
    yield from erpnext_server()


@pytest.fixture(name="secrets")
def _secrets(monkeypatch):
    return set_secrets(monkeypatch)


def test_a_full_then_incremental_sync_from_erpnext(catalog, erpnext, secrets):
    token = uuid.uuid4().hex[:6]
    seed_erpnext(erpnext, token)
    name = connect(catalog, erpnext.url, "erpnext", ref="ERP_SECRET_ERPNEXT_TEST", page_size=2,
                   kinds=["category", "store", "product", "sale"])
    done = run(catalog, name)
    assert done["status"] == "succeeded" and done["errors"] == []
    assert [(c.code, c.name, c.parent) for c in catalog_rows("categories", name)] == [
        (f"{token}-All", "All", None), (f"{token}-Drinks", "Drinks", f"{token}-All")]
    assert [(s.code, s.status) for s in catalog_rows("stores", name)] == [(f"{token}-Main-Street", "open")]
    assert [(p.sku, str(p.unit_price), p.brand) for p in catalog_rows("products", name)] == [
        (f"{token}-ITEM-1", "8.80", "Sweet"), (f"{token}-ITEM-2", "17.60", "Sweet"),
        (f"{token}-ITEM-3", "26.40", "Sweet")]  # 8.8 * 3 is 26.400000000000002 as a float: exact here
    sales = erp_sales(name)  # the draft invoice (docstatus 0) is not a sale
    assert [(s.transaction_id, s.store, s.day, s.amount_cents) for s in sales] == [
        (f"{token}-SINV-1", f"{token}-Main-Street", date(2026, 12, 1), 2640)]
    assert [line["amount_cents"] for line in sales[0].lines] == [880, 1760]
    assert sales[0].occurred_at.isoformat() == "2026-12-01T01:15:00+00:00"  # 09:15 in the site's Shanghai
    erpnext.put("Item", {"name": f"{token}-ITEM-2", "standard_rate": 18.0}, past(5))
    again = run(catalog, name)
    assert (again["rows_in"], again["rows_out"]) == (1, 1) and announced("product.changed", name) == 4
    status = call(catalog, "sync_status", caller=ADMIN, name=name)
    assert status["last_run"]["id"] == again["id"] and status["lag_seconds"] is not None
    assert {c["kind"] for c in status["cursors"]} == {"category", "store", "product", "sale"}


def test_a_malformed_record_is_reported_and_the_rest_continue(catalog, erpnext, secrets):
    token = uuid.uuid4().hex[:6]
    seed_erpnext(erpnext, token)
    erpnext.put("Item", {"name": f"{token}-ITEM-BAD", "item_code": f"{token}-ITEM-BAD", "item_name": "Broken",
                         "item_group": f"{token} Drinks", "standard_rate": "twelve"}, past(5500))
    erpnext.put("Item", {"name": f"{token}-ITEM-NOSTAMP", "item_name": "No stamp"})
    erpnext.tables["Item"].rows[f"{token}-ITEM-NOSTAMP"]["modified"] = "yesterday"
    name = connect(catalog, erpnext.url, "erpnext", ref="ERP_SECRET_ERPNEXT_TEST", kinds=["category", "product"])
    done = run(catalog, name)
    assert done["status"] == "succeeded"
    assert sorted((e["external_id"], e["field"]) for e in done["errors"]) == [
        (f"{token}-ITEM-BAD", "standard_rate"), (f"{token}-ITEM-NOSTAMP", "modified")]
    assert len(catalog_rows("products", name)) == 3


def test_a_refused_token_and_a_forbidden_doctype_are_clear_errors(catalog, erpnext, secrets):
    seed_erpnext(erpnext, uuid.uuid4().hex[:6])
    wrong = connect(catalog, erpnext.url, "erpnext", ref="ERP_SECRET_ERPNEXT_WRONG")
    refused = run(catalog, wrong)
    assert (refused["status"], refused["failure_kind"]) == ("failed", "auth")
    assert "401" in refused["failure"] and "AuthenticationError" in refused["failure"]
    erpnext.forbidden.add("Item")
    name = connect(catalog, erpnext.url, "erpnext", ref="ERP_SECRET_ERPNEXT_TEST", kinds=["category", "product"])
    forbidden = run(catalog, name)
    assert forbidden["failure_kind"] == "auth" and "PermissionError" in forbidden["failure"]
    assert len(catalog_rows("categories", name)) == 2  # what came before the refusal stays, with its cursor
    with pytest.raises(Exception) as clerk:
        call(catalog, "sync_status", caller=CLERK, name=name)
    assert type(clerk.value).__name__ == "Forbidden"


def test_a_dropped_page_is_retried_and_rate_limits_are_honoured(catalog, erpnext, secrets):
    token = uuid.uuid4().hex[:6]
    seed_erpnext(erpnext, token)
    name = connect(catalog, erpnext.url, "erpnext", ref="ERP_SECRET_ERPNEXT_TEST", kinds=["category", "product"])
    erpnext.drop_next(1)
    erpnext.rate_limit(1)
    done = run(catalog, name)
    assert done["status"] == "succeeded" and len(catalog_rows("products", name)) == 3
    rerun = run(catalog, name)
    assert rerun["rows_out"] == 0 and announced("product.changed", name) == 3
