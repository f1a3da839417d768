"""/v1/members: register and read members."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.rpc import RemoteError

router = APIRouter(tags=["members"])


class RegisterMemberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["Li Lei"])
    phone: str = Field(min_length=1, max_length=32, examples=["13812345678"],
                       description="Mainland China mobile, or +<country code><number>")
    registration_store: str | None = Field(default=None, max_length=64)
    channel: Literal["pos", "web", "app", "staff", "import", "erp"] = "staff"


class PointsSummary(BaseModel):
    balance: int
    tier: str


class MemberOut(BaseModel):
    member_id: str
    member_number: str
    name: str
    phone: str
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


@router.post("/members", status_code=201, response_model=RegisterMemberOut,
             responses={200: {"description": "The phone was already registered: the existing member"},
                        422: {"description": "A field is missing or malformed"}})
async def register_member(body: RegisterMemberBody, request: Request, response: Response) -> RegisterMemberOut:
    result = await request.app.state.services.call(request, "members", "register", **body.model_dump())
    if not result["created"]:
        response.status_code = 200
    response.headers["Location"] = f"/v1/members/{result['member']['member_id']}"
    return RegisterMemberOut(member=MemberOut(**result["member"]), created=result["created"])


@router.get("/members/{member_id}", response_model=MemberOut,
            responses={404: {"description": "No such member"}, 422: {"description": "Malformed member id"}})
async def get_member(member_id: str, request: Request) -> MemberOut:
    services = request.app.state.services
    member, account = await asyncio.gather(
        services.call(request, "members", "get", member_id=member_id),
        services.call(request, "points", "get_account", member_id=member_id),
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
    return MemberOut(**member, points=points)
