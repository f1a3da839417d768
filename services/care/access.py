"""Who may do what to a ticket: the one place the care service decides it.

Members reach their own tickets only (open, read, comment, close a resolved one, rate). Clerks,
managers and admins handle tickets; store-bound staff only those of their stores. Goodwill points
are for managers and admins (points.adjust checks them again, with their daily limit). Auditors
read. API keys have no business here.
"""
from __future__ import annotations

from typing import Any

from contracts.access import Caller
from contracts.errors import Forbidden

MEMBER_ACTIONS = frozenset({"open", "read", "comment", "close", "rate"})
ROLE_ACTIONS = {
    "clerk": frozenset({"open", "read", "comment", "transition", "assign"}),
    "manager": frozenset({"open", "read", "comment", "transition", "assign", "goodwill"}),
    "admin": frozenset({"open", "read", "comment", "transition", "assign", "goodwill"}),
    "auditor": frozenset({"read"}),
}


def check(caller: Caller, action: str, member_id: str | None, stores: tuple[str | None, ...] = ()) -> None:
    """Raise Forbidden unless ``caller`` may do ``action`` to a ticket of ``member_id`` at ``stores``
    (the ticket's store and the store handling it; a new ticket's store)."""
    if caller.is_service:
        return
    if caller.kind == "member":
        if action not in MEMBER_ACTIONS or member_id is None or caller.member_id != member_id:
            raise Forbidden("a member reaches only their own tickets", "ticket_id")
        return
    if caller.kind != "staff" or not any(action in ROLE_ACTIONS.get(role, ()) for role in caller.roles):
        raise Forbidden(f"{action} on tickets is not open to your role", "ticket_id")
    if caller.stores is not None and not set(caller.stores) & {s for s in stores if s}:
        raise Forbidden("this ticket is not at one of your stores", "store")


def list_scope(caller: Caller) -> dict[str, Any]:
    """The filters a list of tickets is held to: a member's own, a store-bound staff member's stores."""
    if caller.is_service:
        return {}
    if caller.kind == "member":
        return {"member_id": caller.member_id}
    if caller.kind != "staff" or not any("read" in ROLE_ACTIONS.get(role, ()) for role in caller.roles):
        raise Forbidden("tickets are not open to your role", "ticket_id")
    return {} if caller.stores is None else {"stores": tuple(caller.stores)}
