"""Who may use coupons at a counter (the kernel in contracts/access.py; the gateway checks too)."""
from __future__ import annotations

from contracts.access import AT_THE_TILL, MEMBER, Caller, require, require_store
from contracts.errors import Forbidden


def at_store(caller: Caller, store_code: str) -> None:
    """Validation, redemption and refunds: any staff, key or service serving that store."""
    if caller.kind == "member":
        raise Forbidden("members do not redeem coupons themselves")
    require_store(caller, store_code)


def exchanger(caller: Caller, member_id: str, store_code: str) -> None:
    """Exchanges are made by the member or by staff at a counter of a store they may serve."""
    require(caller, AT_THE_TILL | {MEMBER}, member=member_id, store=store_code)
