"""Who may do what with coupons (the gateway checks too; this holds for any caller)."""
from __future__ import annotations

from contracts.errors import Forbidden
from service_runtime.base import Caller

MANAGERS = ("admin", "marketer")
READERS = (*MANAGERS, "manager", "auditor")
AT_THE_TILL = ("clerk", "manager", "admin")


def at_store(caller: Caller, store_code: str) -> None:
    if caller.kind == "member":
        raise Forbidden("members do not redeem coupons themselves")
    if caller.stores is not None and store_code not in caller.stores:
        raise Forbidden(f"not allowed for store {store_code!r}", "store")


def own(caller: Caller, member_id: str) -> None:
    if caller.kind == "member" and caller.member_id != member_id:
        raise Forbidden("a member reaches only their own coupons", "member_id")


def exchanger(caller: Caller, store_code: str) -> None:
    """Exchanges are made by the member or by staff at a counter of a store they may serve."""
    if caller.kind == "key" or (caller.kind == "staff" and not set(AT_THE_TILL) & set(caller.roles)):
        raise Forbidden("exchanges are made by the member or by staff at a counter")
    if caller.stores is not None and store_code not in caller.stores:
        raise Forbidden(f"not allowed for store {store_code!r}", "store")
