"""/v1/auth: staff login (OAuth2 password flow), refresh, logout; member login by one-time code."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from services.gateway import repo
from services.gateway.errors import ApiError
from services.gateway.rpc import RemoteError
from services.gateway.security import secrets
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal
from services.gateway.views import mask_phone

router = APIRouter(tags=["auth"])
CODES_PER_HOUR = 5  # one-time codes sent to one phone per hour
WRONG_CODES_PER_HOUR = 10  # wrong guesses for one phone per hour, across its codes
log = logging.getLogger(__name__)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid")


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=10, max_length=200)


class MemberCodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=1, max_length=32)
    purpose: Literal["login", "register"] = Field(
        default="login", description="register: also send a code to a phone that is not a member yet")


class MemberCodeOut(BaseModel):
    sent: bool = Field(description="Always true: whether the phone belongs to a member is not disclosed")
    expires_in: int
    delivery: str = Field(description="'dev' means the DEVELOPMENT DELIVERY CHANNEL (log and database)")


class MemberTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(pattern=r"^\d{6}$")


class WhoAmI(BaseModel):
    kind: str
    id: str
    name: str
    roles: list[str]
    stores: list[str] | None
    scopes: list[str]
    member_id: str | None


async def _tokens(request: Request, kind: str, subject: str, ttl: int, **claims: object) -> TokenOut:
    settings = request.app.state.settings
    access = secrets.issue_access_token(settings.jwt_secret, subject, kind, ttl, **claims)
    refresh, refresh_hash = secrets.new_refresh_token()
    await request.app.state.db.run(repo.store_refresh_token, refresh_hash, kind, subject, settings.refresh_token_days)
    return TokenOut(access_token=access, refresh_token=refresh, expires_in=ttl)


def _staff_claims(row: Row[Any]) -> dict[str, object]:
    return {"name": row.username, "roles": list(row.roles),
            "stores": None if row.stores is None else list(row.stores)}


@router.post("/auth/token", response_model=TokenOut, summary="Staff login (OAuth2 password flow)",
             responses={401: {"description": "Wrong username or password"},
                        423: {"description": "Account locked after too many failed logins"}})
async def login(request: Request, username: Annotated[str, Form(max_length=100)],
                password: Annotated[str, Form(max_length=200)]) -> TokenOut:
    db, auditor, settings = request.app.state.db, request.app.state.auditor, request.app.state.settings
    request.state.audited = True
    row = await db.run(repo.staff_by_username, username)
    if row is not None and row.locked_until is not None and row.locked_until > datetime.now(timezone.utc):
        await auditor.record(request, "login.refused_locked", "locked", object_type="staff", object_id=str(row.id))
        seconds = int((row.locked_until - datetime.now(timezone.utc)).total_seconds()) + 1
        raise ApiError(423, "account_locked", "too many failed logins; try again later",
                       headers={"Retry-After": str(seconds)})
    valid = await anyio.to_thread.run_sync(secrets.verify_password, row.password_hash if row else None, password)
    if row is None or not valid or row.disabled:
        # the typed name is recorded only when it is an account's (a password typed into it stays out)
        details = {"username": row.username} if row is not None else {"username_known": False}
        if row is not None:
            result = await db.run(repo.record_login_failure, str(row.id), settings.login_max_failures,
                                  settings.login_lock_seconds)
            if getattr(result, "locked_until", None) is not None:
                await auditor.record(request, "login.locked", "locked", object_type="staff", object_id=str(row.id),
                                     details=details)
        await auditor.record(request, "login.failed", "denied", object_type="staff",
                             object_id=str(row.id) if row else None, details=details)
        raise ApiError(401, "invalid_credentials", "wrong username or password",
                       headers={"WWW-Authenticate": "Bearer"})
    await db.run(repo.record_login_success, str(row.id))
    actor = Principal("staff", str(row.id), row.username, roles=frozenset(row.roles))
    await auditor.record(request, "login.succeeded", "ok", object_type="staff", object_id=str(row.id), actor=actor)
    return await _tokens(request, "staff", str(row.id), settings.access_token_seconds, **_staff_claims(row))


@router.post("/auth/refresh", response_model=TokenOut, summary="Trade a refresh token for new tokens (rotation)",
             responses={401: {"description": "Refresh token unknown, used, revoked or expired"}})
async def refresh(body: RefreshBody, request: Request) -> TokenOut:
    db, settings = request.app.state.db, request.app.state.settings
    used = await db.run(repo.use_refresh_token, secrets.sha256_hex(body.refresh_token))
    if used is None:
        await request.app.state.auditor.record(request, "auth.refresh_refused", "denied")
        raise ApiError(401, "invalid_refresh_token", "refresh token unknown, used, revoked or expired")
    if used.subject_kind == "member":
        return await _tokens(request, "member", used.subject_id, settings.member_token_seconds)
    row = await db.run(repo.staff_by_id, used.subject_id)
    if row is None or row.disabled:
        raise ApiError(401, "invalid_refresh_token", "account disabled")
    return await _tokens(request, "staff", str(row.id), settings.access_token_seconds, **_staff_claims(row))


@router.post("/auth/logout", status_code=204, summary="Revoke a refresh token")
async def logout(body: RefreshBody, request: Request) -> Response:
    await request.app.state.db.run(repo.use_refresh_token, secrets.sha256_hex(body.refresh_token))
    return Response(status_code=204)


async def _lookup_phone(request: Request, phone: str) -> dict[str, Any]:
    try:
        result: dict[str, Any] = await request.app.state.services.call(request, "members", "lookup_phone",
                                                                       phone=phone)
        return result
    except RemoteError as exc:
        if exc.exc_type == "InvalidInput":
            raise ApiError(422, "invalid_input", exc.message, field="phone") from None
        raise


@router.post("/auth/member/code", status_code=202, response_model=MemberCodeOut,
             summary="Send a one-time code to a phone, to log in or to register")
async def member_code(body: MemberCodeBody, request: Request) -> MemberCodeOut:
    settings = request.app.state.settings
    if settings.otp_delivery not in ("dev", "notify"):
        raise ApiError(503, "delivery_unavailable",
                       "no delivery channel for one-time codes is configured (OTP_DELIVERY)")
    found = await _lookup_phone(request, body.phone)
    sent, wrong = await request.app.state.db.run(repo.member_code_budget, found["phone"])
    if sent >= CODES_PER_HOUR or wrong >= WRONG_CODES_PER_HOUR:
        await request.app.state.auditor.record(request, "member_code.throttled", "denied")
        raise ApiError(429, "rate_limited", "too many codes for this phone; try again within the hour",
                       headers={"Retry-After": "3600"})
    if found["member_id"] is not None or body.purpose == "register":
        code = secrets.new_member_code()
        await request.app.state.db.run(repo.store_member_code, found["phone"], found["member_id"],
                                       secrets.sha256_hex(code), settings.otp_seconds,
                                       code if settings.otp_delivery == "dev" else None)
        if settings.otp_delivery == "notify":
            await _send_code(request, found["phone"], code, body.purpose, settings.otp_seconds)
        else:
            # which phone, masked (the log outlives an erasure); OTP_DELIVERY=notify logs no code at all
            log.warning("DEVELOPMENT DELIVERY CHANNEL: one-time code for %s, phone %s, is %s",
                        f"member {found['member_id']}" if found["member_id"] else "a new registration",
                        mask_phone(found["phone"]), code)
    return MemberCodeOut(sent=True, expires_in=settings.otp_seconds, delivery=settings.otp_delivery)


async def _send_code(request: Request, phone: str, code: str, purpose: str, seconds: int) -> None:
    """OTP_DELIVERY=notify: one RPC; notify sends the SMS at once (no marketing rules) and limits codes per
    phone itself; its refusal (too many codes, or the SMS provider failing) is a 429 here."""
    try:
        await request.app.state.services.call(request, "notify", "send_code", phone=phone, code=code,
                                              purpose=purpose, minutes=max(1, min(60, seconds // 60)))
    except RemoteError as exc:
        if exc.exc_type == "Conflict":
            raise ApiError(429, "rate_limited", exc.message, headers={"Retry-After": "60"}) from None
        raise


async def verify_code(request: Request, phone: str, code: str) -> dict[str, Any]:
    """The looked-up phone once its one-time code is proven; 401 (audited) otherwise."""
    try:
        found = await _lookup_phone(request, phone)
    except ApiError:
        found = None
    if found is not None and (await request.app.state.db.run(repo.member_code_budget, found["phone"]))[1] \
            >= WRONG_CODES_PER_HOUR:
        found = None  # too many wrong guesses for this phone this hour: even a right code is refused
    if found is None or not await request.app.state.db.run(repo.consume_member_code, found["phone"],
                                                           secrets.sha256_hex(code)):
        await request.app.state.auditor.record(request, "member_login.failed", "denied")
        raise ApiError(401, "invalid_code", "code wrong, used or expired")
    return found


async def member_tokens(request: Request, member_id: str) -> TokenOut:
    return await _tokens(request, "member", member_id, request.app.state.settings.member_token_seconds)


@router.post("/auth/member/token", response_model=TokenOut, summary="Member login with a one-time code",
             responses={401: {"description": "Code wrong, used or expired, or no such member"}})
async def member_token(body: MemberTokenBody, request: Request) -> TokenOut:
    found = await verify_code(request, body.phone, body.code)
    if found["member_id"] is None:
        raise ApiError(401, "invalid_code", "no member has this phone; register first")
    return await member_tokens(request, found["member_id"])


@router.get("/me", response_model=WhoAmI, summary="Who the credentials belong to")
async def whoami(request: Request, caller: Principal = allow("clerk", "manager", "marketer", "admin", "auditor",
                                                             any_key=True, member=True)) -> WhoAmI:
    name = caller.name
    if caller.kind == "member":  # a member's token carries no name (it can change): members has it
        name = (await request.app.state.services.call(request, "members", "get", member_id=caller.member_id))["name"]
    return WhoAmI(kind=caller.kind, id=caller.id, name=name, roles=sorted(caller.roles),
                  stores=None if caller.stores is None else sorted(caller.stores), scopes=sorted(caller.scopes),
                  member_id=caller.member_id)
