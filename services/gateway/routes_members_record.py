"""/v1/members: register, look up, search, update (optimistic concurrency) and history."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, make_cursor, page_of_all, page_params
from services.gateway.routes_members_common import (
    PERSONAL_FIELDS,
    MemberChangeOut,
    MemberOut,
    PointsSummary,
    RegisterMemberBody,
    RegisterMemberOut,
    UpdateMemberBody,
    check_member_scope,
    default_channel,
    expected_version,
    member_out,
    points_away,
    till_points,
)
from services.gateway.rpc import RemoteError
from services.gateway.security.policy import allow, deny, require_store
from services.gateway.security.principal import Principal
from services.gateway.validation import iso, query_time

router = APIRouter(tags=["members"])


@router.post("/members", status_code=201, response_model=RegisterMemberOut,
             responses={200: {"description": "The phone was already registered: the existing member"}})
async def register_member(body: RegisterMemberBody, request: Request, response: Response,
                          caller: Principal = allow("clerk", "manager", "admin", scopes=["members:write"])
                          ) -> RegisterMemberOut:
    store_code = body.registration_store or caller.home_store
    await require_store(request, caller, store_code)
    request.state.idempotency_redact = PERSONAL_FIELDS  # replays show name and contact data as null
    result = await request.app.state.services.call(
        request, "members", "register", **body.model_dump(mode="json", exclude={"registration_store", "channel"}),
        registration_store=store_code, channel=body.channel or default_channel(caller))
    if not result["created"]:
        response.status_code = 200
    await request.app.state.auditor.record(
        request, "member.registered" if result["created"] else "member.register_existing", "ok",
        object_type="member", object_id=result["member"]["member_id"], store=store_code)
    request.state.audited = True
    response.headers["Location"] = f"/v1/members/{result['member']['member_id']}"
    response.headers["ETag"] = f'"{result["member"]["version"]}"'
    return RegisterMemberOut(member=await member_out(request, caller, result["member"]), created=result["created"])


@router.get("/members", response_model=Page[MemberOut], summary="Search members",
            description="Lookups by phone or member number reach the whole chain (members shop in every "
                        "store); other searches by store-bound callers cover their own stores only.")
async def search_members(
    request: Request, paging: PageParams = Depends(page_params),
    phone: str | None = Query(None, max_length=32), member_number: str | None = Query(None, max_length=20),
    name_prefix: str | None = Query(None, min_length=1, max_length=100),
    tag: str | None = Query(None, max_length=32), store_filter: str | None = Query(None, alias="store", max_length=64),
    status: Literal["active", "frozen", "erased"] | None = None,
    birthday_month: int | None = Query(None, ge=1, le=12),
    lifecycle: Literal["new", "active", "at_risk", "dormant", "lost"] | None = None,
    registered_from: datetime | None = None, registered_to: datetime | None = None,
    caller: Principal = allow("clerk", "manager", "marketer", "admin", scopes=["members:read"]),
) -> Page[MemberOut]:
    filters: dict[str, Any] = {k: v for k, v in {
        "phone": phone, "member_number": member_number, "name_prefix": name_prefix, "tag": tag, "store": store_filter,
        "status": status, "birthday_month": birthday_month, "lifecycle": lifecycle,
        "registered_from": iso(query_time(registered_from, "registered_from")),
        "registered_to": iso(query_time(registered_to, "registered_to"))}.items() if v is not None}
    if caller.stores is not None and not (phone or member_number):
        filters["stores"] = sorted(caller.stores)
    position = paging.position(str)
    result = await request.app.state.services.call(request, "members", "search", limit=paging.limit,
                                                   after=position, **filters)
    points = await till_points(request, [m["member_id"] for m in result["items"]]) if phone or member_number \
        else {}
    reads: list[tuple[str, str | None]] = []
    items = [await member_out(request, caller, m, None if points is None else points.get(m["member_id"]),
                               points_unavailable=points is None, reads=reads) for m in result["items"]]
    if reads:
        await request.app.state.auditor.record_many(request, "member.contact_data_read", "member", reads)
    return Page[MemberOut](items=items, next_cursor=make_cursor(result["next"]) if result["next"] else None)


@router.get("/members/{member_id}", response_model=MemberOut,
            responses={200: {"headers": {"ETag": {"description": "The member's version"}}}})
async def get_member(member_id: uuid.UUID, request: Request, response: Response,
                     caller: Principal = allow("clerk", "manager", "marketer", "admin", scopes=["members:read"],
                                               member=True)) -> MemberOut:
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member sees only their own record", member_id=str(member_id))
    services = request.app.state.services
    member: dict[str, Any] | BaseException
    account: dict[str, Any] | BaseException
    member, account = await asyncio.gather(
        services.call(request, "members", "get", member_id=str(member_id)),
        services.call(request, "points", "get_account", member_id=str(member_id)),
        return_exceptions=True,
    )
    if isinstance(member, BaseException):
        raise member
    points, away = None, isinstance(account, BaseException) and points_away(account)
    if isinstance(account, RemoteError) and account.exc_type == "NotFound":
        points = None  # the account opens when points handles member.registered
    elif isinstance(account, BaseException):
        if not away:
            raise account
    else:
        points = PointsSummary(balance=account["balance"], tier=account["tier"], held=account["held"],
                               available=account["available"])
    response.headers["ETag"] = f'"{member["version"]}"'
    return await member_out(request, caller, member, points, points_unavailable=away)


@router.patch("/members/{member_id}", response_model=MemberOut, summary="Change a member (If-Match required)",
              responses={409: {"description": "Stale version, or the phone belongs to another member"},
                         428: {"description": "If-Match missing"}})
async def update_member(member_id: uuid.UUID, body: UpdateMemberBody, request: Request, response: Response,
                        if_match: str | None = Header(None, description="The ETag (version) you read"),
                        caller: Principal = allow("manager", "admin", member=True)) -> MemberOut:
    version = expected_version(if_match)
    changes = body.model_dump(mode="json", exclude_unset=True)
    if not changes:
        raise ApiError(422, "invalid_input", "nothing to change")
    if caller.kind == "member" and "phone" in changes:
        # the phone is how a member logs in: moving to another number needs that number proven
        await deny(request, "a new phone number must be proven with a one-time code; ask a store", field="phone")
    await check_member_scope(request, caller, str(member_id))
    member = await request.app.state.services.call(request, "members", "update", member_id=str(member_id),
                                                   expected_version=version, **changes)
    response.headers["ETag"] = f'"{member["version"]}"'
    if caller.kind != "member":
        await request.app.state.auditor.record(request, "member.updated", "ok", object_type="member",
                                               object_id=str(member_id), store=member.get("registration_store"),
                                               details={"fields": sorted(changes), "version": member["version"]})
        request.state.audited = True
    return await member_out(request, caller, member)


@router.get("/members/{member_id}/history", response_model=Page[MemberChangeOut],
            summary="Who changed what, when (personal values are not repeated)")
async def member_history(member_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                         caller: Principal = allow("manager", "admin", "auditor", member=True)
                         ) -> Page[MemberChangeOut]:
    await check_member_scope(request, caller, str(member_id))
    rows = await request.app.state.services.call(request, "members", "history", member_id=str(member_id))
    items, cursor = page_of_all(rows, paging)
    return Page[MemberChangeOut](items=[MemberChangeOut(**row) for row in items], next_cursor=cursor)

