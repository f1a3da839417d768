"""The ERPNext adapter: Frappe's REST API (``GET /api/resource/<DocType>`` with JSON-encoded ``fields``,
``filters``, ``or_filters``, ``order_by``, ``limit_start``, ``limit_page_length``; answers
``{"data": [...]}``), ``Authorization: token <key>:<secret>``, incremental by ``modified`` and keyset-paged
on (modified, name). A Sales Invoice's items come from its own ``GET /api/resource/Sales Invoice/<name>``."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from services.catalog.erp import values
from services.catalog.erp.http import RetryPolicy, send_json
from services.catalog.erp.interface import AdapterError, Cursor, Kind, Page, Record, Rejected
from services.catalog.erp.outbound import PushKind, find_or_create
from services.catalog.erp.values import BadValue

MEMBER_FIELD = "loyalty_member_id"  # a Custom Field (Data, unique) the ERP team adds to Customer
FIELDS: dict[str, list[str]] = {
    "Item Group": ["name", "item_group_name", "parent_item_group", "modified"],
    "POS Profile": ["name", "warehouse", "currency", "disabled", "modified"],
    "Warehouse": ["name", "warehouse_name", "disabled", "city", "modified"],
    "Item": ["name", "item_code", "item_name", "item_group", "brand", "standard_rate", "disabled", "modified"],
    "Customer": ["name", "customer_name", "mobile_no", "email_id", "modified"],
    "Sales Invoice": ["name", "modified"],
}


def frappe_error(status: int, body: Any) -> str:
    """Frappe's error body: ``exc_type`` and ``exception`` (v1), or ``errors`` (v2), and ``_server_messages``."""
    if not isinstance(body, dict):
        return ""
    if body.get("exception"):
        return str(body["exception"])[:300]
    if isinstance(body.get("errors"), list) and body["errors"]:
        return str(body["errors"][0].get("message") or body["errors"][0].get("type"))[:300]
    return str(body.get("exc_type") or body.get("message") or "")[:300]


