"""A member's points: balance, history, adjustments, activities."""
from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Header, Request, Response

from contracts.points import (
    Account,
    ActivityResult,
    AdjustResult,
    LedgerEntry,
    Lot,
)
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, make_cursor, page_params
from services.gateway.routes_points_bodies import (
    ActivityBody,
    AdjustBody,
)
from services.gateway.routes_points_common import (
    AT_THE_TILL,
    READERS,
    REPLAYED,
    booking_store,
    call_points,
    created_or_replayed,
    own_member,
    request_id_of,
)
from services.gateway.rpc import RemoteError
from services.gateway.security.policy import allow, deny
from services.gateway.security.principal import Principal

router = APIRouter(tags=["points"])


# ---- a member's points -----------------------------------------------------------------------------------
@router.get("/members/{member_id}/points", response_model=Account,
            summary="A member's balance, available and held points, tier and progress, next expiry")
async def get_account(member_id: uuid.UUID, request: Request,
                      caller: Principal = allow(*READERS, scopes=["points:read"], member=True)) -> dict[str, Any]:
    result: dict[str, Any] = await call_points(request, "get_account",
                                           member_id=await own_member(request, caller, member_id))
    return result


@router.get("/members/{member_id}/points/history", response_model=Page[LedgerEntry],
            summary="A member's ledger, newest first")
async def points_history(member_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                         caller: Principal = allow(*READERS, scopes=["points:read"], member=True)
                         ) -> Page[LedgerEntry]:
    position = paging.position(str)
    if position is not None and not position.isdigit():  # the service's position is a ledger entry id
        raise ApiError(422, "invalid_input", "not a cursor this API gave out", field="cursor")
    result = await call_points(request, "history", member_id=await own_member(request, caller, member_id),
                           limit=paging.limit, after=position)
    return Page[LedgerEntry](items=result["items"], next_cursor=make_cursor(result["next"]) if result["next"] else None)


@router.get("/members/{member_id}/points/lots", response_model=Page[Lot],
            summary="A member's open lots (points left per sale, activity or adjustment), soonest expiry first",
            description="Each lot is what one sale, activity or adjustment earned, with the points still in it "
                        "and when they become spendable and expire; redemptions take from the soonest-expiring "
                        "first. Lots without an expiry come last.")
async def points_lots(member_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                      caller: Principal = allow(*READERS, scopes=["points:read"], member=True)) -> Page[Lot]:
    position = paging.position(str)
    if position is not None and "|" not in position:  # the service's position is "<expiry>|<lot id>"
        raise ApiError(422, "invalid_input", "not a cursor this API gave out", field="cursor")
    result = await call_points(request, "lots", member_id=await own_member(request, caller, member_id),
                               limit=paging.limit, after=position)
    return Page[Lot](items=result["items"], next_cursor=make_cursor(result["next"]) if result["next"] else None)


@router.post("/members/{member_id}/points/adjustments", status_code=201, response_model=AdjustResult,
             responses=REPLAYED, summary="Correct a member's points by hand, with a reason (audited)",
             description="With an Idempotency-Key, a retry adjusts once. Staff have a daily limit (the program's "
                         "adjust_daily_limit).")
async def adjust_points(member_id: uuid.UUID, body: AdjustBody, request: Request, response: Response,
                        idempotency_key: str | None = Header(None, include_in_schema=False),
                        caller: Principal = allow("manager", "admin")) -> dict[str, Any]:
    store = await booking_store(request, caller, body.store)
    try:
        result = await call_points(request, "adjust", member_id=str(member_id), points=body.points, reason=body.reason,
                               store=store, request_id=request_id_of(idempotency_key))
    except RemoteError as exc:
        if exc.field == "request_id":  # the service's name for the request's Idempotency-Key
            exc.field = "Idempotency-Key"
        raise
    await request.app.state.auditor.record(
        request, "points.adjusted", "ok", object_type="member", object_id=str(member_id), store=store,
        details={"points": body.points, "reason": body.reason, "entry_id": result["entry"]["entry_id"],
                 "balance": result["balance"], "replayed": result.get("replayed", False)})
    request.state.audited = True
    return created_or_replayed(response, result)


@router.post("/members/{member_id}/points/activities", response_model=ActivityResult,
             summary="Credit an activity: daily check-in, share, referral, profile completion",
             description="Once per natural key (check-in once a day, share once per item and a daily limit, "
                         "referral once per referred member): a repeat answers `granted` false. Members "
                         "themselves may check in and share; staff record any kind.")
async def record_activity(member_id: uuid.UUID, body: ActivityBody, request: Request,
                          caller: Principal = allow(*AT_THE_TILL, member=True)) -> dict[str, Any]:
    member = await own_member(request, caller, member_id)
    if caller.kind == "member" and body.kind not in ("checkin", "share"):
        await deny(request, f"members cannot record {body.kind!r} themselves", field="kind")
    store = await booking_store(request, caller, body.store)
    result: dict[str, Any] = await call_points(request, "activity", member_id=member, kind=body.kind, key=body.key,
                                           store=store)
    return result
