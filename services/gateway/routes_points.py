"""/v1/points and /v1/members/{id}/points: sales, refunds, offline batches, holds, the ledger,
adjustments, activities, the program, bonus rules, reports and jobs.

Each route checks who may call it and for which store or member, then makes one RPC to the
points service and relays its answer (the service checks the caller again itself).
"""
from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.points import (
    Account,
    ActivityKind,
    ActivityResult,
    Adjustment,
    AdjustResult,
    BatchResult,
    BonusRule,
    BonusRuleOut,
    Code,
    DailyReport,
    Hold,
    HoldRequest,
    JobResult,
    LedgerEntry,
    LiabilityRow,
    ProgramVersion,
    Refund,
    RefundItem,
    RefundResult,
    Sale,
    SaleResult,
    SetProgram,
    SettlementRow,
    _MemberRef,
)
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, make_cursor, page_params
from services.gateway.rpc import RemoteError
from services.gateway.security.policy import allow, deny, require_store
from services.gateway.security.principal import Principal
from services.gateway.validation import exactly_one, iso, named, query_time, utc

router = APIRouter(tags=["points"])

AT_THE_TILL = ("clerk", "manager", "admin")  # staff at a counter; POS keys need points:write as well
READERS = ("clerk", "manager", "admin", "marketer", "auditor")
PROGRAM_READERS = ("admin", "marketer", "manager", "auditor")
JOB_TIMEOUT = 300.0  # jobs walk every account
REPORT_TIMEOUT = BATCH_TIMEOUT = 60.0

PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
_REPLAYED = {200: {"description": "Replayed: the first answer for this idempotency key, `replayed` true"}}


# ---- bodies: the contracts as they are, with every refusal naming its field --------------------------------
class _SaleChecks(Sale):
    _utc = field_validator("sold_at")(utc)

    @model_validator(mode="after")
    def _consistent(self) -> _SaleChecks:
        return named(Sale._consistent, self, "discounts", "amount")


class SaleBody(_SaleChecks):
    """A sale at a till (points.record_sale); the member by id, card number or phone."""

    member_phone: str | None = Field(default=None, min_length=1, max_length=32,
                                     description="Instead of member_id or member_number: the member's phone")

    @model_validator(mode="after")
    def _one_member(self) -> SaleBody:
        return exactly_one(self, "member_id", "member_number", "member_phone")


class SaleItemBody(_SaleChecks):
    """An upload's sale: as a single sale, the member by id, card number or phone."""

    kind: Literal["sale"]
    member_phone: str | None = Field(default=None, min_length=1, max_length=32,
                                     description="Instead of member_id or member_number: the member's phone")

    @model_validator(mode="after")
    def _one_member(self) -> SaleItemBody:
        return exactly_one(self, "member_id", "member_number", "member_phone")


class RefundBody(Refund):
    _utc = field_validator("refunded_at")(utc)


class RefundItemBody(RefundItem):
    _utc = field_validator("refunded_at")(utc)


BatchItem = Annotated[SaleItemBody | RefundItemBody, Field(discriminator="kind")]
_BATCH_ITEM: TypeAdapter[SaleItemBody | RefundItemBody] = TypeAdapter(BatchItem)


class BatchBody(BaseModel):
    """An offline upload (points.record_batch): sales and refunds in any order. Each item is
    checked on its own (documented as below, validated by the route): a bad item is that item's
    answer, not the upload's."""

    model_config = ConfigDict(extra="forbid")
    items: list[SkipValidation[BatchItem]] = Field(min_length=1, max_length=1000)


class HoldBody(HoldRequest):
    @model_validator(mode="after")
    def _one_member(self) -> HoldBody:
        return named(_MemberRef._one_member, self, "member_id")


AdjustBody = Adjustment  # points.adjust for the member in the path; the store defaults to the caller's


class ActivityBody(BaseModel):
    """points.activity for the member in the path (at the time of the request)."""

    model_config = ConfigDict(extra="forbid")
    kind: ActivityKind = Field(description="Members themselves: checkin or share; staff: any")
    key: str | None = Field(default=None, min_length=1, max_length=64,
                            description="share: the item shared; referral: the referred member's id")
    store: Code | None = None


