"""/v1/tickets: feedback and complaint tickets, owned by the care service (docs/care.md).

Members open and follow their own tickets with their token; clerks, managers and admins handle
them (store-bound staff those of their stores); auditors read. The care service checks each
ticket against the caller again (services/care/access.py). A goodwill grant books a points
adjustment through points.adjust, as POST /v1/members/{id}/points/adjustments does, so the staff
member's daily limit applies, is audited, and is then noted on the ticket."""
from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.care import Category, Channel, Code, Reference, Severity, Status, TicketOut
from contracts.points import AdjustResult
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, make_cursor, page_params
from services.gateway.routes_points_common import booking_store, call_points, created_or_replayed, request_id_of
from services.gateway.security.policy import allow, deny
from services.gateway.security.principal import Principal

router = APIRouter(tags=["tickets"])
HANDLERS = ("clerk", "manager", "admin")
READ = allow(*HANDLERS, "auditor", member=True)
WRITE = allow(*HANDLERS, member=True)


class TicketBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: uuid.UUID | None = Field(default=None, description="Required for staff; a member opens their own")
    channel: Channel
    category: Category
    severity: Severity = "normal"
    text: str = Field(min_length=3, max_length=5000)
    store: Code | None = None
    sale_reference: Code | None = Field(default=None, description="The till's transaction id of the sale")
    coupon_code: Code | None = None
    attachments: list[Reference] = Field(default_factory=list, max_length=10,
                                         description="References (file ids, URLs) of files stored elsewhere")


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status
    note: str | None = Field(default=None, max_length=2000)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(default=None, max_length=64, description="Staff user id; null: unassigned")
    store: Code | None = None


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5000)
    attachments: list[Reference] = Field(default_factory=list, max_length=10)


class GoodwillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: int = Field(ge=1, le=10_000_000)
    reason: str = Field(min_length=3, max_length=400)
    store: Code | None = Field(default=None, description="Store the points are booked to (default: the ticket's)")


class RatingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class GoodwillOut(BaseModel):
    ticket: TicketOut
    adjustment: AdjustResult


async def _care(request: Request, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, "care", method, **kwargs)


@router.post("/tickets", status_code=201, response_model=TicketOut, summary="Open a feedback or complaint ticket")
async def open_ticket(body: TicketBody, request: Request,
                      idempotency_key: str | None = Header(None, include_in_schema=False),
                      caller: Principal = WRITE) -> Any:
    member_id = str(body.member_id) if body.member_id else None
    if caller.kind == "member":
        if member_id not in (None, caller.member_id):
            await deny(request, "a member opens tickets for themselves", field="member_id")
        member_id = caller.member_id
    if member_id is None:
        raise ApiError(422, "invalid_input", "the member the ticket is about", field="member_id")
    known = await request.app.state.services.call(request, "members", "identify", member_ids=[member_id])
    if not any(m["member_id"] == member_id and m["status"] in ("active", "frozen") for m in known):
        raise ApiError(404, "not_found", "no member with this id (or merged into another, or erased)",
                       field="member_id")
    return await _care(request, "open", **body.model_dump(mode="json", exclude={"member_id"}), member_id=member_id,
                       request_id=request_id_of(idempotency_key))


@router.get("/tickets", response_model=Page[TicketOut],
            summary="Tickets, newest first: a member's own, or staff's with filters")
async def list_tickets(request: Request, paging: PageParams = Depends(page_params),
                       member_id: uuid.UUID | None = None, status: Status | None = None,
                       store: Code | None = Query(None), assignee: str | None = Query(None, max_length=64),
                       overdue: bool | None = Query(None, description="Past the SLA and not resolved"),
                       caller: Principal = READ) -> Page[TicketOut]:
    position = paging.position(str)
    result = await _care(request, "page", member_id=str(member_id) if member_id else None, status=status,
                         store=store, assignee=assignee, overdue=overdue, after=position, limit=paging.limit)
    return Page[TicketOut](items=result["items"], next_cursor=make_cursor(result["next"]) if result["next"] else None)


@router.get("/tickets/{ticket_id}", response_model=TicketOut, summary="One ticket with its history")
async def get_ticket(ticket_id: uuid.UUID, request: Request, caller: Principal = READ) -> Any:
    return await _care(request, "get", ticket_id=str(ticket_id))


@router.post("/tickets/{ticket_id}/status", response_model=TicketOut,
             summary="Move a ticket: in_progress, waiting_on_member, resolved, closed (members: close a resolved one)")
async def move_ticket(ticket_id: uuid.UUID, body: StatusBody, request: Request, caller: Principal = WRITE) -> Any:
    return await _care(request, "transition", ticket_id=str(ticket_id), status=body.status, note=body.note)


@router.post("/tickets/{ticket_id}/assignment", response_model=TicketOut,
             summary="Assign a ticket to a staff member and a store")
async def assign_ticket(ticket_id: uuid.UUID, body: AssignBody, request: Request,
                        caller: Principal = allow(*HANDLERS)) -> Any:
    return await _care(request, "assign", ticket_id=str(ticket_id), assignee=body.assignee, store=body.store)


@router.post("/tickets/{ticket_id}/comments", response_model=TicketOut,
             summary="Add a comment (a member's answer hands a waiting ticket back to staff)")
async def comment_ticket(ticket_id: uuid.UUID, body: CommentBody, request: Request, caller: Principal = WRITE) -> Any:
    return await _care(request, "comment", ticket_id=str(ticket_id), text=body.text, attachments=body.attachments)


@router.post("/tickets/{ticket_id}/goodwill", status_code=201, response_model=GoodwillOut,
             summary="Grant goodwill points from a ticket (audited; within your daily adjustment limit)",
             description="Books a points adjustment as POST /v1/members/{id}/points/adjustments does. With an "
                         "Idempotency-Key, a retry grants once.")
async def grant_goodwill(ticket_id: uuid.UUID, body: GoodwillBody, request: Request, response: Response,
                         idempotency_key: str | None = Header(None, include_in_schema=False),
                         caller: Principal = allow("manager", "admin")) -> dict[str, Any]:
    ticket = await _care(request, "get", ticket_id=str(ticket_id))
    store = await booking_store(request, caller, body.store or ticket["assigned_store"] or ticket["store"])
    adjusted = await call_points(request, "adjust", member_id=ticket["member_id"], points=body.points,
                                 reason=f"ticket {ticket_id}: {body.reason}", store=store,
                                 request_id=request_id_of(idempotency_key))
    await request.app.state.auditor.record(
        request, "tickets.goodwill", "ok", object_type="ticket", object_id=str(ticket_id), store=store,
        details={"member_id": ticket["member_id"], "points": body.points, "reason": body.reason,
                 "entry_id": adjusted["entry"]["entry_id"], "replayed": adjusted.get("replayed", False)})
    request.state.audited = True
    noted = await _care(request, "record_goodwill", ticket_id=str(ticket_id), entry_id=adjusted["entry"]["entry_id"],
                        points=body.points, reason=body.reason)
    return created_or_replayed(response, {"ticket": noted, "adjustment": adjusted,
                                          "replayed": adjusted.get("replayed", False)})


@router.post("/tickets/{ticket_id}/rating", response_model=TicketOut,
             summary="The member rates how their closed ticket was handled (1-5, once)")
async def rate_ticket(ticket_id: uuid.UUID, body: RatingBody, request: Request,
                      caller: Principal = allow(member=True)) -> Any:
    return await _care(request, "rate", ticket_id=str(ticket_id), score=body.score, comment=body.comment)
