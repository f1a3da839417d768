"""At the till: sales, offline uploads, refunds, holds (commit, release)."""
from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import (
    ValidationError,
)

from contracts.points import (
    BatchResult,
    Hold,
    RefundResult,
    SaleResult,
)
from contracts.rpc import Pong
from services.gateway.errors import ApiError
from services.gateway.routes_points_bodies import (
    _BATCH_ITEM,
    BatchBody,
    HoldBody,
    RefundBody,
    SaleBody,
)
from services.gateway.routes_points_common import (
    AT_THE_TILL,
    BATCH_TIMEOUT,
    REPLAYED,
    PathId,
    call_points,
    created_or_replayed,
    ledger_is_the_record,
    member_by_phone,
)
from services.gateway.rpc import RemoteError
from services.gateway.security.policy import allow, require_store
from services.gateway.security.principal import Principal

router = APIRouter(tags=["points"])


# ---- at the till -----------------------------------------------------------------------------------------
@router.get("/points/ping", response_model=Pong, summary="Check that this till can credit sales now",
            description="Answers 200 when the caller's key or token may record sales and the points service and "
                        "its database answer; 503 when they do not (the till keeps sales for its offline upload). "
                        "It writes nothing, and is the gateway's no-op round trip in the points benchmark.")
async def till_ping(request: Request,
                    caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    pong: dict[str, Any] = await call_points(request, "ping")
    return pong


@router.post("/points/sales", status_code=201, response_model=SaleResult,
             responses={**REPLAYED, 409: {"description": "`store_not_open` (field `store`): the catalog has the "
                                                        "store closed or suspended (docs/catalog.md)"}},
             summary="Credit a sale's points (what the receipt prints)",
             description="Idempotent by (store, transaction_id): a retry answers 200 with the first result and "
                         "`replayed` true, never points twice. The member is given by exactly one of member_id, "
                         "member_number and member_phone. Store-bound callers only for their stores. A store or "
                         "SKU the catalog does not know is accepted and named in `flags`.")
async def record_sale(body: SaleBody, request: Request, response: Response,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    sale = body.model_dump(mode="json", exclude={"member_phone"})
    if body.member_phone is not None:
        sale["member_id"] = await member_by_phone(request, body.member_phone)
    try:
        result = await call_points(request, "record_sale", **sale)
    except RemoteError as exc:
        if body.member_phone is not None and exc.field == "member_id":  # the request named the member by phone
            exc.field = "member_phone"
        raise
    ledger_is_the_record(request)
    return created_or_replayed(response, result)


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
        elif item is not None:  # always, without an error: _batch_item gives one or the other
            sent.append(index)
            checked.append(item)
    if any(e["code"] == "forbidden" for e in refused.values()):
        await request.app.state.auditor.record(
            request, "access.denied", "denied", details={
                "route": request.url.path, "reason": "upload items for stores not the caller's",
                "items": sorted(i for i, e in refused.items() if e["code"] == "forbidden")})
    answers: list[dict[str, Any]] = []
    if checked:
        posted = await call_points(request, "record_batch", timeout=BATCH_TIMEOUT, items=checked)
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
    ledger_is_the_record(request)
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
                return await member_by_phone(request, phone)
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


@router.post("/points/refunds", status_code=201, response_model=RefundResult, responses=REPLAYED,
             summary="Take back a refunded sale's points (proportionally)",
             description="Made in the store of the original sale; idempotent by (store, refund_id). Points "
                         "already spent are handled by the program's refund policy (negative balance or debt).")
async def refund_sale(body: RefundBody, request: Request, response: Response,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    result = await call_points(request, "refund_sale", **body.model_dump(mode="json"))
    ledger_is_the_record(request)
    return created_or_replayed(response, result)


@router.post("/points/holds", status_code=201, response_model=Hold,
             responses={**REPLAYED, 409: {"description": "`insufficient_points`: not enough available points"}},
             summary="Hold points to pay for a sale (then commit or release)",
             description="Idempotent by (store, transaction_id). A hold neither committed nor released within "
                         "ttl_seconds is released by itself.")
async def hold_points(body: HoldBody, request: Request, response: Response,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    return created_or_replayed(response, await call_points(request, "hold", **body.model_dump(mode="json")))


@router.post("/points/holds/{hold_id}/commit", response_model=Hold, summary="Spend held points",
             description="Store-bound callers only for holds of their stores (the service checks).")
async def commit_hold(hold_id: PathId, request: Request,
                      caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    result: dict[str, Any] = await call_points(request, "commit_hold", hold_id=hold_id)
    return result


@router.post("/points/holds/{hold_id}/release", response_model=Hold, summary="Give held points back",
             description="Store-bound callers only for holds of their stores (the service checks).")
async def release_hold(hold_id: PathId, request: Request,
                       caller: Principal = allow(*AT_THE_TILL, scopes=["points:write"])) -> dict[str, Any]:
    result: dict[str, Any] = await call_points(request, "release_hold", hold_id=hold_id)
    return result
