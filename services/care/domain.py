"""Ticket rules with no I/O and no clock: the state machine, the SLA per severity, overdue."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from contracts.errors import InvalidInput

# the hours each severity gives to resolve a ticket (CARE_SLA_HOURS=low=168,normal=72,high=24,urgent=4)
DEFAULT_SLA_HOURS = {"low": 168, "normal": 72, "high": 24, "urgent": 4}

# where each status may go next; closed is final, resolved may reopen
NEXT: Mapping[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "waiting_on_member", "resolved"}),
    "in_progress": frozenset({"waiting_on_member", "resolved"}),
    "waiting_on_member": frozenset({"in_progress", "resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset(),
}
DONE = frozenset({"resolved", "closed"})


def sla_hours(spec: str) -> dict[str, int]:
    """Parse CARE_SLA_HOURS; severities it leaves out keep their default."""
    hours = dict(DEFAULT_SLA_HOURS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        severity, _, raw = item.partition("=")
        if severity not in hours or not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"CARE_SLA_HOURS: {item!r} is not <severity>=<hours> with one of {sorted(hours)}")
        hours[severity] = int(raw)
    return hours


def due_at(opened: datetime, severity: str, hours: Mapping[str, int]) -> datetime:
    return opened + timedelta(hours=hours[severity])


def overdue(status: str, due: datetime, now: datetime) -> bool:
    return status not in DONE and now > due


def check_move(current: str, target: str) -> None:
    if target == current or target not in NEXT[current]:
        allowed = ", ".join(sorted(NEXT[current])) or "nothing (closed is final)"
        raise InvalidInput(f"a {current} ticket can move to {allowed}", "status")


def after_member_reply(status: str) -> str | None:
    """A member's comment on a ticket waiting for them hands it back to staff."""
    return "in_progress" if status == "waiting_on_member" else None
