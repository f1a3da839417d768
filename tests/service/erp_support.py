"""What the ERP sync tests share: the local protocol servers, a connection per test (unique name, so the
records it writes are its own), seed data as an Odoo or ERPNext holds it, and reads of what got written."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.erp_servers.erpnext import ErpNextServer
from tests.erp_servers.kingdee import KingdeeServer
from tests.erp_servers.odoo import OdooServer
from tests.erp_servers.records import past
from tests.helpers import query
from tests.service.notify_support import call

ADMIN = '{"kind":"staff","id":"a-1","roles":["admin"]}'
CLERK = '{"kind":"staff","id":"c-1","roles":["clerk"],"stores":["S1"]}'
FAST = {"time_zone": "Asia/Shanghai", "currency": "CNY", "lookback_seconds": 0, "retry_attempts": 3,
        "retry_base_wait": 0.01, "retry_max_wait": 1.0, "timeout": 5.0}


def odoo_server() -> Iterator[OdooServer]:
    server = OdooServer()
    yield server
    server.close()


def erpnext_server() -> Iterator[ErpNextServer]:
    server = ErpNextServer()
    yield server
    server.close()


def kingdee_server() -> Iterator[KingdeeServer]:
    server = KingdeeServer()
    yield server
    server.close()


def set_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"ERP_SECRET_ODOO_TEST": "odoo-test-key", "ERP_SECRET_ODOO_WRONG": "not-the-key",
              "ERP_SECRET_ERPNEXT_TEST": "k-test:s-test", "ERP_SECRET_ERPNEXT_WRONG": "k-test:wrong",
              "ERP_SECRET_KINGDEE_TEST": "231213_kd-app,kd-app-secret", "ERP_SECRET_KINGDEE_PASSWORD": "kd-pass",
              "ERP_SECRET_KINGDEE_WRONG": "231213_kd-app,not-the-secret"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def connect(catalog: Any, server_url: str, kind: str, *, ref: str, page_size: int = 50, enabled: bool = False,
            **options: Any) -> str:
    name = f"{kind.split('_')[0]}-{uuid.uuid4().hex[:8]}"
    declared: dict[str, Any] = {"kind": kind, "base_url": server_url, "credentials_ref": ref, "page_size": page_size,
                                "enabled": enabled, "interval_seconds": 10, "options": {**FAST, **options}}
    if kind.startswith("odoo"):
        declared |= {"database": "chain", "username": "sync-bot"}
    if kind == "kingdee":
        declared |= {"database": "5f0c1d2e3a4b5c", "username": "sync", "base_url": f"{server_url}/k3cloud/"}
    call(catalog, "put_connection", caller=ADMIN, name=name, connection=declared)
    return name


def run(catalog: Any, name: str) -> dict[str, Any]:
    return call(catalog, "run_sync", caller=ADMIN, name=name)  # type: ignore[no-any-return]


def seed_odoo(server: OdooServer, token: str, products: int = 5) -> None:
    """Two categories (the child written before its parent), two shops (one archived), products (one
    without an internal reference), two customers, two paid orders with their lines."""
    server.put("product.category", {"id": 2, "name": "Drinks", "parent_id": [1, "All"]}, past(7200))
    server.put("product.category", {"id": 1, "name": "All", "parent_id": False}, past(7100))
    server.put("pos.config", {"id": 1, "name": "Nanjing Road", "active": True}, past(7000))
    server.put("pos.config", {"id": 2, "name": "Old shop", "active": False}, past(7000))
    for n in range(1, products + 1):
        server.put("product.product", {"id": n, "default_code": f"{token}-SKU-{n}", "name": f"Tea {n}",
                                       "categ_id": [2, "All / Drinks"], "list_price": 12.3 + n, "active": True},
                   past(6000 - n))
    server.put("product.product", {"id": products + 1, "default_code": False, "name": "No reference",
                                   "categ_id": [2, "All / Drinks"], "list_price": 1.0, "active": True}, past(5000))
    server.put("res.partner", {"id": 11, "name": "Li Wei", "mobile": "13800138011", "phone": False,
                               "email": "li@example.com"}, past(4000))
    server.put("res.partner", {"id": 12, "name": "No Phone", "mobile": False, "phone": False, "email": False},
               past(4000))
    for order, (at, total) in enumerate([("2026-12-01 02:30:00", 37.6), ("2026-11-30 17:00:00", 13.3)], start=1):
        server.put("pos.order", {"id": order, "name": f"Order {order}", "pos_reference": f"{token}-T{order}",
                                 "config_id": [1, "Nanjing Road"], "date_order": at, "amount_total": total,
                                 "partner_id": [11, "Li Wei"] if order == 1 else False, "lines": [order],
                                 "state": "paid"}, past(3000))
        server.put("pos.order.line", {"id": order, "order_id": [order, f"Order {order}"],
                                      "product_id": [1, "Tea 1"], "qty": 2.0 if order == 1 else 1.0,
                                      "price_subtotal_incl": total}, past(3000))


def seed_erpnext(server: ErpNextServer, token: str) -> None:
    server.put("Item Group", {"name": f"{token} Drinks", "item_group_name": "Drinks",
                              "parent_item_group": f"{token} All"}, past(7200))
    server.put("Item Group", {"name": f"{token} All", "item_group_name": "All", "parent_item_group": ""}, past(7100))
    server.put("POS Profile", {"name": f"{token} Main Street", "warehouse": "Stores - C", "currency": "CNY",
                               "disabled": 0}, past(7000))
    for n in range(1, 4):
        server.put("Item", {"name": f"{token}-ITEM-{n}", "item_code": f"{token}-ITEM-{n}", "item_name": f"Cake {n}",
                            "item_group": f"{token} Drinks", "brand": "Sweet", "standard_rate": 8.8 * n,
                            "disabled": 0}, past(6000 - n))
    server.put("Customer", {"name": "CUST-0001", "customer_name": "Wang Fang", "mobile_no": "13900139001",
                            "email_id": "wang@example.com"}, past(5000))
    server.put("Customer", {"name": "CUST-0002", "customer_name": "No Mobile", "mobile_no": None}, past(5000))
    server.put("Sales Invoice", {"name": f"{token}-SINV-1", "docstatus": 1, "customer": "CUST-0001",
                                 "pos_profile": f"{token} Main Street", "posting_date": "2026-12-01",
                                 "posting_time": "09:15:00", "grand_total": 26.4, "is_pos": 1,
                                 "items": [{"item_code": f"{token}-ITEM-1", "qty": 1.0, "amount": 8.8},
                                           {"item_code": f"{token}-ITEM-2", "qty": 1.0, "amount": 17.6}]},
               past(4000))
    server.put("Sales Invoice", {"name": f"{token}-SINV-2", "docstatus": 0, "pos_profile": f"{token} Main Street",
                                 "posting_date": "2026-12-01", "grand_total": 1.0, "items": []}, past(4000))


def seed_kingdee(server: KingdeeServer, token: str, materials: int = 3) -> None:
    """Two material groups, an organisation (a store) and a forbidden one, materials (one unaudited, so
    not taken), a customer with a telephone and one without, and an audited outbound bill with two entries."""
    server.put("SAL_MATERIALGROUP", {"FID": 2, "FNumber": "01.01", "FName": "Drinks", "FParentId": 1})
    server.put("SAL_MATERIALGROUP", {"FID": 1, "FNumber": "01", "FName": "All", "FParentId": 0})
    server.put("ORG_Organizations", {"FOrgID": 1, "FNumber": f"{token}-100", "FName": "Xujiahui", "FForbidStatus": "A"},
               past(7000))
    server.put("ORG_Organizations", {"FOrgID": 2, "FNumber": f"{token}-101", "FName": "Closed", "FForbidStatus": "B"},
               past(7000))
    for n in range(1, materials + 1):
        server.put("BD_MATERIAL", {"FMATERIALID": n, "FNumber": f"{token}-M{n}", "FName": f"Bun {n}",
                                   "FMaterialGroup": 2, "FDocumentStatus": "C"}, past(6000 - n))
        server.put("BD_SAL_PriceList", {"FEntryID": n, "FNumber": "XSJMB0001", "FMaterialId": n, "FPrice": 4.4 * n})
    server.put("BD_MATERIAL", {"FMATERIALID": 99, "FNumber": f"{token}-DRAFT", "FName": "Draft",
                               "FMaterialGroup": 2, "FDocumentStatus": "A"}, past(5500))
    server.put("BD_Customer", {"FCUSTID": 7, "FNumber": "CUST0007", "FName": "Zhao Lei", "FTEL": "13700137007",
                               "FDocumentStatus": "C"}, past(5000))
    server.put("BD_Customer", {"FCUSTID": 8, "FNumber": "CUST0008", "FName": "No Tel", "FTEL": None,
                               "FDocumentStatus": "C"}, past(5000))
    server.put("SAL_OUTSTOCK", {"FID": 5, "FBillNo": f"{token}-XSCKD1", "FDate": "2026-12-01T09:15:00",
                                "FStockOrgId.FNumber": f"{token}-100", "FCustomerID": 7, "FBillAllAmount": 13.2,
                                "FDocumentStatus": "C", "entries": [
                                    {"FEntryID": 1, "FMaterialId.FNumber": f"{token}-M1", "FRealQty": 1.0,
                                     "FAllAmount": 4.4, "FStockID.FNumber": "CK01"},
                                    {"FEntryID": 2, "FMaterialId.FNumber": f"{token}-M2", "FRealQty": 1.0,
                                     "FAllAmount": 8.8, "FStockID.FNumber": "CK01"}]}, past(4000))


def catalog_rows(table: str, source: str) -> list[Any]:
    key = "sku" if table == "products" else "code"
    return query("catalog", f"SELECT * FROM {table} WHERE source = :s ORDER BY {key}", s=source)


def announced(event_type: str, source: str) -> int:
    field = event_type.split(".")[0]
    rows = query("catalog", "SELECT body FROM outbox WHERE event_type = :t", t=event_type)
    return sum(1 for r in rows if r.body["payload"][field]["source"] == source)


def erp_sales(connection: str) -> list[Any]:
    return query("catalog", "SELECT * FROM erp_sales WHERE connection = :c ORDER BY transaction_id", c=connection)


# fixtures for the adapter tests (import them by name into a test module)
@pytest.fixture(name="odoo")
def odoo_fixture() -> Iterator[OdooServer]:
    yield from odoo_server()


@pytest.fixture(name="erpnext")
def erpnext_fixture() -> Iterator[ErpNextServer]:
    yield from erpnext_server()


@pytest.fixture(name="kingdee")
def kingdee_fixture() -> Iterator[KingdeeServer]:
    yield from kingdee_server()


@pytest.fixture(name="secrets")
def secrets_fixture(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return set_secrets(monkeypatch)
