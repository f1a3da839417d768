"""Ticket use cases, each inside the caller's transaction: open, move, assign, comment, goodwill,
rate, read, list, and the erasure of a member's personal data. Every change is kept in the ticket's
history and announced as ``ticket.changed`` through the outbox."""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from contracts.access import Caller, parse_id, service
from contracts.care import Assignment, Comment, Goodwill, Rating, TicketChanged, TicketIn, TicketQuery, Transition
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from service_runtime import cursors
from service_runtime.db import Tx
from services.care import access, domain, repo, views


def _actor(caller: Caller) -> tuple[str, str | None]:
    return caller.kind, caller.member_id if caller.kind == "member" else caller.id


def _announce(tx: Tx, row: dict[str, Any], change: Any, caller: Caller) -> None:
    tx.emit(TicketChanged(ticket_id=row["id"], member_id=row["member_id"], change=change,
                          status=row["status"], severity=row["severity"],
                          store=row["assigned_store"] or row["store"], due_at=row["due_at"],
                          by_member=caller.kind == "member"))


def _change(tx: Tx, caller: Caller, row: dict[str, Any], now: datetime, change: str, values: dict[str, Any],
            **history: Any) -> dict[str, Any]:
    """Write a change, keep it in the history, announce it; the ticket as it is now."""
    updated = repo.update(tx, row["id"], now, **values)
    repo.add_history(tx, row["id"], now, _actor(caller), change, **history)
    _announce(tx, updated, change, caller)
    return views.ticket(updated, now)


def _ticket(tx: Tx, caller: Caller, ticket_id: str, action: str) -> dict[str, Any]:
    row = repo.get(tx, parse_id(ticket_id, "ticket_id", "a UUID"), lock=action != "read")
    if row is None:
        raise NotFound("no such ticket", "ticket_id")
    access.check(caller, action, row["member_id"], (row["store"], row["assigned_store"]))
    return row


def open_ticket(tx: Tx, caller: Caller, cmd: TicketIn, now: datetime, hours: Mapping[str, int]) -> dict[str, Any]:
    member_id = parse_id(cmd.member_id, "member_id", "a UUID")
    access.check(caller, "open", member_id, (cmd.store,))
    values = cmd.model_dump(exclude={"member_id"})
    if cmd.request_id is not None:  # scoped to the caller, as points scopes adjustments' keys
        values["request_id"] = "{}:{}:{}".format(*_actor(caller), cmd.request_id)
    row = repo.insert_ticket(tx, {
        **values, "id": str(uuid.uuid4()), "member_id": member_id, "status": "open",
        "due_at": domain.due_at(now, cmd.severity, hours), "opened_by": caller.kind,
        "created_at": now, "updated_at": now})
    if row is None:  # this request_id opened one already: answer it
        replay = repo.by_request(tx, values["request_id"])
        if replay is None or replay["member_id"] != member_id:
            raise Conflict("this request_id opened another ticket", "request_id")
        return views.ticket(replay, now)
    repo.add_history(tx, row["id"], now, _actor(caller), "opened", to_status="open",
                     detail={"channel": cmd.channel, "category": cmd.category, "severity": cmd.severity})
    _announce(tx, row, "opened", caller)
    return views.ticket(row, now)


def get(tx: Tx, caller: Caller, ticket_id: str, now: datetime) -> dict[str, Any]:
    row = _ticket(tx, caller, ticket_id, "read")
    return views.ticket(row, now, repo.history(tx, row["id"]))


