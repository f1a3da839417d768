"""/v1/members: consents, merge, erasure, export and bulk tags; a member's own registration."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import repo
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, page_of_all, page_params
from services.gateway.routes_members_common import (
    PERSONAL_TOP_FIELDS,
    ConsentChannel,
    Gender,
    MemberOut,
    PreferenceValue,
    check_member_scope,
    member_out,
)
from services.gateway.security.policy import allow, deny
from services.gateway.security.principal import Principal
from services.gateway.validation import query_time

router = APIRouter(tags=["members"])


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    granted: bool
    text_version: str = Field(min_length=1, max_length=32, description="Version of the consent text agreed to")
    source: str | None = Field(default=None, min_length=1, max_length=64,
                               description="Where it was given (defaults: pos for POS keys, app for members, "
                                           "staff otherwise)")


class ConsentOut(BaseModel):
    channel: str
    granted: bool
    changed_at: datetime
    source: str
    text_version: str



@router.get("/members/{member_id}/consents", response_model=Page[ConsentOut],
            summary="A member's consents, one per channel they answered for")
async def member_consents(member_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                          caller: Principal = allow("clerk", "manager", "marketer", "admin", scopes=["members:read"],
                                                    member=True)) -> Page[ConsentOut]:
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member sees only their own record", member_id=str(member_id))
    rows = await request.app.state.services.call(request, "members", "consents", member_id=str(member_id))
    items, cursor = page_of_all(rows, paging)
    return Page[ConsentOut](items=[ConsentOut(**row) for row in items], next_cursor=cursor)


@router.put("/members/{member_id}/consents/{channel}", response_model=ConsentOut,
            summary="Give or withdraw consent for a channel (takes effect at once)")
async def set_member_consent(member_id: uuid.UUID, channel: ConsentChannel, body: ConsentBody, request: Request,
                             caller: Principal = allow("clerk", "manager", "admin", scopes=["members:write"],
                                                       member=True)) -> ConsentOut:
    # recorded at any till of the chain (a member shops everywhere); a member only for themselves
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member changes only their own consent", member_id=str(member_id))
    source = body.source or ("pos" if caller.kind == "key" else "app" if caller.kind == "member" else "staff")
    row = await request.app.state.services.call(request, "members", "set_consent", member_id=str(member_id),
                                                channel=channel, granted=body.granted, source=source,
                                                text_version=body.text_version)
    return ConsentOut(**row)


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merged_member_id: uuid.UUID = Field(description="The member that disappears into this one")


class BulkTagsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store: str | None = Field(default=None, max_length=64)
    tag: str | None = Field(default=None, max_length=32)
    status: Literal["active", "frozen"] | None = None
    birthday_month: int | None = Field(default=None, ge=1, le=12)
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)


class BulkTagsOut(BaseModel):
    members_changed: int


@router.post("/members/{member_id}/merge", response_model=MemberOut,
             summary="Merge another member into this one (the other's identifiers then lead here)",
             responses={409: {"description": "One of them is merged or erased already"}})
async def merge_members(member_id: uuid.UUID, body: MergeBody, request: Request,
                        caller: Principal = allow("manager", "admin")) -> MemberOut:
    for target, field in ((member_id, "member_id"), (body.merged_member_id, "merged_member_id")):
        await check_member_scope(request, caller, str(target), field)
    request.state.idempotency_redact = PERSONAL_TOP_FIELDS
    member = await request.app.state.services.call(request, "members", "merge", survivor_id=str(member_id),
                                                   merged_id=str(body.merged_member_id))
    await request.app.state.db.run(repo.revoke_subject_tokens, "member", str(body.merged_member_id))
    await request.app.state.auditor.record(request, "member.merged", "ok", object_type="member",
                                           object_id=str(member_id),
                                           details={"merged_member_id": str(body.merged_member_id)})
    request.state.audited = True
    return await member_out(request, caller, member)


@router.post("/members/{member_id}/erase", response_model=MemberOut,
             summary="Erase a member's personal data irreversibly (accounting totals are kept)")
async def erase_member(member_id: uuid.UUID, request: Request,
                       caller: Principal = allow("manager", "admin")) -> MemberOut:
    await check_member_scope(request, caller, str(member_id))
    request.state.idempotency_redact = PERSONAL_TOP_FIELDS
    # the gateway's own traces of them first (codes sent to their phone), so a retry after a failure finds them
    known = await request.app.state.services.call(request, "members", "get", member_id=str(member_id))
    if known["member_id"] == str(member_id):  # not a merged one's survivor
        await request.app.state.db.run(repo.forget_member_codes, str(member_id), known.get("phone"))
    member = await request.app.state.services.call(request, "members", "erase", member_id=str(member_id))
    await request.app.state.db.run(repo.revoke_subject_tokens, "member", str(member_id))
    await request.app.state.auditor.record(request, "member.erased", "ok", object_type="member",
                                           object_id=str(member_id))
    request.state.audited = True
    return await member_out(request, caller, member)


@router.get("/members/{member_id}/export", summary="Everything the platform holds about a member, as JSON",
            description="Collected from every service (each answers `export_member`); a part a service "
                        "cannot deliver right now is reported as an error instead of being left out silently.")
async def export_member(member_id: uuid.UUID, request: Request,
                        caller: Principal = allow("manager", "admin", member=True)) -> dict[str, Any]:
    await check_member_scope(request, caller, str(member_id))
    services = request.app.state.services
    names = ("members", "points", "campaigns", "notify", "feed", "care")
    parts = await asyncio.gather(*(services.call(request, name, "export_member", member_id=str(member_id))
                                   for name in names), return_exceptions=True)
    if isinstance(parts[0], BaseException):
        raise parts[0]  # no member, or members is down: nothing to export
    export: dict[str, Any] = {"member_id": str(member_id), "exported_at": datetime.now().astimezone().isoformat()}
    for name, part in zip(names, parts, strict=True):
        export[name] = {"error": type(part).__name__} if isinstance(part, BaseException) else part
    if caller.kind != "member":
        await request.app.state.auditor.record(request, "member.exported", "ok", object_type="member",
                                               object_id=str(member_id))
    return export


@router.post("/members/bulk-tags", response_model=BulkTagsOut,
             summary="Add or remove tags on every member a filter selects")
async def bulk_tags(body: BulkTagsBody, request: Request,
                    caller: Principal = allow("manager", "marketer", "admin")) -> BulkTagsOut:
    body.registered_from = query_time(body.registered_from, "registered_from")
    body.registered_to = query_time(body.registered_to, "registered_to")
    selection = body.model_dump(mode="json", exclude={"add", "remove"}, exclude_none=True)
    if not selection:
        raise ApiError(422, "invalid_input", "give at least one filter (store, tag, status, ...)", field="store")
    if caller.stores is not None:
        selection["stores"] = sorted(caller.stores)
    result = await request.app.state.services.call(request, "members", "bulk_tags", filter=selection,
                                                   add=body.add, remove=body.remove, timeout=120)
    await request.app.state.auditor.record(request, "member.bulk_tags", "ok", object_type="member",
                                           details={"filter": selection, "add": body.add, "remove": body.remove,
                                                    "changed": result["members_changed"]})
    request.state.audited = True
    return BulkTagsOut(**result)


class SelfRegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(pattern=r"^\d{6}$", description="From POST /v1/auth/member/code with purpose=register")
    name: str = Field(min_length=1, max_length=100)
    channel: Literal["web", "app"] = Field(default="app", description="Where the member signed up")
    registration_store: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$", examples=["SH-001"],
        description="The store the member signed up at or for (a QR code at its till, the store they chose)")
    gender: Gender | None = None
    birthday: date | None = None
    email: str | None = Field(default=None, max_length=254)
    preferences: dict[str, PreferenceValue] = Field(default_factory=dict)


class SelfRegisterOut(BaseModel):
    member: MemberOut
    created: bool
    access_token: str
    refresh_token: str
    token_type: str = "bearer"


# Lives under /v1/auth (it logs the member in, and /members/{member_id} must stay unambiguous).
auth_router = APIRouter(tags=["auth"])


@auth_router.post("/auth/member/register", status_code=201, response_model=SelfRegisterOut,
             summary="A member registers from the web or the app (phone proven by a one-time code)",
             responses={200: {"description": "The phone was a member already: logged in instead"},
                        401: {"description": "Code wrong, used or expired"}})
async def self_register(body: SelfRegisterBody, request: Request, response: Response) -> SelfRegisterOut:
    from services.gateway.routes_auth import member_tokens, verify_code

    fields = body.model_dump(mode="json", exclude={"code"})
    # a field members refuses (a name, say) must not spend the code: the member corrects it and retries
    await request.app.state.services.call(request, "members", "check_registration", **fields)
    await verify_code(request, body.phone, body.code)
    result = await request.app.state.services.call(request, "members", "register", **fields)
    member = result["member"]
    tokens = await member_tokens(request, member["member_id"])
    if not result["created"]:
        response.status_code = 200
    me = Principal("member", member["member_id"], "member", member_id=member["member_id"])
    return SelfRegisterOut(member=await member_out(request, me, member), created=result["created"],
                           access_token=tokens.access_token, refresh_token=tokens.refresh_token)
