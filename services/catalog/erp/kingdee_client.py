"""Kingdee K/3 Cloud (金蝶云星空) WebAPI: JSON POSTs to ``<base>/<Service>.<Method>.common.kdsvc``.

- Login, once per adapter: ``Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser`` (data centre id,
  user, password, lcid) or ``...AuthService.LoginByAppSecret`` (data centre id, user, app id, app secret,
  lcid), with ``parameters`` as a list. The answer's ``LoginResultType`` is 1 when it worked (0: wrong
  password, -1: refused) and the session travels as the cookie it sets (``kdservice-sessionid``).
- ``...DynamicFormService.ExecuteBillQuery`` with ``{"data": {FormId, FieldKeys (comma separated),
  FilterString, OrderString, TopRowCount, StartRow, Limit}}`` answers rows as lists of values in
  FieldKeys order; ``...DynamicFormService.Save`` with ``{"formid", "data": {"Model": {...}}}``.
- Errors come back as HTTP 200 with ``{"Result": {"ResponseStatus": {IsSuccess: false, Errors: [{Message}],
  MsgCode}}}`` (nested in ``[[...]]`` for a query). MsgCode 1 is a lost session: log in again, once."""
from __future__ import annotations

from dataclasses import replace
from email.message import Message
from typing import Any

from services.catalog.erp.http import RetryPolicy, exchange
from services.catalog.erp.interface import AdapterError, AuthFailed

STUB = "Kingdee.BOS.WebApi.ServicesStub"
VALIDATE_USER = f"{STUB}.AuthService.ValidateUser.common.kdsvc"
LOGIN_BY_APP_SECRET = f"{STUB}.AuthService.LoginByAppSecret.common.kdsvc"
BILL_QUERY = f"{STUB}.DynamicFormService.ExecuteBillQuery.common.kdsvc"
SAVE = f"{STUB}.DynamicFormService.Save.common.kdsvc"
SESSION_COOKIES = ("kdservice-sessionid", "ASP.NET_SessionId")
MSG_SESSION_LOST = 1


class SessionLost(AdapterError):
    """The server forgot our session (it expired or the server restarted): log in again."""


def status_of(answer: Any) -> dict[str, Any] | None:
    """The ``ResponseStatus`` of an answer that carries one (errors, and every Save), else None."""
    while isinstance(answer, list) and answer:
        answer = answer[0]
    if isinstance(answer, dict) and isinstance(answer.get("Result"), dict):
        status = answer["Result"].get("ResponseStatus")
        return status if isinstance(status, dict) else None
    return None


def failure(status: dict[str, Any]) -> AdapterError:
    errors = status.get("Errors") or []
    message = "; ".join(str(e.get("Message")) for e in errors if isinstance(e, dict)) or "refused"
    if status.get("MsgCode") == MSG_SESSION_LOST:
        return SessionLost(f"Kingdee session lost: {message[:300]}")
    return AdapterError(f"Kingdee refused (MsgCode {status.get('MsgCode')}): {message[:300]}")


def _cookies(headers: Message) -> str:
    jar = {}
    for raw in headers.get_all("Set-Cookie") or []:
        name, _, rest = raw.partition("=")
        if name.strip() in SESSION_COOKIES:
            jar[name.strip()] = rest.split(";", 1)[0]
    return "; ".join(f"{k}={v}" for k, v in jar.items())


class KingdeeClient:
    def __init__(self, base_url: str, data_centre: str | None, user: str | None, secret: str, login: str,
                 lcid: int, policy: RetryPolicy) -> None:
        if not data_centre or not user:
            raise AdapterError("a Kingdee connection needs its data centre id (database) and username")
        self.base_url = base_url.rstrip("/")
        self.data_centre, self.user, self.secret, self.login_kind, self.lcid = data_centre, user, secret, login, lcid
        self.policy = policy
        self.cookie: str | None = None

    def _post(self, service: str, body: Any, once: bool = False) -> tuple[Any, Message]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        policy = replace(self.policy, attempts=1) if once else self.policy  # a save is never retried blind
        return exchange(policy, "POST", f"{self.base_url}/{service}", headers, body, lambda status, _: "")

    def login(self) -> None:
        if self.login_kind == "app_secret":  # the secret holds "<app id>,<app secret>" as Kingdee shows them
            app_id, _, app_secret = self.secret.partition(",")
            service, parameters = LOGIN_BY_APP_SECRET, [self.data_centre, self.user, app_id, app_secret, self.lcid]
        else:
            service, parameters = VALIDATE_USER, [self.data_centre, self.user, self.secret, self.lcid]
        self.cookie = None
        answer, headers = self._post(service, {"format": 1, "useragent": "ApiClient", "parameters": parameters})
        if not isinstance(answer, dict) or answer.get("LoginResultType") != 1:
            said = answer.get("Message") if isinstance(answer, dict) else None
            kind = answer.get("LoginResultType") if isinstance(answer, dict) else None
            raise AuthFailed(f"Kingdee refused the login {self.user!r} on data centre {self.data_centre!r} "
                             f"(LoginResultType {kind}): {said or 'no reason given'}")
        self.cookie = _cookies(headers) or (f"kdservice-sessionid={answer['KDSVCSessionId']}"
                                            if answer.get("KDSVCSessionId") else None)

    def _call(self, service: str, body: Any, once: bool = False) -> Any:
        """A call in our session: logs in first, and once more when the server lost the session."""
        for attempt in (1, 2):
            if self.cookie is None:
                self.login()
            answer, _ = self._post(service, body, once)
            status = status_of(answer)
            if status is None or status.get("IsSuccess", False):
                return answer
            error = failure(status)
            if isinstance(error, SessionLost) and attempt == 1:
                self.cookie = None
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def query(self, form: str, fields: list[str], where: str = "", order: str = "", limit: int = 0) -> list[list[Any]]:
        answer = self._call(BILL_QUERY, {"data": {"FormId": form, "FieldKeys": ",".join(fields), "FilterString": where,
                                                  "OrderString": order, "TopRowCount": 0, "StartRow": 0,
                                                  "Limit": limit, "SubSystemId": ""}})
        if not isinstance(answer, list) or not all(isinstance(r, list) and len(r) == len(fields) for r in answer):
            raise AdapterError(f"{form} query answered something other than rows of {len(fields)} values")
        return answer

    def save(self, form: str, model: dict[str, Any]) -> dict[str, Any]:
        """Save one record (create, or update when the model names its id); answers Result's Id and Number."""
        answer = self._call(SAVE, {"formid": form, "data": {"Model": model, "IsDeleteEntry": "false"}}, once=True)
        result = answer.get("Result") if isinstance(answer, dict) else None
        if not isinstance(result, dict):
            raise AdapterError(f"{form} save answered without a Result")
        return result

    def check(self) -> None:
        self.login()
