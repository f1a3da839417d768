"""Care service entrypoints: feedback and complaint tickets. Thin: parse, call a use case in one
transaction (the use case checks the caller through services/care/access.py), answer the contract."""
from __future__ import annotations

from typing import Any

from nameko.rpc import rpc as nameko_rpc
from nameko.timer import timer
from prometheus_client import Gauge

from contracts.access import now
from contracts.care import Assignment, Comment, Goodwill, Rating, TicketIn, TicketQuery, Transition
from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import MemberErased
from service_runtime.base import ServiceBase, parse_request
from service_runtime.config import env, env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.care import domain, repo, tickets

EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)
rpc = nameko_rpc(expected_exceptions=EXPECTED)  # business errors: not logged as failures
SLA_HOURS = domain.sla_hours(env("CARE_SLA_HOURS", ""))
OVERDUE = Gauge("loyalty_care_tickets_overdue", "Tickets not resolved by the due date of their severity's SLA")


class CareService(ServiceBase):
    name = "care"

    @rpc
    def open(self, **request: Any) -> dict[str, Any]:
        cmd: TicketIn = parse_request(TicketIn, request)
        with self.db.transaction() as tx:
            return tickets.open_ticket(tx, self.caller, cmd, now(), SLA_HOURS)

    @rpc
    def get(self, ticket_id: str) -> dict[str, Any]:
        with self.db.transaction() as tx:
            return tickets.get(tx, self.caller, ticket_id, now())

    @rpc
    def page(self, **request: Any) -> dict[str, Any]:
        query: TicketQuery = parse_request(TicketQuery, request)
        with self.db.transaction() as tx:
            return tickets.page(tx, self.caller, query, now())

    @rpc
    def transition(self, **request: Any) -> dict[str, Any]:
        cmd: Transition = parse_request(Transition, request)
        with self.db.transaction() as tx:
            return tickets.transition(tx, self.caller, cmd, now())

    @rpc
    def assign(self, **request: Any) -> dict[str, Any]:
        cmd: Assignment = parse_request(Assignment, request)
        with self.db.transaction() as tx:
            return tickets.assign(tx, self.caller, cmd, now())

    @rpc
    def comment(self, **request: Any) -> dict[str, Any]:
        cmd: Comment = parse_request(Comment, request)
        with self.db.transaction() as tx:
            return tickets.comment(tx, self.caller, cmd, now())

    @rpc
    def record_goodwill(self, **request: Any) -> dict[str, Any]:
        cmd: Goodwill = parse_request(Goodwill, request)
        with self.db.transaction() as tx:
            return tickets.record_goodwill(tx, self.caller, cmd, now())

    @rpc
    def rate(self, **request: Any) -> dict[str, Any]:
        cmd: Rating = parse_request(Rating, request)
        with self.db.transaction() as tx:
            return tickets.rate(tx, self.caller, cmd, now())

    @rpc
    def export_member(self, member_id: str) -> dict[str, Any]:
        with self.db.transaction() as tx:
            return tickets.export_member(tx, self.caller, member_id, now())

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        tickets.erase_member(tx, event.member_id, now())

    @timer(interval=env_int("CARE_OVERDUE_SECONDS", 60))
    def count_overdue(self) -> None:
        with self.db.transaction() as tx:
            OVERDUE.set(repo.overdue_count(tx, now()))