def page(tx: Tx, caller: Caller, query: TicketQuery, now: datetime) -> dict[str, Any]:
    filters: dict[str, Any] = query.model_dump(exclude={"after", "limit"})
    if filters["member_id"] is not None:
        filters["member_id"] = parse_id(filters["member_id"], "member_id", "a UUID")
    filters.update(access.list_scope(caller))
    rows = repo.page(tx, filters, now, cursors.position(query.after), query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return {"items": [views.ticket(r, now) for r in rows], "next": cursors.cursor(rows[-1]) if more else None}


def transition(tx: Tx, caller: Caller, cmd: Transition, now: datetime) -> dict[str, Any]:
    action = "close" if caller.kind == "member" else "transition"
    row = _ticket(tx, caller, cmd.ticket_id, action)
    if caller.kind == "member" and cmd.status != "closed":
        raise InvalidInput("members close their resolved tickets; staff move them otherwise", "status")
    domain.check_move(row["status"], cmd.status)
    stamps: dict[str, Any] = {"status": cmd.status}
    if cmd.status == "resolved":
        stamps["resolved_at"] = now
    elif cmd.status == "closed":
        stamps["closed_at"] = now
    elif row["status"] == "resolved":  # reopened: the SLA clock runs again from its old due date
        stamps["resolved_at"] = None
    return _change(tx, caller, row, now, "status", stamps, from_status=row["status"], to_status=cmd.status,
                   note=cmd.note)


def assign(tx: Tx, caller: Caller, cmd: Assignment, now: datetime) -> dict[str, Any]:
    row = _ticket(tx, caller, cmd.ticket_id, "assign")
    if row["status"] == "closed":
        raise InvalidInput("a closed ticket is not reassigned", "status")
    store = cmd.store if cmd.store is not None else row["assigned_store"]
    access.check(caller, "assign", row["member_id"], (store,) if store else (row["store"],))
    return _change(tx, caller, row, now, "assigned", {"assignee": cmd.assignee, "assigned_store": store},
                   detail={"assignee": cmd.assignee, "store": store})


def comment(tx: Tx, caller: Caller, cmd: Comment, now: datetime) -> dict[str, Any]:
    row = _ticket(tx, caller, cmd.ticket_id, "comment")
    if row["status"] == "closed":
        raise InvalidInput("a closed ticket takes no comments; open a new one", "status")
    changes: dict[str, Any] = {"attachments": [*row["attachments"], *cmd.attachments]}
    handed_back = domain.after_member_reply(row["status"]) if caller.kind == "member" else None
    if handed_back:
        changes["status"] = handed_back
    return _change(tx, caller, row, now, "comment", changes, note=cmd.text, to_status=handed_back,
                   from_status=row["status"] if handed_back else None,
                   detail={"attachments": cmd.attachments} if cmd.attachments else {})


def record_goodwill(tx: Tx, caller: Caller, cmd: Goodwill, now: datetime) -> dict[str, Any]:
    """Note a points adjustment already booked by points.adjust (its ledger entry) on the ticket; a
    retry with the same entry notes nothing more."""
    row = _ticket(tx, caller, cmd.ticket_id, "goodwill")
    if not repo.add_goodwill(tx, row["id"], cmd.entry_id, cmd.points, caller.id, now):
        return views.ticket(row, now)
    return _change(tx, caller, row, now, "goodwill", {"goodwill_points": row["goodwill_points"] + cmd.points},
                   note=cmd.reason, detail={"points": cmd.points, "entry_id": cmd.entry_id})


def rate(tx: Tx, caller: Caller, cmd: Rating, now: datetime) -> dict[str, Any]:
    row = _ticket(tx, caller, cmd.ticket_id, "rate")
    if row["status"] != "closed":
        raise InvalidInput("a ticket is rated once it is closed", "status")
    if row["rating"] is not None:
        raise Conflict("this ticket was rated already", "score")
    return _change(tx, caller, row, now, "rated", {"rating": cmd.score, "rating_comment": cmd.comment},
                   detail={"score": cmd.score})


def erase_member(tx: Tx, member_id: str, now: datetime) -> int:
    """member.erased: the free text, attachments and references of their tickets go; counts stay."""
    scrubbed = repo.scrub_member(tx, member_id, now)
    for row in scrubbed:
        repo.add_history(tx, row["id"], now, ("internal", None), "erased")
        _announce(tx, row, "erased", service("care"))
    return len(scrubbed)


def export_member(tx: Tx, caller: Caller, member_id: str, now: datetime) -> dict[str, Any]:
    """A member's tickets with their history, as far as the caller may read them (a privacy export)."""
    scope = access.list_scope(caller)
    if scope.get("member_id", member_id) != member_id:
        raise Forbidden("a member exports only their own data", "member_id")
    stores = scope.get("stores")
    rows = [row for row in repo.member_tickets(tx, parse_id(member_id, "member_id", "a UUID"))
            if stores is None or {row["store"], row["assigned_store"]} & set(stores)]
    return {"tickets": [views.ticket(row, now, repo.history(tx, row["id"])) for row in rows]}
