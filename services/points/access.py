"""Who may do what inside points (the gateway checks too; these hold for any caller)."""
from __future__ import annotations

from contracts.errors import Forbidden
from service_runtime.base import Caller


def check_store(caller: Caller, store_code: str | None, field: str = "store") -> None:
    if caller.stores is not None and store_code not in caller.stores:
        raise Forbidden(f"not allowed for store {store_code!r}", field)


def check_member(caller: Caller, member_id: str) -> None:
    if caller.kind == "member" and caller.member_id != member_id:
        raise Forbidden("a member sees only their own points", "member_id")


def require_staff(caller: Caller, *roles: str) -> None:
    if caller.kind == "internal":
        return
    if caller.kind != "staff" or not set(roles) & set(caller.roles):
        raise Forbidden(f"for {', '.join(roles)} only")
