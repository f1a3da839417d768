"""/v1/members: register, look up, search, update (optimistic concurrency), history, consent."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.rpc import UpdateMember
from services.gateway import repo
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, make_cursor, page_of_all, page_params
from services.gateway.rpc import RemoteError, RpcTimeout, RpcUnavailable
from services.gateway.security.policy import allow, deny, require_store
from services.gateway.security.principal import Principal
from services.gateway.validation import iso, query_time
from services.gateway.views import mask_email, mask_id_number, mask_phone, sees_contact_data

router = APIRouter(tags=["members"])
CONTACT_FIELDS = ("member.phone", "member.email", "member.id_number")
# what a stored answer (replayed for an Idempotency-Key) leaves out: it would outlive an erasure
PERSONAL_FIELDS = (*CONTACT_FIELDS, "member.name")
PERSONAL_TOP_FIELDS = tuple(f.removeprefix("member.") for f in PERSONAL_FIELDS)
_VERSION = re.compile(r"^[0-9]{1,9}$")

Gender = Literal["female", "male", "other", "undisclosed"]
ConsentChannel = Literal["sms", "email", "push", "marketing"]
PreferenceValue = str | int | float | bool | None


class RegisterMemberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["Li Lei"])
    phone: str = Field(min_length=1, max_length=32, examples=["13812345678"],
                       description="Mainland China mobile, or +<country code><number>")
    registration_store: str | None = Field(default=None, min_length=1, max_length=64,
                                           description="Defaults to the caller's store for store-bound callers")
    channel: Literal["pos", "web", "app", "staff", "import", "erp"] | None = Field(
        default=None, description="Defaults by caller: pos for POS keys, erp for ERP keys, staff for staff")
    gender: Gender | None = None
    birthday: date | None = Field(default=None, description="Not in the future, not before 1900")
    email: str | None = Field(default=None, max_length=254)
    id_number: str | None = Field(default=None, max_length=32)
    tags: list[str] = Field(default_factory=list, max_length=50)
    preferences: dict[str, PreferenceValue] = Field(default_factory=dict, description="At most 4 KiB as JSON")


UpdateMemberBody = UpdateMember  # the API takes the members service's contract as it is


class PointsSummary(BaseModel):
    """What a till shows next to the member (an expired hold holds nothing)."""

    balance: int
    tier: str
    held: int = Field(description="Points held by open holds (a redemption under way)")
    available: int = Field(description="Spendable now")


class MemberOut(BaseModel):
    member_id: str
    member_number: str
    name: str
    phone: str = Field(description="Masked (138****5678) unless the caller may see contact data")
    email: str | None = None
    id_number: str | None = None
    contact_masked: bool = Field(description="True when phone, email and ID number are masked for this caller")
    unreadable: list[str] = Field(default_factory=list, description="Contact fields that do not decrypt (shown "
                                  "empty; a key mix-up on this row, alerted on)")
    gender: str | None = None
    birthday: date | None = None
    registration_store: str | None
    channel: str
    tags: list[str] = Field(default_factory=list)
    preferences: dict[str, PreferenceValue] = Field(default_factory=dict)
    status: str
    version: int = Field(description="Also the ETag; send it as If-Match to update")
    created_at: datetime
    updated_at: datetime | None = None
    points: PointsSummary | None = Field(
        default=None, description="On a member's record and on look-ups by phone or card number (a till's); "
                                  "null elsewhere, or when the points service did not answer"
    )
    points_unavailable: bool = Field(
        default=False, description="True when the points service did not answer in time (down, restarting or "
                                   "overloaded): `points` is null because the balance is unknown, not because it "
                                   "is zero or the account is not open yet. The rest of the member is current; "
                                   "ask again in a few seconds for the points"
    )


class RegisterMemberOut(BaseModel):
    member: MemberOut
    created: bool


class MemberChangeOut(BaseModel):
    version: int
    changed_at: datetime
    actor_kind: str
    actor_id: str | None
    fields: dict[str, Any]


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


async def _member_out(request: Request, caller: Principal, member: dict[str, Any],
                      points: PointsSummary | None = None, points_unavailable: bool = False) -> MemberOut:
    full = sees_contact_data(caller, member.get("registration_store"), member["member_id"])
    if full and caller.kind in ("staff", "key"):
        await request.app.state.auditor.record(request, "member.contact_data_read", "ok", object_type="member",
                                               object_id=member["member_id"], store=member.get("registration_store"))
    shown = dict(member)
    if not full:
        shown["phone"] = mask_phone(member["phone"])
        shown["email"] = member.get("email") and mask_email(member["email"])
        shown["id_number"] = member.get("id_number") and mask_id_number(member["id_number"])
    return MemberOut(**shown, contact_masked=not full, points=points, points_unavailable=points_unavailable)


def _default_channel(caller: Principal) -> str:
    if caller.kind == "key":
        return "pos" if "pos" in caller.roles else "erp"
    return "staff"


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
        registration_store=store_code, channel=body.channel or _default_channel(caller))
    if not result["created"]:
        response.status_code = 200
    await request.app.state.auditor.record(
        request, "member.registered" if result["created"] else "member.register_existing", "ok",
        object_type="member", object_id=result["member"]["member_id"], store=store_code)
    request.state.audited = True
    response.headers["Location"] = f"/v1/members/{result['member']['member_id']}"
    response.headers["ETag"] = f'"{result["member"]["version"]}"'
    return RegisterMemberOut(member=await _member_out(request, caller, result["member"]), created=result["created"])


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
    registered_from: datetime | None = None, registered_to: datetime | None = None,
    caller: Principal = allow("clerk", "manager", "marketer", "admin", scopes=["members:read"]),
) -> Page[MemberOut]:
    filters: dict[str, Any] = {k: v for k, v in {
        "phone": phone, "member_number": member_number, "name_prefix": name_prefix, "tag": tag, "store": store_filter,
        "status": status, "birthday_month": birthday_month,
        "registered_from": iso(query_time(registered_from, "registered_from")),
        "registered_to": iso(query_time(registered_to, "registered_to"))}.items() if v is not None}
    if caller.stores is not None and not (phone or member_number):
        filters["stores"] = sorted(caller.stores)
    position = paging.position(str)
    result = await request.app.state.services.call(request, "members", "search", limit=paging.limit,
                                                   after=position, **filters)
    points = await _till_points(request, [m["member_id"] for m in result["items"]]) if phone or member_number \
        else {}
    items = [await _member_out(request, caller, m, None if points is None else points.get(m["member_id"]),
                               points_unavailable=points is None) for m in result["items"]]
    return Page[MemberOut](items=items, next_cursor=make_cursor(result["next"]) if result["next"] else None)


def _points_away(exc: BaseException) -> bool:
    """Points did not answer (down, stalled, breaker open): the member is shown without points."""
    return isinstance(exc, (RpcTimeout, RpcUnavailable)) or (
        isinstance(exc, RemoteError) and exc.exc_type == "ServiceUnavailable")


async def _till_points(request: Request, member_ids: list[str]) -> dict[str, PointsSummary] | None:
    """The till's look-up (by phone or card number) shows points too: one RPC for the page; the
    look-up still answers, without points (None: marked unavailable), if points does not."""
    if not member_ids:
        return {}
    try:
        found = await request.app.state.services.call(request, "points", "brief_accounts", member_ids=member_ids)
    except (RemoteError, RpcTimeout, RpcUnavailable) as exc:
        if _points_away(exc):
            return None
        return {}
    return {m: PointsSummary(**p) for m, p in found.items()}


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
    points, away = None, isinstance(account, BaseException) and _points_away(account)
    if isinstance(account, RemoteError) and account.exc_type == "NotFound":
        points = None  # the account opens when points handles member.registered
    elif isinstance(account, BaseException):
        if not away:
            raise account
    else:
        points = PointsSummary(balance=account["balance"], tier=account["tier"], held=account["held"],
                               available=account["available"])
    response.headers["ETag"] = f'"{member["version"]}"'
    return await _member_out(request, caller, member, points, points_unavailable=away)


def _expected_version(if_match: str | None) -> int:
    if if_match is None:
        raise ApiError(428, "precondition_required", "send If-Match with the member's version (its ETag)",
                       field="If-Match")
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not _VERSION.match(raw):
        raise ApiError(422, "invalid_input", "If-Match must be the ETag from GET, like \"3\"", field="If-Match")
    return int(raw)


async def _check_member_scope(request: Request, caller: Principal, member_id: str,
                              field: str = "member_id") -> dict[str, Any]:
    """A member reaches only their own record; store-bound staff and keys only their stores' members.
    ``field``: what the request calls this id, so an unknown one is a 404 naming it."""
    if caller.kind == "member":
        if caller.member_id != member_id:
            await deny(request, "a member sees only their own record", member_id=member_id)
        return {}
    try:
        member: dict[str, Any] = await request.app.state.services.call(request, "members", "get",
                                                                       member_id=member_id)
    except RemoteError as exc:
        if exc.field == "member_id":
            exc.field = field
        raise
    await require_store(request, caller, member.get("registration_store"))
    return member


@router.patch("/members/{member_id}", response_model=MemberOut, summary="Change a member (If-Match required)",
              responses={409: {"description": "Stale version, or the phone belongs to another member"},
                         428: {"description": "If-Match missing"}})
async def update_member(member_id: uuid.UUID, body: UpdateMemberBody, request: Request, response: Response,
                        if_match: str | None = Header(None, description="The ETag (version) you read"),
                        caller: Principal = allow("manager", "admin", member=True)) -> MemberOut:
    version = _expected_version(if_match)
    changes = body.model_dump(mode="json", exclude_unset=True)
    if not changes:
        raise ApiError(422, "invalid_input", "nothing to change")
    if caller.kind == "member" and "phone" in changes:
        # the phone is how a member logs in: moving to another number needs that number proven
        await deny(request, "a new phone number must be proven with a one-time code; ask a store", field="phone")
    await _check_member_scope(request, caller, str(member_id))
    member = await request.app.state.services.call(request, "members", "update", member_id=str(member_id),
                                                   expected_version=version, **changes)
    response.headers["ETag"] = f'"{member["version"]}"'
    if caller.kind != "member":
        await request.app.state.auditor.record(request, "member.updated", "ok", object_type="member",
                                               object_id=str(member_id), store=member.get("registration_store"),
                                               details={"fields": sorted(changes), "version": member["version"]})
        request.state.audited = True
    return await _member_out(request, caller, member)


@router.get("/members/{member_id}/history", response_model=Page[MemberChangeOut],
            summary="Who changed what, when (personal values are not repeated)")
async def member_history(member_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                         caller: Principal = allow("manager", "admin", "auditor", member=True)
                         ) -> Page[MemberChangeOut]:
    await _check_member_scope(request, caller, str(member_id))
    rows = await request.app.state.services.call(request, "members", "history", member_id=str(member_id))
    items, cursor = page_of_all(rows, paging)
    return Page[MemberChangeOut](items=[MemberChangeOut(**row) for row in items], next_cursor=cursor)


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
        await _check_member_scope(request, caller, str(target), field)
    request.state.idempotency_redact = PERSONAL_TOP_FIELDS
    member = await request.app.state.services.call(request, "members", "merge", survivor_id=str(member_id),
                                                   merged_id=str(body.merged_member_id))
    await request.app.state.db.run(repo.revoke_subject_tokens, "member", str(body.merged_member_id))
    await request.app.state.auditor.record(request, "member.merged", "ok", object_type="member",
                                           object_id=str(member_id),
                                           details={"merged_member_id": str(body.merged_member_id)})
    request.state.audited = True
    return await _member_out(request, caller, member)


@router.post("/members/{member_id}/erase", response_model=MemberOut,
             summary="Erase a member's personal data irreversibly (accounting totals are kept)")
async def erase_member(member_id: uuid.UUID, request: Request,
                       caller: Principal = allow("manager", "admin")) -> MemberOut:
    await _check_member_scope(request, caller, str(member_id))
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
    return await _member_out(request, caller, member)


@router.get("/members/{member_id}/export", summary="Everything the platform holds about a member, as JSON",
            description="Collected from every service (each answers `export_member`); a part a service "
                        "cannot deliver right now is reported as an error instead of being left out silently.")
async def export_member(member_id: uuid.UUID, request: Request,
                        caller: Principal = allow("manager", "admin", member=True)) -> dict[str, Any]:
    await _check_member_scope(request, caller, str(member_id))
    services = request.app.state.services
    names = ("members", "points", "campaigns", "notify")
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
    return SelfRegisterOut(member=await _member_out(request, me, member), created=result["created"],
                           access_token=tokens.access_token, refresh_token=tokens.refresh_token)
