"""A local Kingdee K/3 Cloud speaking its WebAPI as Kingdee's WebAPI manual and SDKs describe it:

- ``POST /k3cloud/Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser.common.kdsvc`` (parameters:
  data centre id, user, password, lcid) and ``...AuthService.LoginByAppSecret.common.kdsvc`` (data centre,
  user, app id, app secret, lcid): ``{"LoginResultType": 1, "KDSVCSessionId", "Context", "Message"}`` and
  the session cookies ``kdservice-sessionid`` and ``ASP.NET_SessionId``; refused: ``LoginResultType`` 0
  (wrong password) or -1, with a ``Message``, still HTTP 200.
- ``...DynamicFormService.ExecuteBillQuery.common.kdsvc`` ``{"data": {FormId, FieldKeys, FilterString,
  OrderString, StartRow, Limit}}``: rows as lists in FieldKeys order; asking an entry's field flattens a
  bill into one row per entry. Errors are HTTP 200 ``[[{"Result": {"ResponseStatus": {...}}}]]``; a call
  without a live session is MsgCode 1 "会话信息已丢失，请重新登录".
- ``...DynamicFormService.Save.common.kdsvc`` ``{"formid", "data": {"Model"}}``: an id of 0 (or none)
  creates, an existing id updates; a duplicate FNumber is refused, as K/3 Cloud's uniqueness rule does; a
  voucher (GL_VOUCHER, entries in ``FEntity``) needs its account book and balanced debits and credits."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.erp_servers.base import Answer, FaultyServer
from tests.erp_servers.kingdee_filter import FilterError, Parser
from tests.erp_servers.records import Table, ordered

STUB = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub."
JSON = {"Content-Type": "application/json; charset=utf-8"}
ID_FIELDS = {"SAL_MATERIALGROUP": "FID", "ORG_Organizations": "FOrgID", "BD_STOCK": "FStockId",
             "BD_MATERIAL": "FMATERIALID", "BD_Customer": "FCUSTID", "SAL_OUTSTOCK": "FID",
             "BD_SAL_PriceList": "FEntryID", "GL_VOUCHER": "FVOUCHERID"}
VOUCHER_ENTRY = {"FEXPLANATION", "FACCOUNTID", "FCURRENCYID", "FEXCHANGERATE", "FAMOUNTFOR", "FDEBIT", "FCREDIT",
                 "FBUSNO"}  # a voucher's entry fields, known before any voucher exists
COMMON = ("FNumber", "FName", "FModifyDate", "FDocumentStatus", "FForbidStatus")  # every form has these
SESSION_LOST = "会话信息已丢失，请重新登录"


class KingdeeTable(Table):
    """K/3 Cloud stamps FModifyDate in the server's local time, to the millisecond, and answers it ISO."""

    def stamp(self, at: datetime | None = None) -> str:
        at = at or datetime.now()
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


def status(message: str, code: int = 0, error_code: int = 500) -> dict[str, Any]:
    return {"Result": {"ResponseStatus": {"ErrorCode": error_code, "IsSuccess": False, "Errors": [
        {"FieldName": None, "Message": message, "DIndex": 0}], "SuccessEntitys": [], "SuccessMessages": [],
        "MsgCode": code}}}


def voucher_refusal(model: dict[str, Any]) -> str | None:
    """What K/3 Cloud's voucher save checks first: an account book, entries with accounts, debits = credits."""
    entries = model.get("FEntity") or []
    if not (model.get("FAccountBookID") or {}).get("FNumber"):
        return "账簿 字段是必填项"
    if not entries or any(not (e.get("FACCOUNTID") or {}).get("FNumber") for e in entries):
        return "科目编码 字段是必填项"
    debit = sum(Decimal(str(e.get("FDEBIT") or 0)) for e in entries)
    if debit != sum(Decimal(str(e.get("FCREDIT") or 0)) for e in entries) or debit == 0:
        return "凭证借贷不平衡"
    return None