class SetProgramBody(SetProgram):
    _utc = field_validator("effective_from")(utc)


class BonusRuleBody(BonusRule):
    _utc = field_validator("starts_at", "ends_at")(utc)

    @model_validator(mode="after")
    def _valid(self) -> BonusRuleBody:
        return named(BonusRule._valid, self, "ends_at", "multiplier")


# ---- helpers ---------------------------------------------------------------------------------------------
async def _points(request: Request, method: str, timeout: float | None = None, **kwargs: Any) -> Any:
    extra = {} if timeout is None else {"timeout": timeout}
    return await request.app.state.services.call(request, "points", method, **kwargs, **extra)


async def _own_member(request: Request, caller: Principal, member_id: uuid.UUID) -> str:
    """Members reach only their own points."""
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member reaches only their own points", member_id=str(member_id))
    return str(member_id)


async def _member_by_phone(request: Request, phone: str) -> str:
    try:
        found = await request.app.state.services.call(request, "members", "lookup_phone", phone=phone)
    except RemoteError as exc:
        if exc.exc_type == "InvalidInput":
            raise ApiError(422, "invalid_input", exc.message, field="member_phone") from None
        raise
    if found.get("member_id") is None:
        raise ApiError(404, "not_found", "no member with this phone", field="member_phone")
    return str(found["member_id"])


async def _booking_store(request: Request, caller: Principal, store: str | None) -> str | None:
    """The store a write is booked to: the one given, else a store-bound caller's own; never another's."""
    store = store or caller.home_store
    if caller.stores is not None:
        if store is None:
            raise ApiError(422, "invalid_input", "name one of your stores", field="store")
        await require_store(request, caller, store)
    return store


def _request_id(idempotency_key: str | None) -> str | None:
    """The service's idempotency key for an adjustment (it scopes it to the caller): the request's
    Idempotency-Key, or a digest of it when it is longer than the service takes."""
    if idempotency_key is None or len(idempotency_key) <= 64:
        return idempotency_key  # the guard has checked its characters (the service's Code set)
    return "sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:57]


def _ledger_is_the_record(request: Request) -> None:
    """A sale or refund that the points service accepted is recorded there, with store, terminal
    and transaction id, in its append-only ledger: no gateway audit entry as well (at till rates
    it cost a quarter of the gateway's CPU). Refused ones are audited as usual."""
    request.state.audited = True


def _paged(rows: list[dict[str, Any]], paging: PageParams) -> dict[str, Any]:
    """One list shape everywhere ({items, next_cursor}): these lists come whole from points (a
    program's versions, bonus rules, a report's rows) and are paged here by position."""
    start = paging.position(int) or 0
    end = start + paging.limit
    return {"items": rows[start:end], "next_cursor": make_cursor(end) if end < len(rows) else None}


def _created_or_replayed(response: Response, result: dict[str, Any]) -> dict[str, Any]:
    if result.get("replayed"):
        response.status_code = 200
    return result


# ---- at the till -----------------------------------------------------------------------------------------
@router.post("/points/sales", status_code=201, response_model=SaleResult, responses=_REPLAYED,
             summary="Credit a sale's points (what the receipt prints)",
             description="Idempotent by (store, transaction_id): a retry answers 200 with the first result and "
                         "`replayed` true, never points twice. The member is given by exactly one of member_id, "
                         "member_number and member_phone. Store-bound callers only for their stores.")
