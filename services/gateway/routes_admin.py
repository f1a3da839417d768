"""/v1/staff and /v1/api-keys: admins manage who may call the API."""
from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal, get_args

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Row

from services.gateway import repo
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, page, page_params
from services.gateway.security import secrets
from services.gateway.security.policy import allow
from services.gateway.security.principal import (
    CHAIN_ONLY_SCOPES,
    DEFAULT_KEY_SCOPES,
    KEY_SCOPES,
    STAFF_ROLES,
    Principal,
)

router = APIRouter(tags=["administration"])

Role = Literal["clerk", "manager", "marketer", "admin", "auditor"]
StoreCode = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_USERNAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.@\-]{2,99}$")
assert set(get_args(Role)) == set(STAFF_ROLES)


def _check_password(password: str) -> str:
    if len(password) < secrets.MIN_PASSWORD_LENGTH:
        raise ValueError(f"at least {secrets.MIN_PASSWORD_LENGTH} characters")
    return password


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=100, description="Letters, digits, _ . @ -")
    password: str = Field(max_length=200)
    roles: list[Role] = Field(min_length=1, max_length=5)
    stores: list[str] | None = Field(default=None, max_length=500, description="Null: the whole chain")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not _USERNAME.match(value):
            raise ValueError("letters, digits and _ . @ - only, starting with a letter or digit")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        return _check_password(value)


class StaffPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(default=None, max_length=200)
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=5)
    stores: list[str] | None = Field(default=None, max_length=500)
    chain_wide: bool | None = Field(default=None, description="True clears the store restriction")
    disabled: bool | None = None
    unlock: bool | None = Field(default=None, description="True clears a login lockout")

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        return None if value is None else _check_password(value)


class StaffOut(BaseModel):
    id: str
    username: str
    roles: list[str]
    stores: list[str] | None
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


def _staff_out(row: Row[Any]) -> StaffOut:
    return StaffOut(id=str(row.id), username=row.username, roles=list(row.roles),
                    stores=None if row.stores is None else list(row.stores),
                    disabled=row.disabled, locked_until=row.locked_until,
                    last_login_at=row.last_login_at, created_at=row.created_at)


def _stores(stores: list[str] | None) -> list[str] | None:
    if stores is None:
        return None
    pattern = re.compile(StoreCode.metadata[-1].pattern)
    for code in stores:
        if not code or len(code) > 64 or not pattern.match(code):
            raise ApiError(422, "invalid_input", f"not a store code: {code[:64]!r}", field="stores")
    return sorted(set(stores))


@router.post("/staff", status_code=201, response_model=StaffOut, summary="Create a staff user",
             responses={409: {"description": "Username taken"}})
async def create_staff(body: StaffIn, request: Request, caller: Principal = allow("admin")) -> StaffOut:
    if "admin" in body.roles and body.stores is not None:
        raise ApiError(422, "invalid_input", "admins act for the whole chain; leave stores empty", field="stores")
    password_hash = await anyio.to_thread.run_sync(secrets.hash_password, body.password)
    row = await request.app.state.db.run(repo.create_staff, body.username, password_hash,
                                         sorted(set(body.roles)), _stores(body.stores))
    if row is None:
        raise ApiError(409, "conflict", "username taken", field="username")
    await request.app.state.auditor.record(request, "staff.created", "ok", object_type="staff", object_id=str(row.id),
                                           details={"username": row.username, "roles": list(row.roles),
                                                    "stores": row.stores})
    request.state.audited = True
    return _staff_out(row)


@router.get("/staff", response_model=Page[StaffOut], summary="List staff users")
async def list_staff(request: Request, paging: PageParams = Depends(page_params),
                     caller: Principal = allow("admin")) -> Page[StaffOut]:
    rows = await request.app.state.db.run(repo.list_staff, paging.position(str), paging.limit + 1)
    items, cursor = page(rows, paging.limit, lambda r: r.username)
    return Page[StaffOut](items=[_staff_out(r) for r in items], next_cursor=cursor)


@router.patch("/staff/{staff_id}", response_model=StaffOut, summary="Change roles, stores, password or status",
              responses={404: {"description": "No such staff user"},
                         409: {"description": "Admins cannot change their own roles, stores or status"}})
async def patch_staff(staff_id: uuid.UUID, body: StaffPatch, request: Request,
                      caller: Principal = allow("admin")) -> StaffOut:
    changes: dict[str, object] = {}
    if body.password is not None:
        changes["password_hash"] = await anyio.to_thread.run_sync(secrets.hash_password, body.password)
    if body.roles is not None:
        changes["roles"] = sorted(set(body.roles))
    if body.stores is not None:
        changes["stores"] = _stores(body.stores)
    if body.chain_wide:
        changes["stores"] = None
    if body.disabled is not None:
        changes["disabled"] = body.disabled
    if body.unlock:
        changes.update(locked_until=None, failed_logins=0)
    if not changes:
        raise ApiError(422, "invalid_input", "nothing to change")
    if str(staff_id) == caller.id and ({"roles", "stores", "disabled"} & changes.keys()):
        raise ApiError(409, "conflict", "admins cannot change their own roles, stores or status; ask another admin")
    row = await request.app.state.db.run(repo.update_staff, str(staff_id), changes)
    if row is None:
        raise ApiError(404, "not_found", "no such staff user", field="staff_id")
    if body.disabled or body.password is not None:
        await request.app.state.db.run(repo.revoke_subject_tokens, "staff", str(staff_id))
    request.app.state.guard.forget_staff(str(staff_id))
    await request.app.state.auditor.record(request, "staff.updated", "ok", object_type="staff",
                                           object_id=str(staff_id),
                                           details={"changed": sorted(k for k in changes if k != "password_hash")
                                                    + (["password"] if "password_hash" in changes else [])})
    request.state.audited = True
    return _staff_out(row)


