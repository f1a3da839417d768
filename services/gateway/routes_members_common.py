"""What the /v1/members routes share: the members' answers, the points summary a till sees,
If-Match parsing and who may reach which member."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from contracts.rpc import UpdateMember
from services.gateway.errors import ApiError
from services.gateway.rpc import RemoteError, RpcTimeout, RpcUnavailable
from services.gateway.security.policy import deny, require_store
from services.gateway.security.principal import Principal
from services.gateway.views import mask_email, mask_id_number, mask_phone, sees_contact_data

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
    device: str | None = Field(default=None, min_length=1, max_length=64,
                               description="The member's own device (an app install id), for fraud signals; "
                                           "tills leave it out")


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
    lifecycle: Literal["new", "active", "at_risk", "dormant", "lost"] = Field(
        default="new", description="Lifecycle class from purchases and time (docs/lifecycle.md)")
    last_purchase_at: datetime | None = None
    purchase_count: int = Field(default=0, description="Sales points reported for this member")
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


async def member_out(request: Request, caller: Principal, member: dict[str, Any],
                      points: PointsSummary | None = None, points_unavailable: bool = False,
                      reads: list[tuple[str, str | None]] | None = None) -> MemberOut:
    """The member as this caller may see it; a full read of contact data is audited (with ``reads``,
    collected there for one audit write per page instead)."""
    full = sees_contact_data(caller, member.get("registration_store"), member["member_id"])
    if full and caller.kind in ("staff", "key"):
        if reads is not None:
            reads.append((member["member_id"], member.get("registration_store")))
        else:
            await request.app.state.auditor.record(request, "member.contact_data_read", "ok", object_type="member",
                                                   object_id=member["member_id"],
                                                   store=member.get("registration_store"))
    shown = dict(member)
    if not full:
        shown["phone"] = mask_phone(member["phone"])
        shown["email"] = member.get("email") and mask_email(member["email"])
        shown["id_number"] = member.get("id_number") and mask_id_number(member["id_number"])
    return MemberOut(**shown, contact_masked=not full, points=points, points_unavailable=points_unavailable)


def default_channel(caller: Principal) -> str:
    if caller.kind == "key":
        return "pos" if "pos" in caller.roles else "erp"
    return "staff"


def points_away(exc: BaseException) -> bool:
    """Points did not answer (down, stalled, breaker open): the member is shown without points."""
    return isinstance(exc, (RpcTimeout, RpcUnavailable)) or (
        isinstance(exc, RemoteError) and exc.exc_type == "ServiceUnavailable")


async def till_points(request: Request, member_ids: list[str]) -> dict[str, PointsSummary] | None:
    """The till's look-up (by phone or card number) shows points too: one RPC for the page; the
    look-up still answers, without points (None: marked unavailable), if points does not."""
    if not member_ids:
        return {}
    try:
        found = await request.app.state.services.call(request, "points", "brief_accounts", member_ids=member_ids)
    except (RemoteError, RpcTimeout, RpcUnavailable) as exc:
        if points_away(exc):
            return None
        return {}
    return {m: PointsSummary(**p) for m, p in found.items()}


def expected_version(if_match: str | None) -> int:
    if if_match is None:
        raise ApiError(428, "precondition_required", "send If-Match with the member's version (its ETag)",
                       field="If-Match")
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not _VERSION.match(raw):
        raise ApiError(422, "invalid_input", "If-Match must be the ETag from GET, like \"3\"", field="If-Match")
    return int(raw)


async def check_member_scope(request: Request, caller: Principal, member_id: str,
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

