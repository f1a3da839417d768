"""What the points routes share: who may call, time-outs, the RPC to points, member and store
checks, list paging."""
from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

from fastapi import Path, Request, Response

from contracts import access
from services.gateway.errors import ApiError
from services.gateway.pagination import PageParams, make_cursor
from services.gateway.rpc import RemoteError
from services.gateway.security.policy import deny, require_store
from services.gateway.security.principal import Principal

AT_THE_TILL = access.AT_THE_TILL  # staff at a counter; POS keys need points:write as well
READERS = access.STAFF_ROLES
PROGRAM_READERS = access.CHAIN_READERS
JOB_TIMEOUT = 300.0  # jobs walk every account
REPORT_TIMEOUT = BATCH_TIMEOUT = 60.0

PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Replayed: the first answer for this idempotency key, `replayed` true"}}



# ---- helpers ---------------------------------------------------------------------------------------------
async def call_points(request: Request, method: str, timeout: float | None = None, **kwargs: Any) -> Any:
    extra = {} if timeout is None else {"timeout": timeout}
    return await request.app.state.services.call(request, "points", method, **kwargs, **extra)


async def own_member(request: Request, caller: Principal, member_id: uuid.UUID) -> str:
    """Members reach only their own points."""
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member reaches only their own points", member_id=str(member_id))
    return str(member_id)


async def member_by_phone(request: Request, phone: str) -> str:
    try:
        found = await request.app.state.services.call(request, "members", "lookup_phone", phone=phone)
    except RemoteError as exc:
        if exc.exc_type == "InvalidInput":
            raise ApiError(422, "invalid_input", exc.message, field="member_phone") from None
        raise
    if found.get("member_id") is None:
        raise ApiError(404, "not_found", "no member with this phone", field="member_phone")
    return str(found["member_id"])


async def booking_store(request: Request, caller: Principal, store: str | None) -> str | None:
    """The store a write is booked to: the one given, else a store-bound caller's own; never another's."""
    store = store or caller.home_store
    if caller.stores is not None:
        if store is None:
            raise ApiError(422, "invalid_input", "name one of your stores", field="store")
        await require_store(request, caller, store)
    return store


def request_id_of(idempotency_key: str | None) -> str | None:
    """The service's idempotency key for an adjustment (it scopes it to the caller): the request's
    Idempotency-Key, or a digest of it when it is longer than the service takes."""
    if idempotency_key is None or len(idempotency_key) <= 64:
        return idempotency_key  # the guard has checked its characters (the service's Code set)
    return "sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:57]


def ledger_is_the_record(request: Request) -> None:
    """A sale or refund that the points service accepted is recorded there, with store, terminal
    and transaction id, in its append-only ledger: no gateway audit entry as well (at till rates
    it cost a quarter of the gateway's CPU). Refused ones are audited as usual."""
    request.state.audited = True


def paged(rows: list[dict[str, Any]], paging: PageParams) -> dict[str, Any]:
    """One list shape everywhere ({items, next_cursor}): these lists come whole from points (a
    program's versions, bonus rules, a report's rows) and are paged here by position."""
    start = paging.position(int) or 0
    end = start + paging.limit
    return {"items": rows[start:end], "next_cursor": make_cursor(end) if end < len(rows) else None}


def created_or_replayed(response: Response, result: dict[str, Any]) -> dict[str, Any]:
    if result.get("replayed"):
        response.status_code = 200
    return result
