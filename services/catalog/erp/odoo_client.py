"""Odoo's two external APIs, one call shape (``call(model, method, **named)``), chosen per connection:

- JSON-2 (Odoo 19+): ``POST /json/2/<model>/<method>`` with a JSON object of named arguments,
  ``Authorization: bearer <api key>``, ``X-Odoo-Database``; errors are 4xx/5xx with
  ``{name, message, arguments, context, debug}``.
- XML-RPC (Odoo 16-18): ``/xmlrpc/2/common`` ``authenticate(db, login, key, {})`` gives the uid (``False``
  when refused), then ``/xmlrpc/2/object`` ``execute_kw(db, uid, key, model, method, args, kwargs)``;
  errors are Faults (3: access denied, 4: access error, 2: user error, 1: anything else)."""
from __future__ import annotations

import http.client
import xmlrpc.client
from dataclasses import replace
from typing import Any, Protocol
from xml.parsers.expat import ExpatError

from services.catalog.erp.http import RetryPolicy, Transient, retry_after, retrying, send_json
from services.catalog.erp.interface import AdapterError, AuthFailed

FAULT_ACCESS_DENIED = 3
FAULT_ACCESS_ERROR = 4


class OdooClient(Protocol):
    policy: RetryPolicy

    def call(self, model: str, method: str, **named: Any) -> Any: ...

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> Any: ...

    def check(self) -> None: ...


def _json2_error(status: int, body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("name") or "")
    return ""


class Json2Client:
    def __init__(self, base_url: str, database: str | None, api_key: str, policy: RetryPolicy) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"bearer {api_key}"}
        if database:
            self.headers["X-Odoo-Database"] = database
        self.policy = policy

    def call(self, model: str, method: str, **named: Any) -> Any:
        return send_json(self.policy, "POST", f"{self.base_url}/json/2/{model}/{method}", self.headers, named,
                         _json2_error)

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> Any:
        """Sent once: a retry after a lost answer could create twice (outbound.find_or_create looks first)."""
        return send_json(replace(self.policy, attempts=1), "POST", f"{self.base_url}/json/2/{model}/create",
                         self.headers, {"vals_list": vals_list}, _json2_error)

    def check(self) -> None:
        self.call("res.users", "search_read", domain=[], fields=["id"], limit=1)


def _transport(url: str, timeout: float) -> xmlrpc.client.Transport:
    """xmlrpc's transport with a timeout on its connections (the stdlib one waits for ever)."""
    transport = xmlrpc.client.SafeTransport() if url.startswith("https:") else xmlrpc.client.Transport()
    plain = transport.make_connection

    def make_connection(host: Any) -> http.client.HTTPConnection:
        connection = plain(host)
        connection.timeout = timeout
        return connection

    transport.make_connection = make_connection  # type: ignore[method-assign]
    return transport


class XmlRpcClient:
    def __init__(self, base_url: str, database: str | None, login: str | None, api_key: str,
                 policy: RetryPolicy) -> None:
        if not database or not login:
            raise AdapterError("an XML-RPC connection needs its database and username")
        self.base_url = base_url.rstrip("/")
        self.database, self.login, self.key = database, login, api_key
        self.policy = policy
        self._uid: int | None = None

    def _proxy(self, endpoint: str) -> xmlrpc.client.ServerProxy:
        url = f"{self.base_url}/xmlrpc/2/{endpoint}"
        return xmlrpc.client.ServerProxy(url, transport=_transport(url, self.policy.timeout), allow_none=True)

    def _once(self, endpoint: str, method: str, *args: Any) -> Any:
        try:
            return getattr(self._proxy(endpoint), method)(*args)
        except xmlrpc.client.Fault as fault:
            message = str(fault.faultString).strip().splitlines()[-1][:300] if fault.faultString else ""
            if fault.faultCode in (FAULT_ACCESS_DENIED, FAULT_ACCESS_ERROR) or "AccessDenied" in str(fault.faultCode):
                raise AuthFailed(f"Odoo refused the credentials: {message or 'Access Denied'}") from None
            raise AdapterError(f"Odoo fault {fault.faultCode}: {message}") from None
        except xmlrpc.client.ProtocolError as exc:
            if exc.errcode in (429, 503):
                raise Transient(f"HTTP {exc.errcode}", retry_after(exc.headers.get("Retry-After"))) from None
            if exc.errcode >= 500:
                raise Transient(f"HTTP {exc.errcode}: {exc.errmsg}") from None
            if exc.errcode in (401, 403):
                raise AuthFailed(f"credentials refused (HTTP {exc.errcode})") from None
            raise AdapterError(f"HTTP {exc.errcode}: {exc.errmsg}") from None
        except (http.client.HTTPException, OSError, xmlrpc.client.ResponseError, ExpatError) as exc:  # drops
            raise Transient(f"{endpoint}.{method}: {exc.__class__.__name__}: {exc}") from None

    def _rpc(self, endpoint: str, method: str, *args: Any) -> Any:
        return retrying(self.policy, lambda: self._once(endpoint, method, *args))

    def uid(self) -> int:
        if self._uid is None:
            uid = self._rpc("common", "authenticate", self.database, self.login, self.key, {})
            if not uid:
                raise AuthFailed(f"Odoo refused the login {self.login!r} on database {self.database!r}")
            self._uid = int(uid)
        return self._uid

    def call(self, model: str, method: str, **named: Any) -> Any:
        """JSON-2's named arguments as execute_kw's: the records (``ids``) or a search's domain go first."""
        if "ids" in named:
            args: list[Any] = [named.pop("ids")]
        elif method.startswith("search"):
            args = [named.pop("domain", [])]
        else:
            args = []
        return self._rpc("object", "execute_kw", self.database, self.uid(), self.key, model, method, args, named)

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> Any:
        """Sent once (see Json2Client.create)."""
        uid = self.uid()
        return retrying(replace(self.policy, attempts=1), lambda: self._once(
            "object", "execute_kw", self.database, uid, self.key, model, "create", [vals_list], {}))

    def check(self) -> None:
        self._uid = None
        self.uid()
