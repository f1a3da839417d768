"""Who may do what in the fraud service: the one place it decides it.

Loss prevention reads alerts and rules: managers (store-bound ones only alerts with a fact at one
of their stores), admins and auditors. Managers and admins acknowledge alerts; only admins change
rules. Cashiers, API keys and members have no business here: the alerts are about them.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contracts.access import Caller
from contracts.errors import Forbidden

ROLE_ACTIONS = {
    "manager": frozenset({"read", "acknowledge"}),
    "admin": frozenset({"read", "acknowledge", "configure"}),
    "auditor": frozenset({"read"}),
}


def check(caller: Caller, action: str, stores: Iterable[str] | None = None) -> None:
    """Forbidden unless ``caller`` may ``action``; on an alert (``stores``), a store-bound caller must
    cover one of its stores."""
    if caller.is_service:
        return
    if caller.kind != "staff" or not any(action in ROLE_ACTIONS.get(role, ()) for role in caller.roles):
        raise Forbidden(f"{action} in fraud review is not open to your role", "alert_id")
    if stores is not None and caller.stores is not None and not set(caller.stores) & set(stores):
        raise Forbidden("this alert is not about one of your stores", "alert_id")


def list_scope(caller: Caller) -> dict[str, Any]:
    """The filters a list of alerts is held to: a store-bound manager's stores."""
    check(caller, "read")
    return {} if caller.is_service or caller.stores is None else {"stores": tuple(caller.stores)}
