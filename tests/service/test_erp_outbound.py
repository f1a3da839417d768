"""Outbound writes into the ERP through the adapters, against the local protocol servers: members
registered here become Odoo customers once (through the real catalog, feed and broker), whatever the
reruns and a create whose answer was lost; a day's liability becomes one journal entry in Odoo and
ERPNext; a Kingdee customer is saved once."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from services.catalog.erp.connections import adapter_for
from services.catalog.erp.outbound import liability_entry
from tests.helpers import wait_for
from tests.service.erp_support import (  # noqa: F401 (fixtures)
    FAST,
    connect,
    erpnext_fixture,
    kingdee_fixture,
    odoo_fixture,
    run,
    secrets_fixture,
)
from tests.service.feed_support import ADMIN, head_cursor, publish, registered, start_feed
from tests.service.notify_support import call


def _partners(odoo) -> list[tuple[str, str]]:
    return sorted((r["ref"], r["name"]) for r in odoo.tables["res.partner"].rows.values())


def test_members_registered_here_become_odoo_customers_once(start_service, odoo, secrets):
    catalog, feed = start_service("catalog"), start_feed(start_service)
    start = head_cursor(feed)
    ours, imported = [registered(str(uuid.uuid4())) for _ in range(2)], registered(str(uuid.uuid4()))
    publish(*ours, imported.model_copy(update={"channel": "import"}))
    wait_for(lambda: len(call(feed, "read", caller=ADMIN, after=start, limit=10)["items"]) == 3, timeout=20,
             message="the feed took the registrations")
    name = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST", kinds=["category"],
                   outbound=["customer"], customers_after=start)
    done = run(catalog, name)
    assert done["status"] == "succeeded" and done["rows_out"] == 2, done
    assert _partners(odoo) == sorted((f"loyalty:{m.member_id}", f"Member {m.member_number}") for m in ours)
    assert run(catalog, name)["rows_out"] == 0 and len(_partners(odoo)) == 2  # a rerun writes nothing
    late = registered(str(uuid.uuid4()))
    odoo.lose_create_answers = 1  # Odoo creates the partner; its answer is cut on the way back
    publish(late)
    wait_for(lambda: call(feed, "read", caller=ADMIN, after=start, limit=10)["items"][-1]["data"]["member_id"]
             == late.member_id, timeout=20, message="the feed took the late registration")
    again = run(catalog, name)
    assert again["status"] == "succeeded" and again["rows_out"] == 1
    assert [ref for ref, _ in _partners(odoo)].count(f"loyalty:{late.member_id}") == 1  # found, not made twice
    status = call(catalog, "sync_status", caller='{"kind":"staff","id":"a-1","roles":["admin"]}', name=name)
    assert "push:customer" in {c["kind"] for c in status["cursors"]}


def _connection(kind: str, url: str, ref: str, **options) -> dict:
    row = {"name": f"out-{uuid.uuid4().hex[:6]}", "kind": kind, "base_url": url, "credentials_ref": ref,
           "database": "chain", "username": "sync-bot", "options": {**FAST, **options}}
    if kind == "kingdee":
        row |= {"database": "5f0c1d2e3a4b5c", "username": "sync", "base_url": f"{url}/k3cloud/"}
    return row


def test_a_days_liability_is_one_journal_entry_in_odoo_and_erpnext(odoo, erpnext, secrets):
    entry = liability_entry(date(2026, 12, 4), Decimal("1000.00"), Decimal("1234.50"),
                            {"expense": "611", "liability": "2241"})
    assert entry is not None and entry["amount"] == "234.50"
    odoo_adapter = adapter_for(_connection("odoo_xmlrpc", odoo.url, "ERP_SECRET_ODOO_TEST"))
    odoo.lose_create_answers = 1
    first = odoo_adapter.push("journal", "loyalty-liability-2026-12-04", {**entry, "journal": "3"})
    assert odoo_adapter.push("journal", "loyalty-liability-2026-12-04", {**entry, "journal": "3"}) == first
    moves = list(odoo.tables["account.move"].rows.values())
    assert len(moves) == 1 and moves[0]["journal_id"] == 3 and moves[0]["date"] == "2026-12-04"
    assert [(line[2]["account_id"], line[2]["debit"], line[2]["credit"]) for line in moves[0]["line_ids"]] == [
        (611, 234.5, 0.0), (2241, 0.0, 234.5)]
    erp_adapter = adapter_for(_connection("erpnext", erpnext.url, "ERP_SECRET_ERPNEXT_TEST"))
    erpnext.lose_insert_answers = 1
    name = erp_adapter.push("journal", "loyalty-liability-2026-12-04", {**entry, "journal": "Chain Ltd"})
    assert erp_adapter.push("journal", "loyalty-liability-2026-12-04", {**entry, "journal": "Chain Ltd"}) == name
    [doc] = erpnext.tables["Journal Entry"].rows.values()
    assert (doc["cheque_no"], doc["company"], doc["docstatus"]) == ("loyalty-liability-2026-12-04", "Chain Ltd", 1)
    assert [(a["account"], a["debit_in_account_currency"]) for a in doc["accounts"]] == [("611", "234.50"),
                                                                                          ("2241", "0")]
    customer = erp_adapter.push("customer", "loyalty:m-1", {"name": "Member 7001"})
    assert erp_adapter.push("customer", "loyalty:m-1", {"name": "Member 7001 (renamed)"}) == customer
    assert [c["customer_name"] for c in erpnext.tables["Customer"].rows.values()] == ["Member 7001 (renamed)"]


def test_a_kingdee_customer_is_saved_once(kingdee, secrets):
    adapter = adapter_for(_connection("kingdee", kingdee.url, "ERP_SECRET_KINGDEE_TEST"))
    kingdee.drop_save_answers = 1
    first = adapter.push("customer", "loyalty:0c9a7d4e", {"name": "Member 7002"})
    assert adapter.push("customer", "loyalty:0c9a7d4e", {"name": "Member 7002"}) == first
    saved = [r for r in kingdee.tables["BD_Customer"].rows.values() if r["FNumber"] == "LOY-0c9a7d4e"]
    assert len(saved) == 1 and saved[0]["FName"] == "Member 7002"



def test_a_days_liability_is_one_kingdee_voucher(kingdee, secrets):
    shrank = liability_entry(date(2026, 12, 5), Decimal("1234.50"), Decimal("1200.00"),
                             {"expense": "6601.01", "liability": "2241.01"})
    adapter = adapter_for(_connection("kingdee", kingdee.url, "ERP_SECRET_KINGDEE_TEST"))
    with pytest.raises(Exception, match="options.journal"):
        adapter.push("journal", "loyalty-liability-2026-12-05", {**shrank})
    kingdee.drop_save_answers = 1  # saved, its answer lost: the retry finds it by the business number
    first = adapter.push("journal", "loyalty-liability-2026-12-05", {**shrank, "journal": "001"})
    assert adapter.push("journal", "loyalty-liability-2026-12-05", {**shrank, "journal": "001"}) == first
    [voucher] = kingdee.tables["GL_VOUCHER"].rows.values()
    assert (voucher["FAccountBookID"], voucher["FVOUCHERGROUPID"], voucher["FDate"], voucher["FPERIOD"]) == (
        {"FNumber": "001"}, {"FNumber": "PRE001"}, "2026-12-05", 12)
    assert [(e["FACCOUNTID"]["FNumber"], e["FDEBIT"], e["FCREDIT"], e["FBUSNO"]) for e in voucher["entries"]] == [
        ("6601.01", "0", "34.50", "loyalty-liability-2026-12-05"),
        ("2241.01", "34.50", "0", "loyalty-liability-2026-12-05")]  # it shrank: liability debited
