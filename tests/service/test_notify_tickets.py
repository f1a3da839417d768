"""Notify tells a member when staff change their ticket (care's ticket.changed), as a transactional
message that waits out quiet hours; the member's own changes and internal moves send nothing."""
from __future__ import annotations

import uuid
from datetime import timedelta

from contracts.care import TicketChanged
from tests.helpers import wait_for
from tests.service.notify_support import call, deliver, now
from tests.service.test_notify_delivery import ADMIN, member, messages, platform  # noqa: F401 (the fixture)


def _changed(member_id: str, change: str, by_member: bool) -> TicketChanged:
    return TicketChanged(ticket_id=str(uuid.uuid4()), member_id=member_id, change=change, status="waiting_on_member",
                         severity="high", store="S1", due_at=now() + timedelta(hours=24), by_member=by_member)


def test_staff_changes_reach_the_member_after_quiet_hours_their_own_do_not(platform):  # noqa: F811
    notify, _, sms, _, _ = platform["start"](NOTIFY_QUIET_HOURS="00:00-23:59:59")
    member_id = member(platform)
    for change, by_member in (("comment", True), ("assigned", False), ("opened", False)):
        deliver(notify, "on_ticket_changed", _changed(member_id, change, by_member))
    staff_move = _changed(member_id, "status", False)
    deliver(notify, "on_ticket_changed", staff_move)
    [queued] = wait_for(lambda: messages(notify, member_id=member_id), message="the ticket message")  # type: ignore[misc]
    wait_for(lambda: any(s["status"] == "deferred" for s in
                         call(notify, "message", queued["message_id"], caller=ADMIN)["steps"]),
             message="the message deferred to the morning")
    # looked at once deferred: a message is "sending" for the moment its dispatcher checks the hours
    [queued] = messages(notify, member_id=member_id)
    assert (queued["template"], queued["status"]) == ("ticket.changed", "queued")
    assert sms.ok() == [] and len(messages(notify, member_id=member_id)) == 1