class ErpNextAdapter:
    def __init__(self, name: str, base_url: str, token: str, options: dict[str, Any], policy: RetryPolicy) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"token {token}"}
        self.policy = policy
        self.store_doctype = str(options.get("store_doctype", "POS Profile"))
        self.zone = ZoneInfo(str(options.get("time_zone", "UTC")))  # the site's time zone: posting times are local

    def kinds(self) -> tuple[Kind, ...]:
        return ("category", "store", "product", "customer", "sale")

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = ("?" + urlencode({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in params.items()})
                 if params else "")
        return send_json(self.policy, "GET", f"{self.base_url}{path}{query}", self.headers, None, frappe_error)

    def check(self) -> None:
        self._get("/api/method/frappe.auth.get_logged_user")

    def _doctype(self, kind: Kind) -> str:
        return {"category": "Item Group", "store": self.store_doctype, "product": "Item", "customer": "Customer",
                "sale": "Sales Invoice"}[kind]

    def pull(self, kind: Kind, after: Cursor, limit: int) -> Page:
        doctype = self._doctype(kind)
        params: dict[str, Any] = {"fields": FIELDS[doctype], "order_by": "modified asc, name asc",
                                  "limit_start": 0, "limit_page_length": limit}
        filters: list[Any] = [["docstatus", "=", 1]] if kind == "sale" else []
        if after.stamp is not None:  # (modified, name) > (stamp, key): AND-ed filters, OR-ed or_filters
            filters.append(["modified", ">=", after.stamp])
            params["or_filters"] = [["modified", ">", after.stamp], ["name", ">", after.key or ""]]
        if filters:
            params["filters"] = filters
        answer = self._get(f"/api/resource/{quote(doctype)}", params)
        rows = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            raise BadValue("data", f"{doctype} list answered without a data list")
        records: list[Record] = []
        rejected: list[Rejected] = []
        for row in rows:
            name = row.get("name") if isinstance(row, dict) else None
            try:
                if not isinstance(name, str) or not name:
                    raise BadValue("name", "a document without a name")
                version = values.stamp_version(row.get("modified"), "modified")
                data = self._sale(name) if kind == "sale" else self._map(kind, row)
                records.append(Record(kind, name, version, data))
            except BadValue as exc:
                rejected.append(Rejected(kind, name if isinstance(name, str) else None, exc.field, exc.message))
        last = next((r for r in reversed(rows) if isinstance(r, dict) and isinstance(r.get("modified"), str)
                     and isinstance(r.get("name"), str)), None)
        cursor = Cursor(last["modified"], last["name"]) if last else after
        return Page(records, rejected, cursor, more=len(rows) >= limit)

    def _map(self, kind: Kind, row: dict[str, Any]) -> dict[str, Any]:
        if kind == "category":
            parent = values.text(row.get("parent_item_group"))
            return {"code": values.code(row["name"], "name"),
                    "name": values.text(row.get("item_group_name")) or row["name"],
                    "parent": values.code(parent, "parent_item_group") if parent else None}
        if kind == "store":
            store: dict[str, Any] = {"code": values.code(row["name"], "name"),
                                     "name": values.text(row.get("warehouse_name")) or row["name"],
                                     "status": "closed" if row.get("disabled") else "open"}
            if values.text(row.get("currency")):
                store["currency"] = row["currency"]
            return store
        if kind == "product":
            group = values.text(row.get("item_group"))
            return {"sku": values.code(row.get("item_code") or row["name"], "item_code"),
                    "name": values.text(row.get("item_name")) or row["name"],
                    "category": values.code(group, "item_group") if group else None,
                    "brand": values.text(row.get("brand")),
                    "unit_price": values.price(row.get("standard_rate") or 0, "standard_rate")}
        phone = values.text(row.get("mobile_no"))
        if phone is None:
            raise BadValue("mobile_no", "a customer without a mobile number (members are keyed by phone)")
        customer = {"external_id": values.code(row["name"], "name"),
                    "name": values.text(row.get("customer_name")) or row["name"], "phone": phone}
        if values.text(row.get("email_id")):
            customer["email"] = row["email_id"]
        return customer

    def _sale(self, name: str) -> dict[str, Any]:
        answer = self._get(f"/api/resource/Sales%20Invoice/{quote(name)}")
        doc = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(doc, dict):
            raise BadValue("data", "the invoice answered without its document")
        where = doc.get("pos_profile") if self.store_doctype == "POS Profile" else doc.get("set_warehouse")
        if not values.text(where):
            raise BadValue("pos_profile" if self.store_doctype == "POS Profile" else "set_warehouse",
                           "an invoice without its store")
        day = values.text(doc.get("posting_date"))
        if day is None:
            raise BadValue("posting_date", "missing")
        at = values.parse_stamp(f"{day} {values.text(doc.get('posting_time')) or '00:00:00'}", "posting_time")
        items = doc.get("items")
        if not isinstance(items, list):
            items = []
        lines = [{"sku": values.code(i.get("item_code"), f"items.{n}.item_code"),
                  "quantity": str(values.decimal(i.get("qty"), f"items.{n}.qty")),
                  "amount_cents": values.cents(i.get("amount"), f"items.{n}.amount")} for n, i in enumerate(items)]
        return {"store": values.code(where, "pos_profile"), "transaction_id": name,
                "occurred_at": datetime(at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond,
                                        tzinfo=self.zone).isoformat(),
                "day": day, "amount_cents": values.cents(doc.get("grand_total"), "grand_total"),
                "member_ref": f"{self.name}:{doc['customer']}" if values.text(doc.get("customer")) else None,
                "lines": lines}

    # -- outbound: found by our external id before anything is created ---------------------------------
    def _send(self, method: str, path: str, body: dict[str, Any], once: bool = False) -> Any:
        policy = replace(self.policy, attempts=1) if once else self.policy  # an insert is never retried blind
        return send_json(policy, method, f"{self.base_url}{path}", self.headers, body, frappe_error)

    def _finder(self, doctype: str, filters: list[Any]) -> Callable[[], str | None]:
        def find() -> str | None:
            rows = self._get(f"/api/resource/{quote(doctype)}", {"fields": ["name"], "filters": filters,
                                                                  "limit_page_length": 1}).get("data") or []
            return str(rows[0]["name"]) if rows else None
        return find

    def push(self, kind: PushKind, external_id: str, data: dict[str, Any]) -> str:
        if kind == "customer":
            doc = {"customer_name": data["name"], "customer_type": "Individual", MEMBER_FIELD: external_id}
            find = self._finder("Customer", [[MEMBER_FIELD, "=", external_id]])
            known = find()
            if known is not None:
                self._send("PUT", f"/api/resource/Customer/{quote(known)}", doc)
                return known
            return find_or_create(find, lambda: self._name(self._send("POST", "/api/resource/Customer", doc, True)),
                                  self.policy.attempts)
        if not data.get("journal"):
            raise AdapterError("a journal push to ERPNext needs options.journal (the company)")
        accounts = [{"account": line.account, "debit_in_account_currency": str(line.debit),
                     "credit_in_account_currency": str(line.credit), "user_remark": line.label}
                    for line in data["lines"]]
        entry = {"voucher_type": "Journal Entry", "company": data["journal"], "posting_date": data["date"],
                 "cheque_no": external_id, "cheque_date": data["date"], "user_remark": data["label"],
                 "accounts": accounts, "docstatus": 1}
        # a day's entry is written once (a cancelled one, docstatus 2, does not count)
        return find_or_create(self._finder("Journal Entry", [["cheque_no", "=", external_id], ["docstatus", "!=", 2]]),
                              lambda: self._name(self._send("POST", f"/api/resource/{quote('Journal Entry')}", entry,
                                                            True)), self.policy.attempts)

    @staticmethod
    def _name(answer: Any) -> str:
        doc = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(doc, dict) or not doc.get("name"):
            raise AdapterError("ERPNext answered the insert without the document's name")
        return str(doc["name"])
