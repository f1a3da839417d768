"""Who may call a route, declared in one line:

    caller: Principal = allow("clerk", "manager", "admin", scopes=["members:write"])

Staff pass when they hold one of the roles; API keys when they hold every listed scope
(a route without scopes is closed to keys, unless ``any_key=True``); members when
``member=True`` (the route then limits them to their own data). Anyone else gets 401 (no credentials) or 403 (audited).
A store-bound caller naming another store in a ``?store=`` query parameter gets 403 on every route.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from services.gateway.errors import ApiError
from services.gateway.security.principal import STAFF_ROLES, Principal

# Declared so the OpenAPI document shows both schemes and /docs can authorize; the
# credentials themselves are checked once per request by the guard middleware.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False,
                                     description="Staff or member access token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="POS or ERP API key")
_ACCESS: dict[Callable[..., Any], Access] = {}  # each dependency allow() made, and whom it lets in


def allow(*roles: str, scopes: list[str] | tuple[str, ...] = (), member: bool = False, any_key: bool = False,
          any_scope: tuple[str, ...] = ()) -> Any:
    unknown = set(roles) - set(STAFF_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")
    access = Access(frozenset(roles), frozenset(scopes), member, any_key, frozenset(any_scope))

    async def dependency(request: Request, _bearer: str | None = Depends(bearer_scheme),
                         _key: str | None = Depends(api_key_scheme)) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            raise ApiError(401, "unauthenticated", "credentials required: a bearer token or an X-API-Key",
                           headers={"WWW-Authenticate": "Bearer"})
        if not access.permits(principal):
            await deny(request, "this route is not open to your role or key scopes")
        # a `?store=` filter outside a store-bound caller's stores is refused, on every route at once,
        # rather than answered with an empty list that reads as "no data there"
        for asked in request.query_params.getlist("store"):
            if not principal.covers_store(asked):
                await deny(request, f"not allowed for store {asked!r}", field="store", store=asked)
        return principal

    _ACCESS[dependency] = access
    return Depends(dependency)


def access_of(dependency: Callable[..., Any] | None) -> Access | None:
    """Who may call a route whose dependency ``allow`` made (the OpenAPI document derives 401/403
    and "who may" from it); None for any other dependency."""
    return None if dependency is None else _ACCESS.get(dependency)


@dataclass(frozen=True)
class Access:
    roles: frozenset[str]
    scopes: frozenset[str]
    member: bool
    any_key: bool
    any_scopes: frozenset[str] = frozenset()

    def permits(self, principal: Principal) -> bool:
        if principal.kind == "staff":
            return bool(principal.roles & self.roles)
        if principal.kind == "key":
            return (self.any_key or (bool(self.scopes) and self.scopes <= principal.scopes)
                    or bool(self.any_scopes & principal.scopes))  # any_scope: one of them is enough
        return self.member

    def describe(self) -> str:
        who = [", ".join(sorted(self.roles)) + " staff"] if self.roles else []
        if self.any_key:
            who.append("any API key")
        elif self.scopes:
            who.append("API keys with " + " and ".join(f"`{s}`" for s in sorted(self.scopes)))
        elif self.any_scopes:
            who.append("API keys with " + " or ".join(f"`{s}`" for s in sorted(self.any_scopes)))
        if self.member:
            who.append("the member themselves")
        return "Who may call: " + ("; ".join(who) or "nobody") + "."


async def deny(request: Request, message: str, field: str | None = None, **details: Any) -> None:
    """Refuse with 403 and record the attempt in the audit log."""
    await request.app.state.auditor.record(request, "access.denied", "denied",
                                           details={"route": request.url.path, "reason": message, **details})
    request.state.audited = True
    raise ApiError(403, "forbidden", message, field=field)


async def require_store(request: Request, principal: Principal, store: str | None) -> None:
    """A store-bound caller may act only on its own stores' data."""
    if not principal.covers_store(store):
        await deny(request, f"not allowed for store {store!r}", store=store)
