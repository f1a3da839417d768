"""/v1/members: register and read members."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.rpc import RemoteError
from services.gateway.security.policy import allow, deny, require_store
from services.gateway.security.principal import Principal
from services.gateway.views import mask_phone, sees_contact_data

router = APIRouter(tags=["members"])


class RegisterMemberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["Li Lei"])
    phone: str = Field(min_length=1, max_length=32, examples=["13812345678"],
                       description="Mainland China mobile, or +<country code><number>")
    registration_store: str | None = Field(default=None, min_length=1, max_length=64,
                                           description="Defaults to the caller's store for store-bound callers")
    channel: Literal["pos", "web", "app", "staff", "import", "erp"] | None = Field(
        default=None, description="Defaults by caller: pos for POS keys, erp for ERP keys, staff for staff")


class PointsSummary(BaseModel):
    balance: int
    tier: str


class MemberOut(BaseModel):
    member_id: str
    member_number: str
    name: str
    phone: str = Field(description="Masked (138****5678) unless the caller may see contact data")
    phone_masked: bool
    registration_store: str | None
    channel: str
    status: str
    created_at: datetime
    points: PointsSummary | None = Field(
        default=None, description="Null until the points service has opened the account (milliseconds)"
    )


class RegisterMemberOut(BaseModel):
    member: MemberOut
    created: bool


async def _member_out(request: Request, caller: Principal, member: dict[str, Any],
                      points: PointsSummary | None = None) -> MemberOut:
    full = sees_contact_data(caller, member.get("registration_store"), member["member_id"])
    if full and caller.kind in ("staff", "key"):
        await request.app.state.auditor.record(request, "member.contact_data_read", "ok", object_type="member",
                                               object_id=member["member_id"], store=member.get("registration_store"))
    phone = member["phone"] if full else mask_phone(member["phone"])
    return MemberOut(**{**member, "phone": phone}, phone_masked=not full, points=points)


def _default_channel(caller: Principal) -> str:
    if caller.kind == "key":
        return "pos" if "pos" in caller.roles else "erp"
    return "staff"


@router.post("/members", status_code=201, response_model=RegisterMemberOut,
             responses={200: {"description": "The phone was already registered: the existing member"},
                        403: {"description": "Not allowed for this store"},
                        422: {"description": "A field is missing or malformed"}})
async def register_member(body: RegisterMemberBody, request: Request, response: Response,
                          caller: Principal = allow("clerk", "manager", "admin", scopes=["members:write"])
                          ) -> RegisterMemberOut:
    store = body.registration_store or caller.home_store
    await require_store(request, caller, store)
    result = await request.app.state.services.call(
        request, "members", "register", name=body.name, phone=body.phone, registration_store=store,
        channel=body.channel or _default_channel(caller))
    if not result["created"]:
        response.status_code = 200
    await request.app.state.auditor.record(
        request, "member.registered" if result["created"] else "member.register_existing", "ok",
        object_type="member", object_id=result["member"]["member_id"], store=store)
    request.state.audited = True
    response.headers["Location"] = f"/v1/members/{result['member']['member_id']}"
    return RegisterMemberOut(member=await _member_out(request, caller, result["member"]), created=result["created"])


@router.get("/members/{member_id}", response_model=MemberOut,
            responses={403: {"description": "Not your record"}, 404: {"description": "No such member"},
                       422: {"description": "Malformed member id"}})
async def get_member(member_id: uuid.UUID, request: Request,
                     caller: Principal = allow("clerk", "manager", "marketer", "admin", scopes=["members:read"],
                                               member=True)) -> MemberOut:
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member sees only their own record", member_id=str(member_id))
    services = request.app.state.services
    member, account = await asyncio.gather(
        services.call(request, "members", "get", member_id=str(member_id)),
        services.call(request, "points", "get_account", member_id=str(member_id)),
        return_exceptions=True,
    )
    if isinstance(member, BaseException):
        raise member
    points = None
    if isinstance(account, RemoteError) and account.exc_type == "NotFound":
        points = None  # the account opens when points handles member.registered
    elif isinstance(account, BaseException):
        raise account
    else:
        points = PointsSummary(balance=account["balance"], tier=account["tier"])
    return await _member_out(request, caller, member, points)