class KingdeeServer(FaultyServer):
    def __init__(self, data_centre: str = "5f0c1d2e3a4b5c", user: str = "sync", password: str = "kd-pass",
                 app_id: str = "231213_kd-app", app_secret: str = "kd-app-secret") -> None:
        self.data_centre, self.user, self.password = data_centre, user, password
        self.app_id, self.app_secret = app_id, app_secret
        self.tables = {form: KingdeeTable(key, "FModifyDate", micro=False) for form, key in ID_FIELDS.items()}
        self.sessions: set[str] = set()
        self.logins = 0
        self.saves: list[dict[str, Any]] = []
        self.drop_save_answers = 0  # a save that is done but whose answer is lost on the way back
        self._ids = 100000
        self._lose_after: int | None = None
        self._lock = threading.Lock()
        super().__init__()

    def put(self, form: str, row: dict[str, Any], at: Any = None) -> dict[str, Any]:
        stored = self.tables[form].put(row, at)
        if form == "SAL_MATERIALGROUP":  # groups carry no modification date
            stored.pop("FModifyDate", None)
        return stored

    def lose_sessions_after(self, queries: int) -> None:
        """After that many more queries every session is forgotten (an expiry or a restart of the server)."""
        self._lose_after = queries

    def data(self, method: str, path: str, body: bytes) -> bool:
        return path.endswith("ExecuteBillQuery.common.kdsvc") and b"BD_SAL_PriceList" not in body

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "POST" or not path.startswith(STUB):
            return 404, {"Content-Type": "text/html"}, b"<h1>404</h1>"
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 200, JSON, json.dumps(status("请求数据格式错误")).encode()
        service = path[len(STUB):].removesuffix(".common.kdsvc")
        if service in ("AuthService.ValidateUser", "AuthService.LoginByAppSecret"):
            return self._login(service, request)
        cookies = {k.strip(): v for k, _, v in (c.partition("=") for c in
                   {k.lower(): v for k, v in headers.items()}.get("cookie", "").split(";"))}
        if self._lose_after is not None and service.endswith("ExecuteBillQuery"):
            self._lose_after -= 1
            if self._lose_after < 0:
                self.sessions.clear()
                self._lose_after = None
        if cookies.get("kdservice-sessionid") not in self.sessions:
            lost = status(SESSION_LOST, code=1)
            return 200, JSON, json.dumps([[lost]] if service.endswith("ExecuteBillQuery") else lost).encode()
        if service == "DynamicFormService.ExecuteBillQuery":
            return self._query(request.get("data") or {})
        if service == "DynamicFormService.Save":
            return self._save(str(request.get("formid")), (request.get("data") or {}).get("Model") or {})
        return 200, JSON, json.dumps(status(f"不支持的服务 {service}")).encode()

    def _login(self, service: str, request: dict[str, Any]) -> Answer:
        params = request.get("parameters") or []
        self.logins += 1
        if service.endswith("ValidateUser"):
            ok = params[:3] == [self.data_centre, self.user, self.password]
        else:
            ok = params[:4] == [self.data_centre, self.user, self.app_id, self.app_secret]
        if params[:1] != [self.data_centre]:
            answer = {"LoginResultType": -1, "Message": "数据中心不存在", "KDSVCSessionId": None}
            return 200, JSON, json.dumps(answer).encode()
        if not ok:
            answer = {"LoginResultType": 0, "Message": "用户名或密码错误！", "KDSVCSessionId": None}
            return 200, JSON, json.dumps(answer).encode()
        session = uuid.uuid4().hex
        self.sessions.add(session)
        answer = {"Message": None, "MessageCode": "CheckPasswordPolicy", "LoginResultType": 1,
                  "Context": {"UserName": self.user, "DBid": self.data_centre, "SessionId": session},
                  "KDSVCSessionId": session, "IsSuccessByAPI": True}
        headers = {**JSON, "Set-Cookie": f"kdservice-sessionid={session}; path=/"}
        return 200, headers, json.dumps(answer).encode()

    def _query(self, data: dict[str, Any]) -> Answer:
        form = str(data.get("FormId"))
        table = self.tables.get(form)
        if table is None:
            return 200, JSON, json.dumps([[status(f"业务对象 {form} 不存在")]]).encode()
        fields = [f.strip() for f in str(data.get("FieldKeys") or "").split(",") if f.strip()]
        with table.lock:
            headers = [dict(r) for r in table.rows.values()]
        known = {k for r in headers for k in r if k != "entries"} | {ID_FIELDS[form], *COMMON}
        entry_fields = {k for r in headers for e in r.get("entries", []) for k in e}
        entry_fields |= VOUCHER_ENTRY if form == "GL_VOUCHER" else set()
        try:
            unknown = set(fields) - known - entry_fields
            if unknown:
                raise FilterError(f"字段 {sorted(unknown)[0]} 不存在 (invalid field key)")
            where = str(data.get("FilterString") or "")
            if set(fields) - known or any(f in where for f in entry_fields):  # an entry's field: a row per entry
                headers = [{**r, **e} for r in headers for e in r.get("entries", [])]
            match = Parser(where, known | entry_fields).parse()
            rows = ordered([r for r in headers if match(r)], str(data.get("OrderString") or f"{ID_FIELDS[form]} ASC"))
        except FilterError as exc:
            return 200, JSON, json.dumps([[status(str(exc))]]).encode()
        start, limit = int(data.get("StartRow") or 0), int(data.get("Limit") or 0)
        rows = rows[start:start + limit] if limit else rows[start:]
        return 200, JSON, json.dumps([[r.get(f) for f in fields] for r in rows], ensure_ascii=False).encode()

    def _save(self, form: str, model: dict[str, Any]) -> Answer:
        table = self.tables.get(form)
        if table is None:
            return 200, JSON, json.dumps(status(f"业务对象 {form} 不存在")).encode()
        key = ID_FIELDS[form]
        if form == "GL_VOUCHER":
            refused = voucher_refusal(model)
            if refused:
                return 200, JSON, json.dumps(status(refused)).encode()
            model = {**{k: v for k, v in model.items() if k != "FEntity"}, "entries": model["FEntity"]}
        with self._lock:
            given = int(model.get(key) or 0)
            number = model.get("FNumber") or model.get("FBillNo")
            same = [r for r in table.rows.values() if number and (r.get("FNumber") or r.get("FBillNo")) == number]
            if given == 0 and same:
                return 200, JSON, json.dumps(status(f"编码 {number} 已存在，不能重复", code=11)).encode()
            if given and given not in table.rows:
                return 200, JSON, json.dumps(status(f"{key}={given} 的数据不存在")).encode()
            if not given:
                self._ids += 1
                given = self._ids
            stored = self.put(form, {**model, key: given, "FDocumentStatus": model.get("FDocumentStatus", "A")})
            self.saves.append({"form": form, **stored})
            drop = self.drop_save_answers > 0
            self.drop_save_answers -= 1 if drop else 0
        answer = {"Result": {"ResponseStatus": {"ErrorCode": 0, "IsSuccess": True, "Errors": [], "SuccessEntitys": [
            {"Id": given, "Number": number, "DIndex": 0}], "SuccessMessages": [], "MsgCode": 0},
            "Id": given, "Number": number, "NeedReturnData": [{}]}}
        return (-1 if drop else 200), JSON, json.dumps(answer, ensure_ascii=False).encode()
