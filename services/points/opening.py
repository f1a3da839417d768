"""Accounts opened on first use: a sale (hold, activity, look-up) for a member registered a moment
ago can come before points handles member.registered. Only when an account is missing, one RPC
asks members whether those ids and card numbers are members; the confirmed active ones get their
account as the event would open it (the event, later, finds it open and leaves it as it is).
What members does not know is an unknown member."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import eventlet
from nameko.exceptions import RemoteError, UnknownService

from contracts.errors import Conflict
from service_runtime.config import env_int
from service_runtime.db import Tx, WorkerDb
from services.points import repo

MEMBERS_TIMEOUT = env_int("POINTS_MEMBERS_TIMEOUT_SECONDS", 5)
T = TypeVar("T")


class Missing(Exception):
    """Some member references have no account yet: confirm them with members, then try again."""

    def __init__(self, member_ids: Iterable[str], numbers: Iterable[str]) -> None:
        super().__init__("accounts missing")
        self.member_ids, self.numbers = sorted(set(member_ids)), sorted(set(numbers))


def unknown(member_refs: Iterable[str], resolved: dict[str, Any], confirmed: set[str]) -> list[str]:
    """References with no account that members has not been asked about yet."""
    return [ref for ref in member_refs if ref not in resolved and ref not in confirmed]


def confirm(members: Any, member_ids: list[str], numbers: list[str]) -> list[dict[str, Any]]:
    """The members among these references (one RPC, with a timeout)."""
    try:
        with eventlet.Timeout(MEMBERS_TIMEOUT):
            found: list[dict[str, Any]] = members.identify(member_ids=member_ids, member_numbers=numbers)
            return found
    except (eventlet.Timeout, UnknownService):
        raise Conflict("the members service did not answer to confirm this member: retry",
                       "member_id" if member_ids else "member_number") from None
    except RemoteError as exc:
        raise Conflict(f"the members service could not confirm this member: {exc.value}",
                       "member_id" if member_ids else "member_number") from None


def open_confirmed(tx: Tx, members: list[dict[str, Any]]) -> int:
    """Open the accounts of confirmed active members (frozen, merged and erased ones open by
    their events). How many were opened."""
    return repo.open_accounts(tx, [{"member_id": m["member_id"], "opened_by_event": None,
                                     "member_number": m["member_number"],
                                     "registration_store": m["registration_store"]}
                                    for m in members if m.get("status") == "active"])


def open_missing(db: WorkerDb, members: Any, missing: Missing) -> None:
    """Accounts of members registered a moment ago (member.registered not handled yet)."""
    found = confirm(members, missing.member_ids, missing.numbers)
    if found:
        with db.transaction() as tx:
            open_confirmed(tx, found)


def with_opening(db: WorkerDb, members: Any, attempt: Callable[[bool], T]) -> T:
    """attempt(confirmed); when it finds an account missing, members confirms the member (the
    account opens) and it runs once more, now answering an unknown member."""
    try:
        return attempt(False)
    except Missing as missing:
        open_missing(db, members, missing)
        return attempt(True)