async def record_sale(body: SaleBody, request: Request, response: Response,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    sale = body.model_dump(mode="json", exclude={"member_phone"})
    if body.member_phone is not None:
        sale["member_id"] = await _member_by_phone(request, body.member_phone)
    try:
        result = await _points(request, "record_sale", **sale)
    except RemoteError as exc:
        if body.member_phone is not None and exc.field == "member_id":  # the request named the member by phone
            exc.field = "member_phone"
        raise
    _ledger_is_the_record(request)
    return _created_or_replayed(response, result)


@router.post("/points/sales/batch", response_model=BatchResult,
             summary="Upload a POS's offline sales and refunds (up to 1000, any order)",
             description="Each item is idempotent on its own (a re-upload credits nothing twice) and answered "
                         "on its own: `ok` with the item's result (its `balance` is the balance after that item, "
                         "sales applied before refunds), or an `error` naming the field as the request does "
                         "(`items.4.amount`). An item that fails validation, is above the amount limits or is "
                         "for a store the caller may not post for is refused alone; the others are posted. "
                         "POS keys need points:write, ERP keys points:upload.")
async def record_batch(body: BatchBody, request: Request,
                       caller: Principal = allow("manager", "admin",
                                                 any_scope=("points:write", "points:upload"))) -> dict[str, Any]:
    checked: list[dict[str, Any]] = []
    sent: list[int] = []  # the upload's index of each item sent
    refused: dict[int, dict[str, Any]] = {}
    parsed = [_batch_item(index, raw, caller) for index, raw in enumerate(body.items)]
    phones = await _phones(request, {i: item["member_phone"] for i, (item, _) in enumerate(parsed)
                                     if item is not None and item.get("member_phone") is not None})
    for index, (item, error) in enumerate(parsed):
        if item is not None and "member_phone" in item:
            phone = item.pop("member_phone")
            if phone is not None:
                found = phones[index]
                if isinstance(found, dict):
                    item, error = None, found
                else:
                    item["member_id"] = found
        if error is not None:
            refused[index] = error
        else:
            sent.append(index)
            checked.append(item)  # type: ignore[arg-type]
    if any(e["code"] == "forbidden" for e in refused.values()):
        await request.app.state.auditor.record(
            request, "access.denied", "denied", details={
                "route": request.url.path, "reason": "upload items for stores not the caller's",
                "items": sorted(i for i, e in refused.items() if e["code"] == "forbidden")})
    answers: list[dict[str, Any]] = []
    if checked:
        posted = await _points(request, "record_batch", timeout=BATCH_TIMEOUT, items=checked)
        answers = posted["results"]
    results: list[dict[str, Any]] = [{}] * len(body.items)
    for answer, index in zip(answers, sent, strict=True):
        error = answer.get("error")
        if error and error.get("field"):  # the service named the field within the items it was sent
            field = re.sub(r"^items\.\d+", f"items.{index}", error["field"])
            if index in phones and field == f"items.{index}.member_id":  # the item named its member by phone
                field = f"items.{index}.member_phone"
            error = {**error, "field": field}
        results[index] = {**answer, "index": index, "error": error}
    for index, error in refused.items():
        raw = body.items[index]
        kind = "refund" if isinstance(raw, dict) and raw.get("kind") == "refund" else "sale"
        results[index] = {"index": index, "kind": kind, "ok": False, "error": error}
    _ledger_is_the_record(request)
    failed = sum(1 for r in results if not r["ok"])
    return {"results": results, "accepted": len(results) - failed, "failed": failed}


PHONE_LOOKUPS_AT_ONCE = 8  # an upload's phone-only items, looked up in members a few at a time


async def _phones(request: Request, phones: dict[int, str]) -> dict[int, str | dict[str, Any]]:
    """Member id by item index for items naming their member by phone, or that item's refusal."""
    if not phones:
        return {}
    gate = asyncio.Semaphore(PHONE_LOOKUPS_AT_ONCE)

    async def one(index: int, phone: str) -> str | dict[str, Any]:
        async with gate:
            try:
                return await _member_by_phone(request, phone)
            except ApiError as exc:
                return {"code": exc.code, "message": exc.message, "field": f"items.{index}.member_phone"}

    found = await asyncio.gather(*(one(i, p) for i, p in phones.items()))
    return dict(zip(phones, found, strict=True))


def _batch_item(index: int, raw: Any, caller: Principal) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the item as sent to points, None) or (None, its refusal naming the field as the request does)."""
    try:
        item = _BATCH_ITEM.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        if loc and loc[0] in ("sale", "refund"):  # pydantic's tag of the union, not a key of the request
            loc = loc[1:]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["kind"]
        named_field = (first.get("ctx") or {}).get("field")
        field = ".".join(["items", str(index), *loc, *([named_field] if isinstance(named_field, str) else [])])
        return None, {"code": "invalid_input", "message": first["msg"], "field": field}
    if not caller.covers_store(item.store):
        return None, {"code": "forbidden", "message": f"not allowed for store {item.store!r}",
                      "field": f"items.{index}.store"}
    return item.model_dump(mode="json"), None


@router.post("/points/refunds", status_code=201, response_model=RefundResult, responses=_REPLAYED,
             summary="Take back a refunded sale's points (proportionally)",
             description="Made in the store of the original sale; idempotent by (store, refund_id). Points "
                         "already spent are handled by the program's refund policy (negative balance or debt).")
async def refund_sale(body: RefundBody, request: Request, response: Response,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    result = await _points(request, "refund_sale", **body.model_dump(mode="json"))
    _ledger_is_the_record(request)
    return _created_or_replayed(response, result)


@router.post("/points/holds", status_code=201, response_model=Hold,
             responses={**_REPLAYED, 409: {"description": "`insufficient_points`: not enough available points"}},
             summary="Hold points to pay for a sale (then commit or release)",
             description="Idempotent by (store, transaction_id). A hold neither committed nor released within "
                         "ttl_seconds is released by itself.")
async def hold_points(body: HoldBody, request: Request, response: Response,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    return _created_or_replayed(response, await _points(request, "hold", **body.model_dump(mode="json")))


@router.post("/points/holds/{hold_id}/commit", response_model=Hold, summary="Spend held points",
             description="Store-bound callers only for holds of their stores (the service checks).")
async def commit_hold(hold_id: PathId, request: Request,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    result: dict[str, Any] = await _points(request, "commit_hold", hold_id=hold_id)
    return result


@router.post("/points/holds/{hold_id}/release", response_model=Hold, summary="Give held points back",
             description="Store-bound callers only for holds of their stores (the service checks).")
async def release_hold(hold_id: PathId, request: Request,
                       caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    result: dict[str, Any] = await _points(request, "release_hold", hold_id=hold_id)
    return result


# ---- a member's points -----------------------------------------------------------------------------------
@router.get("/members/{member_id}/points", response_model=Account,
            summary="A member's balance, available and held points, tier and progress, next expiry")
async def get_account(member_id: uuid.UUID, request: Request,
                      caller: Principal = allow(*READERS, scopes=["points:read"], member=True)) -> dict[str, Any]:
    result: dict[str, Any] = await _points(request, "get_account",
                                           member_id=await _own_member(request, caller, member_id))
    return result


@router.get("/members/{member_id}/points/history", response_model=Page[LedgerEntry],
            summary="A member's ledger, newest first")
async def points_history(member_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                         caller: Principal = allow(*READERS, scopes=["points:read"], member=True)
                         ) -> Page[LedgerEntry]:
    position = paging.position(str)
    if position is not None and not position.isdigit():  # the service's position is a ledger entry id
        raise ApiError(422, "invalid_input", "not a cursor this API gave out", field="cursor")
    result = await _points(request, "history", member_id=await _own_member(request, caller, member_id),
                           limit=paging.limit, after=position)
    return Page[LedgerEntry](items=result["items"], next_cursor=make_cursor(result["next"]) if result["next"] else None)


@router.post("/members/{member_id}/points/adjustments", status_code=201, response_model=AdjustResult,
             responses=_REPLAYED, summary="Correct a member's points by hand, with a reason (audited)",
             description="With an Idempotency-Key, a retry adjusts once. Staff have a daily limit (the program's "
                         "adjust_daily_limit).")
async def adjust_points(member_id: uuid.UUID, body: AdjustBody, request: Request, response: Response,
                        idempotency_key: str | None = Header(None, include_in_schema=False),
                        caller: Principal = allow("manager", "admin")) -> dict[str, Any]:
    store = await _booking_store(request, caller, body.store)
    try:
        result = await _points(request, "adjust", member_id=str(member_id), points=body.points, reason=body.reason,
                               store=store, request_id=_request_id(idempotency_key))
    except RemoteError as exc:
        if exc.field == "request_id":  # the service's name for the request's Idempotency-Key
            exc.field = "Idempotency-Key"
        raise
    await request.app.state.auditor.record(
        request, "points.adjusted", "ok", object_type="member", object_id=str(member_id), store=store,
        details={"points": body.points, "reason": body.reason, "entry_id": result["entry"]["entry_id"],
                 "balance": result["balance"], "replayed": result.get("replayed", False)})
    request.state.audited = True
    return _created_or_replayed(response, result)


@router.post("/members/{member_id}/points/activities", response_model=ActivityResult,
             summary="Credit an activity: daily check-in, share, referral, profile completion",
             description="Once per natural key (check-in once a day, share once per item and a daily limit, "
                         "referral once per referred member): a repeat answers `granted` false. Members "
                         "themselves may check in and share; staff record any kind.")
async def record_activity(member_id: uuid.UUID, body: ActivityBody, request: Request,
                          caller: Principal = allow(*AT_THE_TILL, member=True)) -> dict[str, Any]:
    member = await _own_member(request, caller, member_id)
    if caller.kind == "member" and body.kind not in ("checkin", "share"):
        await deny(request, f"members cannot record {body.kind!r} themselves", field="kind")
    store = await _booking_store(request, caller, body.store)
    result: dict[str, Any] = await _points(request, "activity", member_id=member, kind=body.kind, key=body.key,
                                           store=store)
    return result


# ---- the program and bonus rules ---------------------------------------------------------------------------
@router.get("/points/program", response_model=ProgramVersion, summary="The points program in force now")
async def get_program(request: Request, caller: Principal = allow(*PROGRAM_READERS)) -> dict[str, Any]:
    result: dict[str, Any] = await _points(request, "get_program")
    return result


@router.get("/points/program/versions", response_model=Page[ProgramVersion],
            summary="Every version of the program, past and scheduled")
async def program_versions(request: Request, paging: PageParams = Depends(page_params),
                           caller: Principal = allow(*PROGRAM_READERS)) -> dict[str, Any]:
    return _paged(await _points(request, "program_versions"), paging)


@router.put("/points/program", response_model=ProgramVersion, summary="Set a new program version (audited)",
            description="Takes effect at effective_from (default now; not in the past). Sales are evaluated by "
                        "the version in force at their time.")
async def set_program(body: SetProgramBody, request: Request,
                      caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    result: dict[str, Any] = await _points(request, "set_program", **body.model_dump(mode="json"))
    await request.app.state.auditor.record(request, "points.program_changed", "ok", object_type="points_program",
                                           object_id=str(result["version"]),
                                           details={"effective_from": result["effective_from"]})
    request.state.audited = True
    return result


@router.get("/points/bonus-rules", response_model=Page[BonusRuleOut], summary="Bonus rules (double points days)")
async def list_bonus_rules(request: Request, active_only: bool = False, paging: PageParams = Depends(page_params),
                           caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    return _paged(await _points(request, "bonus_rules", active_only=active_only), paging)


@router.post("/points/bonus-rules", status_code=201, response_model=BonusRuleOut,
             summary="Create a bonus rule (audited)")
async def create_bonus_rule(body: BonusRuleBody, request: Request,
                            caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    result: dict[str, Any] = await _points(request, "create_bonus_rule", **body.model_dump(mode="json"))
    await request.app.state.auditor.record(request, "points.bonus_rule_created", "ok", object_type="bonus_rule",
                                           object_id=result["rule_id"],
                                           details={"name": body.name, "starts_at": result["starts_at"],
                                                    "ends_at": result["ends_at"]})
    request.state.audited = True
    return result


@router.post("/points/bonus-rules/{rule_id}/end", response_model=BonusRuleOut,
             summary="End a bonus rule now (audited)")
async def end_bonus_rule(rule_id: PathId, request: Request,
                         caller: Principal = allow("admin", "marketer")) -> dict[str, Any]:
    result: dict[str, Any] = await _points(request, "end_bonus_rule", rule_id=rule_id)
    await request.app.state.auditor.record(request, "points.bonus_rule_ended", "ok", object_type="bonus_rule",
                                           object_id=rule_id)
    request.state.audited = True
    return result


# ---- reports and jobs ------------------------------------------------------------------------------------
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)  # days that have a start and an end in any zone
MAX_REPORT_DAYS = 366


def _days(day_from: date, day_to: date) -> dict[str, str]:
    if not FIRST_DAY <= day_from <= LAST_DAY:
        raise ApiError(422, "invalid_input", f"between {FIRST_DAY} and {LAST_DAY}", field="from")
    if day_to < day_from:
        raise ApiError(422, "invalid_input", "must not be before from", field="to")
    if (day_to - day_from).days > MAX_REPORT_DAYS:
        raise ApiError(422, "invalid_input", f"at most {MAX_REPORT_DAYS} days after from", field="to")
    return {"day_from": day_from.isoformat(), "day_to": day_to.isoformat()}


@router.get("/points/reports/liability", response_model=Page[LiabilityRow],
            summary="Outstanding points and their value, per issuing store and day",
            description="`from` and `to` are days (inclusive), at most 366 days apart. Store-bound callers must "
                        "name one of their stores. Rows with `bucket` \"chain\" (and `store` null) are points no "
                        "store issued: members' own check-ins and shares, activities and adjustments booked to "
                        "no store; the chain carries them.")
async def liability_report(request: Request, day_from: date = Query(alias="from"), day_to: date = Query(alias="to"),
                           store: str | None = Query(None, min_length=1, max_length=64),
                           paging: PageParams = Depends(page_params),
                           caller: Principal = allow("admin", "auditor", "manager")) -> dict[str, Any]:
    days = _days(day_from, day_to)
    if caller.stores is not None:
        if store is None:
            raise ApiError(422, "invalid_input", "name one of your stores", field="store")
        await require_store(request, caller, store)
    return _paged(await _points(request, "liability", timeout=REPORT_TIMEOUT, store=store, **days), paging)


@router.get("/points/reports/daily", response_model=DailyReport,
            summary="A store's day: member sales, members' share, points issued, redeemed, expired and reversed",
            description="`day` in the store's time zone. Points sees member sales only: give the store's "
                        "takings as `total_sales` (from the POS or the ERP) for `members_share`. Store-bound "
                        "callers for their stores.")
async def daily_report(request: Request, day: date, store: str = Query(min_length=1, max_length=64),
                       total_sales: str | None = Query(None, max_length=20, description="e.g. \"125000.00\""),
                       caller: Principal = allow("admin", "auditor", "manager")) -> dict[str, Any]:
    _days(day, day)
    await require_store(request, caller, store)
    result: dict[str, Any] = await _points(request, "daily_report", timeout=REPORT_TIMEOUT, store=store,
                                           day=day.isoformat(), total_sales=total_sales)
    return result


@router.get("/points/reports/settlement", response_model=Page[SettlementRow],
            summary="Points earned in one store and spent in another, for settlement between stores",
            description="`from` and `to` are days (inclusive), at most 366 days apart. Store-bound callers see "
                        "the rows where one of their stores earned or spent.")
async def settlement_report(request: Request, day_from: date = Query(alias="from"), day_to: date = Query(alias="to"),
                            paging: PageParams = Depends(page_params),
                            caller: Principal = allow("admin", "auditor", "manager")) -> dict[str, Any]:
    rows: list[dict[str, Any]] = await _points(request, "settlement", timeout=REPORT_TIMEOUT,
                                               **_days(day_from, day_to))
    if caller.stores is not None:
        rows = [r for r in rows if r.get("earned_store") in caller.stores or r.get("spent_store") in caller.stores]
    return _paged(rows, paging)


@router.post("/points/jobs/{name}", response_model=JobResult, summary="Run a points job now (audited)",
             description="expiry: expire due lots; reminders: announce points expiring soon; tiers: evaluate "
                         "downgrades; holds: release expired holds. `at` runs it as of another time.")
async def run_job(name: Literal["expiry", "reminders", "tiers", "holds"], request: Request,
                  at: datetime | None = Query(None, description="Default: now"),
                  caller: Principal = allow("admin")) -> dict[str, Any]:
    when = iso(query_time(at, "at"))
    result: dict[str, Any] = await _points(request, "run_job", timeout=JOB_TIMEOUT, name=name, at=when)
    await request.app.state.auditor.record(request, "points.job_run", "ok", object_type="points_job", object_id=name,
                                           details={"at": when, "processed": result["processed"],
                                                    "events": result["events"]})
    request.state.audited = True
    return result
