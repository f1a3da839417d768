"""The care service on its real database and broker: a ticket's life from open to rating with its
history, who may do what, the SLA's overdue flag, goodwill noted once per ledger entry, idempotent
opening, and a member's erasure scrubbing the free text while the counts stay."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import MemberErased
from service_runtime.config import database_url
from tests.helpers import query, wait_for
from tests.service.coupons_support import deliver
from tests.service.notify_support import call

CLERK = json.dumps({"kind": "staff", "id": "clerk-1", "roles": ["clerk"], "stores": ["SH-001"]})
OTHER_CLERK = json.dumps({"kind": "staff", "id": "clerk-2", "roles": ["clerk"], "stores": ["BJ-009"]})
MANAGER = json.dumps({"kind": "staff", "id": "mgr-1", "roles": ["manager"]})
AUDITOR = json.dumps({"kind": "staff", "id": "aud-1", "roles": ["auditor"]})
KEY = json.dumps({"kind": "key", "id": "k-1", "roles": ["pos"]})


def member(member_id: str) -> str:
    return json.dumps({"kind": "member", "id": member_id, "member_id": member_id})


@pytest.fixture
def care(start_service):
    return start_service("care")


def _open(care, caller: str, member_id: str, **values: object) -> dict:
    body = {"member_id": member_id, "channel": "store", "category": "complaint", "severity": "high",
            "text": "The cashier did not add my points", "store": "SH-001", "sale_reference": "T-1001",
            "attachments": ["files/receipt-1001.jpg"], **values}
    return call(care, "open", caller=caller, **body)


def _events(ticket_id: str) -> list[dict]:
    rows = query("care", "SELECT body, published_at FROM outbox WHERE event_type = 'ticket.changed' "
                         "AND body->'payload'->>'ticket_id' = :t ORDER BY id", t=ticket_id)
    return [row.body["payload"] | {"published": row.published_at is not None} for row in rows]


def test_a_ticket_goes_from_open_to_rated_with_its_history_and_events(care):
    member_id = str(uuid.uuid4())
    opened = _open(care, CLERK, member_id)
    assert (opened["status"], opened["opened_by"], opened["overdue"]) == ("open", "staff", False)
    due = datetime.fromisoformat(opened["due_at"]) - datetime.fromisoformat(opened["created_at"])
    assert due.total_seconds() == 24 * 3600  # high: 24 hours
    ticket_id = opened["ticket_id"]
    call(care, "assign", caller=CLERK, ticket_id=ticket_id, assignee="clerk-1", store="SH-001")
    call(care, "transition", caller=CLERK, ticket_id=ticket_id, status="waiting_on_member", note="asked for receipt")
    replied = call(care, "comment", caller=member(member_id), ticket_id=ticket_id, text="Here it is",
                   attachments=["files/receipt-1001-back.jpg"])
    assert replied["status"] == "in_progress"  # the member's answer hands it back
    assert replied["attachments"] == ["files/receipt-1001.jpg", "files/receipt-1001-back.jpg"]
    resolved = call(care, "transition", caller=CLERK, ticket_id=ticket_id, status="resolved")
    assert resolved["resolved_at"] is not None
    with pytest.raises(InvalidInput) as early:
        call(care, "rate", caller=member(member_id), ticket_id=ticket_id, score=5)
    assert early.value.field == "status"
    with pytest.raises(InvalidInput) as only_close:
        call(care, "transition", caller=member(member_id), ticket_id=ticket_id, status="in_progress")
    assert only_close.value.field == "status"
    closed = call(care, "transition", caller=member(member_id), ticket_id=ticket_id, status="closed")
    assert closed["closed_at"] is not None
    rated = call(care, "rate", caller=member(member_id), ticket_id=ticket_id, score=4, comment="quick")
    assert (rated["rating"], rated["rating_comment"]) == (4, "quick")
    with pytest.raises(Conflict):
        call(care, "rate", caller=member(member_id), ticket_id=ticket_id, score=1)
    with pytest.raises(InvalidInput) as final:
        call(care, "transition", caller=MANAGER, ticket_id=ticket_id, status="in_progress")
    assert final.value.field == "status"
    full = call(care, "get", caller=member(member_id), ticket_id=ticket_id)
    assert [(h["action"], h["from_status"], h["to_status"]) for h in full["history"]] == [
        ("opened", None, "open"), ("assigned", None, None), ("status", "open", "waiting_on_member"),
        ("comment", "waiting_on_member", "in_progress"), ("status", "in_progress", "resolved"),
        ("status", "resolved", "closed"), ("rated", None, None)]
    assert full["history"][2]["note"] == "asked for receipt" and full["history"][3]["actor_kind"] == "member"
    events = wait_for(lambda: (e := _events(ticket_id)) and len(e) == 7 and all(x["published"] for x in e) and e,
                      message="ticket events published")
    assert [e["change"] for e in events] == ["opened", "assigned", "status", "comment", "status", "status", "rated"]
    assert [e["by_member"] for e in events][3] is True and "text" not in events[0]


def test_who_may_do_what(care):
    member_id, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    ticket_id = _open(care, member(member_id), member_id, channel="app", store=None)["ticket_id"]
    with pytest.raises(Forbidden):
        call(care, "get", caller=member(stranger), ticket_id=ticket_id)
    with pytest.raises(Forbidden):
        _open(care, member(stranger), member_id)  # not for somebody else
    with pytest.raises(Forbidden):
        call(care, "get", caller=KEY, ticket_id=ticket_id)
    with pytest.raises(Forbidden):
        call(care, "transition", caller=AUDITOR, ticket_id=ticket_id, status="in_progress")
    with pytest.raises(Forbidden):  # store-bound staff: a ticket at no store of theirs
        call(care, "get", caller=CLERK, ticket_id=ticket_id)
    call(care, "assign", caller=MANAGER, ticket_id=ticket_id, store="SH-001")
    assert call(care, "get", caller=CLERK, ticket_id=ticket_id)["assigned_store"] == "SH-001"
    with pytest.raises(Forbidden):
        call(care, "get", caller=OTHER_CLERK, ticket_id=ticket_id)
    with pytest.raises(Forbidden):  # goodwill is for managers and admins
        call(care, "record_goodwill", caller=CLERK, ticket_id=ticket_id, entry_id=1, points=10, reason="sorry")
    assert call(care, "get", caller=AUDITOR, ticket_id=ticket_id)["ticket_id"] == ticket_id
    mine = call(care, "page", caller=member(member_id), member_id=stranger)  # a member lists only their own
    assert [t["ticket_id"] for t in mine["items"]] == [ticket_id]
    assert call(care, "page", caller=OTHER_CLERK, member_id=member_id)["items"] == []
    exported = call(care, "export_member", caller=member(member_id), member_id=member_id)["tickets"]
    assert [t["ticket_id"] for t in exported] == [ticket_id] and exported[0]["history"]
    with pytest.raises(Forbidden):
        call(care, "export_member", caller=member(stranger), member_id=member_id)
    assert call(care, "export_member", caller=OTHER_CLERK, member_id=member_id)["tickets"] == []
    with pytest.raises(NotFound):
        call(care, "get", caller=MANAGER, ticket_id=str(uuid.uuid4()))
    with pytest.raises(InvalidInput) as bad:
        call(care, "get", caller=MANAGER, ticket_id="nope")
    assert bad.value.field == "ticket_id"


def test_bad_input_names_the_field_and_writes_nothing(care):
    member_id = str(uuid.uuid4())
    for override, field in [({"channel": "fax"}, "channel"), ({"severity": "apocalyptic"}, "severity"),
                            ({"text": ""}, "text"), ({"attachments": ["x"] * 11}, "attachments"),
                            ]:
        with pytest.raises(InvalidInput) as refused:
            _open(care, MANAGER, member_id, **override)
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as no_uuid:
        _open(care, MANAGER, "not-a-uuid")
    assert no_uuid.value.field == "member_id"
    assert query("care", "SELECT count(*) FROM tickets WHERE member_id = :m", m=member_id)[0][0] == 0


def test_overdue_by_severity_and_listed(care):
    member_id = str(uuid.uuid4())
    late = _open(care, MANAGER, member_id, severity="urgent")
    on_time = _open(care, MANAGER, member_id, severity="low")
    engine = sa.create_engine(database_url("care"), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:  # five hours later for the urgent one (4 h SLA)
        conn.execute(sa.text("UPDATE tickets SET due_at = now() - interval '1 hour' WHERE id = :t"),
                     {"t": late["ticket_id"]})
    engine.dispose()
    assert call(care, "get", caller=MANAGER, ticket_id=late["ticket_id"])["overdue"] is True
    overdue = call(care, "page", caller=MANAGER, member_id=member_id, overdue=True)["items"]
    assert [t["ticket_id"] for t in overdue] == [late["ticket_id"]]
    not_overdue = call(care, "page", caller=MANAGER, member_id=member_id, overdue=False)["items"]
    assert [t["ticket_id"] for t in not_overdue] == [on_time["ticket_id"]]
    call(care, "transition", caller=MANAGER, ticket_id=late["ticket_id"], status="resolved")
    assert call(care, "get", caller=MANAGER, ticket_id=late["ticket_id"])["overdue"] is False  # resolved stops it


def test_opening_and_goodwill_are_idempotent(care):
    member_id = str(uuid.uuid4())
    first = _open(care, MANAGER, member_id, request_id="care-req-1-" + member_id[:8])
    again = _open(care, MANAGER, member_id, request_id="care-req-1-" + member_id[:8])
    assert again["ticket_id"] == first["ticket_id"]
    with pytest.raises(Conflict):
        _open(care, MANAGER, str(uuid.uuid4()), request_id="care-req-1-" + member_id[:8])
    # keys are the caller's own: another staff member's same key opens another ticket
    assert _open(care, CLERK, member_id, request_id="care-req-1-" + member_id[:8])["ticket_id"] != first["ticket_id"]
    for _ in range(2):
        noted = call(care, "record_goodwill", caller=MANAGER, ticket_id=first["ticket_id"],
                     entry_id=abs(hash(member_id)) % 10**12 + 1, points=200, reason="late delivery")
    assert noted["goodwill_points"] == 200
    history = call(care, "get", caller=MANAGER, ticket_id=first["ticket_id"])["history"]
    assert [h["detail"].get("points") for h in history if h["action"] == "goodwill"] == [200]


def test_erasure_scrubs_the_text_and_keeps_the_counts(care):
    member_id = str(uuid.uuid4())
    ticket_id = _open(care, MANAGER, member_id)["ticket_id"]
    call(care, "comment", caller=MANAGER, ticket_id=ticket_id, text="Called Ms Li on 13800001111")
    erased = MemberErased(member_id=member_id, erased_at=datetime.now(UTC))
    envelope = deliver(care, "on_member_erased", erased)
    deliver(care, "on_member_erased", erased, envelope)  # a redelivery changes nothing more
    after = call(care, "get", caller=MANAGER, ticket_id=ticket_id)
    assert (after["text"], after["attachments"], after["sale_reference"]) == (None, [], None)
    assert [h["note"] for h in after["history"]] == [None, None, None]
    assert [h["action"] for h in after["history"]] == ["opened", "comment", "erased"]
    assert (after["category"], after["severity"], after["status"]) == ("complaint", "high", "open")
    assert call(care, "export_member", caller=MANAGER, member_id=member_id)["tickets"][0]["text"] is None
