"""Ticket rules without I/O: the state machine, the SLA per severity, overdue, and who may do what."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.access import Caller, service
from contracts.errors import Forbidden, InvalidInput
from services.care import access, domain

OPENED = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("current,target,allowed", [
    ("open", "in_progress", True), ("open", "resolved", True), ("open", "closed", False),
    ("in_progress", "waiting_on_member", True), ("waiting_on_member", "in_progress", True),
    ("resolved", "closed", True), ("resolved", "in_progress", True), ("closed", "in_progress", False),
    ("in_progress", "in_progress", False), ("in_progress", "open", False),
])
def test_the_state_machine(current: str, target: str, allowed: bool) -> None:
    if allowed:
        domain.check_move(current, target)
    else:
        with pytest.raises(InvalidInput) as refused:
            domain.check_move(current, target)
        assert refused.value.field == "status"


def test_the_sla_sets_the_due_date_and_overdue_stops_once_resolved() -> None:
    hours = domain.sla_hours("urgent=2, low=200")
    assert hours == {"low": 200, "normal": 72, "high": 24, "urgent": 2}
    due = domain.due_at(OPENED, "urgent", hours)
    assert due == OPENED + timedelta(hours=2)
    assert not domain.overdue("open", due, due)
    assert domain.overdue("waiting_on_member", due, due + timedelta(seconds=1))
    assert not domain.overdue("resolved", due, due + timedelta(days=3))
    for bad in ("urgent=0", "critical=4", "urgent=soon"):
        with pytest.raises(ValueError):
            domain.sla_hours(bad)


def test_a_member_reply_hands_a_waiting_ticket_back() -> None:
    assert domain.after_member_reply("waiting_on_member") == "in_progress"
    assert domain.after_member_reply("open") is None


MEMBER = Caller(kind="member", id="m-1", member_id="m-1")
CLERK = Caller(kind="staff", id="c-1", roles=("clerk",), stores=("SH-001",))
MANAGER = Caller(kind="staff", id="g-1", roles=("manager",))
MARKETER = Caller(kind="staff", id="k-1", roles=("marketer",))
POS = Caller(kind="key", id="pos-1", roles=("pos",))


@pytest.mark.parametrize("caller,action,member,stores,allowed", [
    (MEMBER, "open", "m-1", (), True), (MEMBER, "rate", "m-1", (), True), (MEMBER, "read", "m-2", (), False),
    (MEMBER, "transition", "m-1", (), False), (MEMBER, "goodwill", "m-1", (), False),
    (CLERK, "transition", "m-1", ("SH-001", None), True), (CLERK, "read", "m-1", ("BJ-009", None), False),
    (CLERK, "read", "m-1", (None, None), False), (CLERK, "goodwill", "m-1", ("SH-001",), False),
    (MANAGER, "goodwill", "m-1", (None,), True), (MANAGER, "rate", "m-1", (None,), False),
    (MARKETER, "read", "m-1", (None,), False), (POS, "read", "m-1", ("SH-001",), False),
    (service("care"), "goodwill", "m-1", (), True),
])
def test_who_may_do_what(caller: Caller, action: str, member: str, stores: tuple[str | None, ...],
                         allowed: bool) -> None:
    if allowed:
        access.check(caller, action, member, stores)
    else:
        with pytest.raises(Forbidden):
            access.check(caller, action, member, stores)


def test_lists_are_held_to_the_callers_scope() -> None:
    assert access.list_scope(MEMBER) == {"member_id": "m-1"}
    assert access.list_scope(CLERK) == {"stores": ("SH-001",)}
    assert access.list_scope(MANAGER) == {}
    with pytest.raises(Forbidden):
        access.list_scope(POS)
