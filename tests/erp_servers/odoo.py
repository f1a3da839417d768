"""A local Odoo speaking its two external APIs as Odoo's documentation describes them:

- JSON-2 (19.0+): ``POST /json/2/<model>/<method>``, ``Authorization: bearer <key>``, ``X-Odoo-Database``,
  a JSON object of named arguments; errors are 4xx/5xx with ``{name, message, arguments, context, debug}``
  (401 ``werkzeug.exceptions.Unauthorized`` "Invalid apikey").
- XML-RPC (16-18): ``/xmlrpc/2/common`` ``authenticate(db, login, password, {})`` -> uid or False;
  ``/xmlrpc/2/object`` ``execute_kw(db, uid, password, model, method, args, kwargs)``; a wrong password is
  Fault 3 "Access Denied".

``search_read`` takes domain, fields, offset, limit, order; records with ``active`` are hidden unless the
context says ``active_test: false``; many2one fields read as ``[id, display_name]``."""
from __future__ import annotations

import json
import xmlrpc.client
from typing import Any

from tests.erp_servers.base import Answer, FaultyServer
from tests.erp_servers.records import Table, odoo_match

MODELS = ("res.users", "res.partner", "product.category", "product.product", "pos.config", "stock.warehouse",
          "pos.order", "pos.order.line", "account.move")
WRITES = ("create", "write")


class OdooError(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


class OdooServer(FaultyServer):
    def __init__(self, database: str = "chain", login: str = "sync-bot", api_key: str = "odoo-test-key") -> None:
        self.database, self.login, self.api_key, self.uid = database, login, api_key, 7
        self.tables = {model: Table("id", "write_date", micro=False) for model in MODELS}
        self.tables["res.users"].put({"id": self.uid, "login": login, "name": "Sync bot"})
        self.lose_create_answers = 0  # creates that are done but whose answer never arrives
        super().__init__()

    def put(self, model: str, row: dict[str, Any], at: Any = None) -> dict[str, Any]:
        return self.tables[model].put(row, at)

    # -- the ORM call both APIs reach ---------------------------------------------------------------
    def search_read(self, model: str, domain: list[Any] | None = None, fields: list[str] | None = None,
                    offset: int = 0, limit: int | None = None, order: str | None = None,
                    context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if model not in self.tables:
            raise OdooError(404, "werkzeug.exceptions.NotFound", f"no model {model}")
        active_test = (context or {}).get("active_test", True)
        rows = self.tables[model].query(
            lambda r: odoo_match(r, domain or []) and (not active_test or r.get("active", True)),
            order or "id asc", offset, limit)
        return [{k: v for k, v in r.items() if not fields or k in fields or k == "id"} for r in rows]

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> list[int]:
        """``create`` takes a list of values and answers the new ids (Odoo 17+); ``line_ids`` commands
        ``[0, 0, vals]`` are kept on the record."""
        table = self._table(model)
        with table.lock:
            start = max(table.rows, default=0) + 1
        ids = list(range(start, start + len(vals_list)))
        for new_id, vals in zip(ids, vals_list, strict=True):
            table.put({**vals, "id": new_id})
        return ids

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> bool:
        for record in ids:
            if record not in self._table(model).rows:
                raise OdooError(404, "odoo.exceptions.MissingError", f"Record does not exist ({model}({record},))")
            self._table(model).put({**vals, "id": record})
        return True

    def _table(self, model: str) -> Table:
        if model not in self.tables:
            raise OdooError(404, "werkzeug.exceptions.NotFound", f"no model {model}")
        return self.tables[model]

    def orm(self, model: str, method: str, args: list[Any], named: dict[str, Any]) -> Any:
        if method == "search_read":
            return self.search_read(model, *args, **named)
        if method == "create":
            return self.create(model, *args, **named)
        if method == "write":
            return self.write(model, *args, **named)
        raise OdooError(404, "werkzeug.exceptions.NotFound", f"method {method} not offered here")

    def data(self, method: str, path: str, body: bytes) -> bool:
        if path.startswith("/json/2/"):
            return not path.startswith("/json/2/res.users/")
        return path == "/xmlrpc/2/object" and b"res.users" not in body

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path.startswith("/xmlrpc/2/"):
            return self._xmlrpc(path.rsplit("/", 1)[-1], body)
        if not path.startswith("/json/2/") or method != "POST":
            return 404, {"Content-Type": "text/html"}, b"<h1>Not Found</h1>"
        try:
            return self._json2(path, headers, body)
        except OdooError as exc:
            error = {"name": exc.name, "message": exc.message, "arguments": [exc.message, exc.status],
                     "context": {}, "debug": f"Traceback (most recent call last):\n{exc.name}: {exc.message}\n"}
            return exc.status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(error).encode()

    def _json2(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth.split(" ", 1)[0].lower() != "bearer" or auth.split(" ", 1)[-1] != self.api_key:
            raise OdooError(401, "werkzeug.exceptions.Unauthorized", "Invalid apikey")
        database = {k.lower(): v for k, v in headers.items()}.get("x-odoo-database")
        if database is not None and database != self.database:
            raise OdooError(404, "werkzeug.exceptions.NotFound", f"database {database!r} not found")
        model, _, method = path[len("/json/2/"):].partition("/")
        try:
            named = json.loads(body or b"{}")
            result = self.orm(model, method, [], named)
        except (TypeError, ValueError, KeyError) as exc:
            raise OdooError(422, "werkzeug.exceptions.UnprocessableEntity", str(exc)) from None
        return self._maybe_lost(method, json.dumps(result).encode(),
                                {"Content-Type": "application/json; charset=utf-8"})

    def _maybe_lost(self, method: str, payload: bytes, headers: dict[str, str]) -> Answer:
        if method == "create" and self.lose_create_answers > 0:
            self.lose_create_answers -= 1
            return -1, headers, payload  # done here, cut short on the way back
        return 200, headers, payload

    def _xmlrpc(self, service: str, body: bytes) -> Answer:
        params, method = xmlrpc.client.loads(body)
        try:
            if service == "common" and method == "authenticate":
                database, login, password, _env = params
                ok = database == self.database and login == self.login and password == self.api_key
                result: Any = self.uid if ok else False
            elif service == "object" and method == "execute_kw":
                database, uid, password, model, orm_method, args, kwargs = (*params, {})[:7]
                if database != self.database or uid != self.uid or password != self.api_key:
                    raise xmlrpc.client.Fault(3, "Access Denied")
                result = self.orm(model, orm_method, list(args), dict(kwargs))
            else:
                raise xmlrpc.client.Fault(1, f"unknown {service}.{method}")
            payload = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
        except xmlrpc.client.Fault as fault:
            payload = xmlrpc.client.dumps(fault, methodresponse=True)
        except OdooError as exc:
            payload = xmlrpc.client.dumps(xmlrpc.client.Fault(1, exc.message), methodresponse=True)
        method_called = params[4] if service == "object" and len(params) > 4 else ""
        return self._maybe_lost(str(method_called), payload.encode(), {"Content-Type": "text/xml"})
