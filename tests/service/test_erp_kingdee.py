"""The Kingdee K/3 Cloud adapter against a local server speaking its WebAPI (login with its session cookie,
ExecuteBillQuery, errors as HTTP 200 ResponseStatus), on the real catalog database and broker: full and
incremental sync, a rerun that creates nothing twice, a lost session, a refused login, a malformed
record, and a server dying mid-page resumed after the last page written."""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from tests.erp_servers.records import past
from tests.service.erp_support import (
    ADMIN,
    announced,
    catalog_rows,
    connect,
    erp_sales,
    kingdee_fixture,  # noqa: F401 (fixture)
    run,
    secrets_fixture,  # noqa: F401 (fixture)
    seed_kingdee,
)
from tests.service.notify_support import call


@pytest.fixture
def catalog(start_service):
    return start_service("catalog")


def test_a_full_then_incremental_sync_from_kingdee(catalog, kingdee, secrets):
    token = uuid.uuid4().hex[:6]
    seed_kingdee(kingdee, token)
    name = connect(catalog, kingdee.url, "kingdee", ref="ERP_SECRET_KINGDEE_TEST", page_size=2,
                   price_list="XSJMB0001", kinds=["category", "store", "product", "sale"])
    done = run(catalog, name)
    assert done["status"] == "succeeded" and done["errors"] == []
    assert [(c.code, c.name, c.parent) for c in catalog_rows("categories", name)] == [
        (f"{name}-grp-1", "All", None), (f"{name}-grp-2", "Drinks", f"{name}-grp-1")]
    assert [(s.code, s.status) for s in catalog_rows("stores", name)] == [(f"{token}-100", "open"),
                                                                          (f"{token}-101", "closed")]
    assert [(p.sku, str(p.unit_price), p.category) for p in catalog_rows("products", name)] == [
        (f"{token}-M1", "4.40", f"{name}-grp-2"), (f"{token}-M2", "8.80", f"{name}-grp-2"),
        (f"{token}-M3", "13.20", f"{name}-grp-2")]  # the unaudited material is not taken
    sales = erp_sales(name)
    assert [(s.transaction_id, s.store, s.day, s.amount_cents, s.member_ref) for s in sales] == [
        (f"{token}-XSCKD1", f"{token}-100", date(2026, 12, 1), 1320, f"{name}:7")]
    assert [line["amount_cents"] for line in sales[0].lines] == [440, 880]
    assert sales[0].occurred_at.isoformat() == "2026-12-01T01:15:00+00:00"  # 09:15 in Shanghai
    rerun = run(catalog, name)
    assert rerun["status"] == "succeeded" and rerun["rows_out"] == 0  # groups are read again, changed nothing
    kingdee.put("BD_MATERIAL", {"FMATERIALID": 2, "FName": "Bun two"}, past(5))
    kingdee.put("SAL_MATERIALGROUP", {"FID": 2, "FName": "Hot drinks"})
    kingdee.lose_sessions_after(2)  # the third query is "session lost": the adapter logs in again, once
    again = run(catalog, name)
    assert kingdee.logins == 3 + 1
    assert (again["status"], again["rows_out"]) == ("succeeded", 2)
    assert announced("product.changed", name) == 4 and announced("category.changed", name) == 3
    status = call(catalog, "sync_status", caller=ADMIN, name=name)
    assert {c["kind"]: c["key"] for c in status["cursors"]} == {"category": None, "store": "2", "product": "2",
                                                                 "sale": "5"}


def test_a_refused_login_and_a_malformed_record(catalog, kingdee, secrets):
    token = uuid.uuid4().hex[:6]
    seed_kingdee(kingdee, token)
    wrong = connect(catalog, kingdee.url, "kingdee", ref="ERP_SECRET_KINGDEE_WRONG")
    refused = run(catalog, wrong)
    assert (refused["status"], refused["failure_kind"]) == ("failed", "auth")
    assert "LoginResultType 0" in refused["failure"] and "用户名或密码错误" in refused["failure"]
    assert kingdee.data_requests == 0
    kingdee.put("BD_MATERIAL", {"FMATERIALID": 50, "FNumber": " ", "FName": "No number", "FMaterialGroup": 2,
                                "FDocumentStatus": "C"}, past(5400))
    name = connect(catalog, kingdee.url, "kingdee", ref="ERP_SECRET_KINGDEE_PASSWORD", login="password",
                   kinds=["category", "product"])
    done = run(catalog, name)
    assert [(e["external_id"], e["field"]) for e in done["errors"]] == [("50", "FNumber")]
    assert len(catalog_rows("products", name)) == 3  # the rest went on, at the price a new one takes
    assert {str(p.unit_price) for p in catalog_rows("products", name)} == {"0.00"}


def test_a_server_dying_mid_page_resumes_after_the_last_page_written(catalog, kingdee, secrets):
    token = uuid.uuid4().hex[:6]
    seed_kingdee(kingdee, token, materials=7)
    name = connect(catalog, kingdee.url, "kingdee", ref="ERP_SECRET_KINGDEE_TEST",
                   kinds=["category", "store", "product"], page_size=3, retry_attempts=2)
    kingdee.die_after(3)  # groups, stores, the first page of materials; the second dies half-way, every try
    failed = run(catalog, name)
    assert (failed["status"], failed["failure_kind"]) == ("failed", "unavailable")
    assert [p.sku for p in catalog_rows("products", name)] == [f"{token}-M{n}" for n in (1, 2, 3)]
    kingdee.die_after(None)
    resumed = run(catalog, name)
    assert resumed["status"] == "succeeded" and resumed["rows_in"] == 2 + 4  # the groups again, materials 4-7
    assert len(catalog_rows("products", name)) == 7 and announced("product.changed", name) == 7
