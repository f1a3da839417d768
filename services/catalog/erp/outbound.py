"""Outbound writes into the ERP: what an adapter that writes offers, and the pure rules that shape what
it writes. Each write carries our *external id*; the adapter finds the ERP's record by it before
creating one, so a retry after a lost answer, or a rerun, never makes a second record.

- ``customer``: a member registered on our side (not one an import or the ERP itself brought), as the
  ERP's customer, external id ``loyalty:<member id>``.
- ``journal``: the day's change in points liability, external id ``loyalty-liability-<day>``: expense
  debited and liability credited by the growth (reversed when it shrank)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

from services.catalog.erp.interface import SourceUnavailable

PushKind = Literal["customer", "journal"]
FROM_ELSEWHERE = frozenset({"import", "erp"})  # members a migration or an ERP brought: that side has them
CENT = Decimal("0.01")


class Outbound(Protocol):
    """An adapter that writes. ``push`` answers the ERP's id of the record (found or created)."""

    def push(self, kind: PushKind, external_id: str, data: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class Line:
    account: str
    debit: Decimal
    credit: Decimal
    label: str


def customer_of(item: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A feed item (``member.registered``) as (external id, customer), or None when it should not go."""
    payload = item.get("data") or {}
    member = payload.get("member_id")
    if item.get("type") != "member.registered" or not member or payload.get("channel") in FROM_ELSEWHERE:
        return None
    number = payload.get("member_number")  # null once the member is erased
    return f"loyalty:{member}", {"name": f"Member {number}" if number else f"Member {str(member)[:8]}",
                                 "member_number": number, "store": payload.get("registration_store")}


def total_value(rows: Iterable[dict[str, Any]], day: date) -> Decimal:
    """The outstanding points' value at the end of ``day`` (every store and the chain's bucket)."""
    return sum((Decimal(str(r["value"])) for r in rows if str(r["day"]) == day.isoformat()), Decimal(0))


def liability_entry(day: date, before: Decimal, after: Decimal, accounts: dict[str, str]) -> dict[str, Any] | None:
    """The journal entry for the day's change, or None when the liability did not move."""
    change = (after - before).quantize(CENT)
    if change == 0:
        return None
    amount = abs(change)
    grew = change > 0
    label = f"Points liability {day.isoformat()}: {before} -> {after}"
    lines = [Line(accounts["expense"], amount if grew else Decimal(0), Decimal(0) if grew else amount, label),
             Line(accounts["liability"], Decimal(0) if grew else amount, amount if grew else Decimal(0), label)]
    return {"date": day.isoformat(), "label": label, "amount": str(amount), "lines": lines}


def find_or_create(find: Callable[[], str | None], create: Callable[[], str], attempts: int) -> str:
    """The record the ERP holds under our external id, or a new one. A create is sent once and never
    retried blind: when its answer is lost (it may have been done), we look for the record again first."""
    for attempt in range(1, attempts + 1):
        found = find()
        if found is not None:
            return found
        try:
            return create()
        except SourceUnavailable:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