# -- API keys -----------------------------------------------------------------------------
class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="e.g. 'SH-001 till 3'")
    kind: Literal["pos", "erp"]
    store: str | None = Field(default=None, min_length=1, max_length=64,
                              description="Required for POS keys; ERP keys act for the whole chain")
    scopes: list[str] | None = Field(default=None, description=f"Subset of {', '.join(KEY_SCOPES)}")


class ApiKeyOut(BaseModel):
    id: str
    prefix: str
    name: str
    kind: str
    store: str | None
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str | None = Field(description="The secret key. Shown only now: store it safely "
                                        "(null in an Idempotency-Key replay)")


def _key_out(row: Row[Any], cls: type[ApiKeyOut] = ApiKeyOut, **extra: str) -> ApiKeyOut:
    r = row
    return cls(id=str(r.id), prefix=r.prefix, name=r.name, kind=r.kind, store=r.store,
               scopes=list(r.scopes), created_by=r.created_by, created_at=r.created_at,
               last_used_at=r.last_used_at, revoked_at=r.revoked_at, **extra)


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, summary="Create a POS or ERP API key")
async def create_api_key(body: ApiKeyIn, request: Request, caller: Principal = allow("admin")) -> ApiKeyOut:
    if body.kind == "pos" and body.store is None:
        raise ApiError(422, "invalid_input", "a POS key belongs to one store", field="store")
    if body.kind == "erp" and body.store is not None:
        raise ApiError(422, "invalid_input", "an ERP key acts for the whole chain; leave store empty", field="store")
    if body.store is not None:
        _stores([body.store])
    scopes = sorted(set(body.scopes if body.scopes is not None else DEFAULT_KEY_SCOPES[body.kind]))
    unknown = set(scopes) - set(KEY_SCOPES)
    if unknown or not scopes:
        raise ApiError(422, "invalid_input", f"unknown scopes {sorted(unknown)}" if unknown else "no scopes",
                       field="scopes")
    chain_only = set(scopes) & CHAIN_ONLY_SCOPES
    if body.kind == "pos" and chain_only:
        raise ApiError(422, "invalid_input", f"{sorted(chain_only)} are for ERP keys only", field="scopes")
    request.state.idempotency_redact = ("key",)  # a retry must not be able to read the secret again
    key, prefix, secret_hash = secrets.new_api_key()
    row = await request.app.state.db.run(repo.create_api_key, prefix=prefix, secret_hash=secret_hash, name=body.name,
                                         kind=body.kind, store=body.store, scopes=scopes, created_by=caller.name)
    await request.app.state.auditor.record(request, "api_key.created", "ok", object_type="api_key",
                                           object_id=str(row.id), store=body.store,
                                           details={"kind": body.kind, "scopes": scopes, "prefix": prefix})
    request.state.audited = True
    return _key_out(row, ApiKeyCreated, key=key)


@router.get("/api-keys", response_model=Page[ApiKeyOut], summary="List API keys (never their secrets)")
async def list_api_keys(request: Request, paging: PageParams = Depends(page_params),
                        caller: Principal = allow("admin")) -> Page[ApiKeyOut]:
    position = paging.position(str)
    if position is not None and not re.fullmatch(r"[0-9T:.+\-]{10,40}\|[0-9a-f\-]{36}", position):
        raise ApiError(422, "invalid_input", "not a cursor this API gave out", field="cursor")
    rows = await request.app.state.db.run(repo.list_api_keys, position, paging.limit + 1)
    items, cursor = page(rows, paging.limit, lambda r: f"{r.created_at.isoformat()}|{r.id}")
    return Page[ApiKeyOut](items=[_key_out(r) for r in items], next_cursor=cursor)


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key",
               responses={404: {"description": "No such live key"}})
async def revoke_api_key(key_id: uuid.UUID, request: Request, caller: Principal = allow("admin")) -> Response:
    row = await request.app.state.db.run(repo.revoke_api_key, str(key_id))
    if row is None:
        raise ApiError(404, "not_found", "no such live key", field="key_id")
    request.app.state.guard.forget_key(row.prefix)
    await request.app.state.auditor.record(request, "api_key.revoked", "ok", object_type="api_key",
                                           object_id=str(key_id), store=row.store)
    request.state.audited = True
    return Response(status_code=204)
