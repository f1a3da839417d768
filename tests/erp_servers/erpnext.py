"""A local ERPNext speaking Frappe's REST API as its documentation describes it:

- ``GET /api/resource/<DocType>`` with JSON-encoded ``fields`` (default ``["name"]``), ``filters`` (AND-ed
  ``[field, op, value]``), ``or_filters`` (OR-ed), ``order_by`` (default ``modified desc``), ``limit_start``,
  ``limit_page_length`` (default 20); answers ``{"data": [...]}``.
- ``GET /api/resource/<DocType>/<name>``: the whole document with its child tables, ``{"data": {...}}``.
- ``GET /api/method/frappe.auth.get_logged_user``: ``{"message": <user>}``.
- ``Authorization: token <api_key>:<api_secret>``; refused: 401 with Frappe's error body
  (``exc_type`` ``AuthenticationError``, ``exception``, ``_server_messages``); 403 ``PermissionError``."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.erp_servers.base import Answer, FaultyServer
from tests.erp_servers.records import Table, frappe_match

DOCTYPES = ("Customer", "Item", "Item Group", "Warehouse", "POS Profile", "Sales Invoice", "Journal Entry")
SERIES = {"Customer": "CUST-", "Journal Entry": "ACC-JV-2026-"}
JSON = {"Content-Type": "application/json"}


def _error(status: int, exc_type: str, message: str) -> Answer:
    body = {"exc_type": exc_type, "exception": f"frappe.exceptions.{exc_type}: {message}",
            "_server_messages": json.dumps([json.dumps({"message": message})])}
    return status, JSON, json.dumps(body).encode()


class ErpNextServer(FaultyServer):
    def __init__(self, api_key: str = "k-test", api_secret: str = "s-test", user: str = "sync@example.com") -> None:
        self.token, self.user = f"{api_key}:{api_secret}", user
        self.tables = {d: Table("name", "modified", micro=True) for d in DOCTYPES}
        self.forbidden: set[str] = set()
        self.lose_insert_answers = 0  # inserts that are done but whose answer never arrives
        super().__init__()

    def put(self, doctype: str, doc: dict[str, Any], at: Any = None) -> dict[str, Any]:
        return self.tables[doctype].put({"docstatus": 0, **doc}, at)

    def data(self, method: str, path: str, body: bytes) -> bool:
        return path.startswith("/api/resource/")

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "token" or token != self.token:
            return _error(401, "AuthenticationError", "Invalid API key or secret")
        parts = urlsplit(path)
        if parts.path == "/api/method/frappe.auth.get_logged_user":
            return 200, JSON, json.dumps({"message": self.user}).encode()
        if not parts.path.startswith("/api/resource/"):
            return _error(404, "DoesNotExistError", "Not found")
        doctype, _, name = unquote(parts.path[len("/api/resource/"):]).partition("/")
        if doctype not in self.tables:
            return _error(404, "DoesNotExistError", f"DocType {doctype} not found")
        if doctype in self.forbidden:
            return _error(403, "PermissionError", f"No permission for {doctype}")
        if method in ("POST", "PUT"):
            return self._write(method, doctype, name, json.loads(body or b"{}"))
        if name:
            doc = self.tables[doctype].rows.get(name)
            if doc is None:
                return _error(404, "DoesNotExistError", f"{doctype} {name} not found")
            return 200, JSON, json.dumps({"data": doc}).encode()
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            fields = json.loads(query.get("fields", '["name"]'))
            filters = json.loads(query.get("filters", "[]"))
            or_filters = json.loads(query.get("or_filters", "[]"))
            start, length = int(query.get("limit_start", 0)), int(query.get("limit_page_length", 20))
        except ValueError as exc:
            return _error(417, "ValidationError", str(exc))
        if isinstance(filters, dict):
            filters = [[k, "=", v] for k, v in filters.items()]
        rows = self.tables[doctype].query(lambda r: frappe_match(r, filters, or_filters),
                                          query.get("order_by", "modified desc"), start, length or None)
        wanted = None if fields == ["*"] else set(fields)
        data = [{k: v for k, v in r.items() if (wanted is None and not isinstance(v, list)) or (wanted and k in wanted)}
                for r in rows]
        return 200, JSON, json.dumps({"data": data}).encode()

    def _write(self, method: str, doctype: str, name: str, doc: dict[str, Any]) -> Answer:
        """POST inserts (the name from the DocType's naming series), PUT updates a document by name."""
        table = self.tables[doctype]
        if name and name not in table.rows:
            return _error(404, "DoesNotExistError", f"{doctype} {name} not found")
        if not name:
            with table.lock:
                name = f"{SERIES.get(doctype, doctype + '-')}{len(table.rows) + 1:05d}"
        stored = self.put(doctype, {**doc, "name": name})
        payload = json.dumps({"data": stored}).encode()
        if method == "POST" and self.lose_insert_answers > 0:
            self.lose_insert_answers -= 1
            return -1, JSON, payload  # done here, cut short on the way back
        return 200, JSON, payload
