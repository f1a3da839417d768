"""Reconciliation on the real services: sales synced from the local Odoo against the sales the points
ledger accrued for that store and day; a planted mismatch, a sale the ledger never saw and one the ERP
never sent are each reported, and the job keeps the day's result."""
from __future__ import annotations

import uuid

import pytest

from tests.erp_servers.records import past
from tests.helpers import query
from tests.service.erp_support import ADMIN, connect, odoo_server, run, seed_odoo, set_secrets
from tests.service.notify_support import call
from tests.service.points_support import open_account, sale


@pytest.fixture(name="odoo")
def _odoo():
    yield from odoo_server()


def test_a_planted_mismatch_a_missing_and_an_extra_sale_are_reported(start_service, odoo, monkeypatch):
    set_secrets(monkeypatch)
    start_service("members", outbox_relay=False)
    points = start_service("points", outbox_relay=False)
    catalog = start_service("catalog")
    token = uuid.uuid4().hex[:6]
    seed_odoo(odoo, token)
    odoo.put("pos.order", {"id": 3, "name": "Order 3", "pos_reference": f"{token}-T3", "config_id": [1, "Shop"],
                           "date_order": "2026-12-01 06:00:00", "amount_total": 5.0, "partner_id": False,
                           "lines": [], "state": "done"}, past(2000))
    name = connect(catalog, odoo.url, "odoo_json2", ref="ERP_SECRET_ODOO_TEST", kinds=["store", "sale"])
    assert run(catalog, name)["rows_out"] == 2 + 3
    store = f"{name}-pos-1"
    member_id, _ = open_account(store)
    for txn, amount in ((f"{token}-T1", "37.60"), (f"{token}-T2", "12.00"), (f"{token}-T9", "8.00")):
        call(points, "record_sale", **sale(member_id, amount, store=store, txn=txn,
                                           sold_at=past(0).replace(year=2026, month=12, day=1, hour=4)))
    report = call(catalog, "reconcile", caller=ADMIN, store=store, day="2026-12-01")
    assert (report["erp_count"], report["erp_amount"]) == (3, "55.90")
    assert (report["ledger_count"], report["ledger_amount"], report["matched"]) == (3, "57.60", 1)
    assert [(s["transaction_id"], s["erp_amount"], s["ledger_amount"]) for s in report["mismatched"]] == [
        (f"{token}-T2", "13.30", "12.00")]
    assert [(s["transaction_id"], s["member_ref"]) for s in report["missing"]] == [(f"{token}-T3", None)]
    assert [(s["transaction_id"], s["ledger_amount"]) for s in report["extra"]] == [(f"{token}-T9", "8.00")]
    assert report["ledger_points"] > 0
    done = call(catalog, "run_reconciliation", caller=ADMIN, day="2026-12-01")
    assert {"store": store, "day": "2026-12-01", "matched": 1, "missing": 1, "extra": 1, "mismatched": 1} in done
    saved = query("catalog", "SELECT matched, missing, extra, mismatched FROM erp_reconciliations "
                             "WHERE store = :s AND day = '2026-12-01'", s=store)
    assert [tuple(r) for r in saved] == [(1, 1, 1, 1)]
