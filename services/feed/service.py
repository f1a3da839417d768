"""Feed service entrypoints: member, points and tier events appended to one totally ordered feed
(ingest.py), read by cursor (reading.py), and pushed to webhook subscriptions (webhooks.py, the
sender in delivery.py). Thin: check the caller, call a use case in one transaction."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from nameko import rpc as nameko_rpc

from contracts.access import INTEGRATORS, Caller, require
from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from contracts.feed import Replay, WebhookIn
from service_runtime.base import ServiceBase, parse_request
from service_runtime.db import Tx
from service_runtime.events import READ_MODEL_WAIT, subscribe_batch
from services.feed import domain, ingest, reading, webhooks
from services.feed.delivery import Deliveries, Sender

F = TypeVar("F", bound=Callable[..., Any])
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict, Gone)
rpc = cast(Callable[..., Callable[[F], F]], nameko_rpc.rpc)  # nameko is untyped; the method keeps its signature
MAX_PAGE = 1000


def may_use_feed(caller: Caller) -> None:
    """Admins and ERP keys (the gateway passes a key's kind as its role); services inside the platform."""
    require(caller, INTEGRATORS)


def _envelopes(events: list[tuple[Any, Envelope]]) -> list[Envelope]:
    return [envelope for _, envelope in events]


class FeedService(ServiceBase):
    name = "feed"
    sender: Sender = Deliveries()  # type: ignore[assignment]

    # -- events (each type its own queue; one append per batch) --------------------------------------
    @subscribe_batch("members", "member.registered")
    def on_member_registered(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("members", "members.imported", max_batch=20)
    def on_members_imported(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("members", "member.updated")
    def on_member_updated(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("members", "member.consent_changed")
    def on_member_consent_changed(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("members", "member.merged")
    def on_member_merged(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("members", "member.erased")
    def on_member_erased(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("points", "points.accrued", max_wait=READ_MODEL_WAIT)
    def on_points_accrued(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("points", "points.redeemed")
    def on_points_redeemed(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("points", "points.reversed")
    def on_points_reversed(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("points", "points.expired")
    def on_points_expired(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("points", "points.adjusted")
    def on_points_adjusted(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("points", "tier.changed")
    def on_tier_changed(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("campaigns", "coupon.issued")
    def on_coupon_issued(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("campaigns", "coupon.redeemed")
    def on_coupon_redeemed(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    @subscribe_batch("campaigns", "coupon.restored")
    def on_coupon_restored(self, tx: Tx, events: list[tuple[Any, Envelope]]) -> None:
        ingest.append(tx, _envelopes(events))

    # -- the feed ------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def read(self, after: str | None = None, types: list[str] | None = None, limit: int = 100) -> dict[str, Any]:
        may_use_feed(self.caller)
        if not 1 <= int(limit) <= MAX_PAGE:
            raise InvalidInput(f"between 1 and {MAX_PAGE}", "limit")
        wanted = domain.check_types(types)
        with self.db.transaction() as tx:
            return reading.page(tx, after, wanted, int(limit))

    @rpc(expected_exceptions=EXPECTED)
    def export_member(self, member_id: str) -> dict[str, Any]:
        """The feed's copies of the member's changes, for a privacy export (the gateway checks who asks)."""
        with self.db.transaction() as tx:
            return {"feed": reading.of_member(tx, webhooks.parse_id(member_id, "member_id"))}

    # -- webhooks ------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_webhook(self, **request: Any) -> dict[str, Any]:
        may_use_feed(self.caller)
        cmd: WebhookIn = parse_request(WebhookIn, request)
        with self.db.transaction() as tx:
            created = webhooks.create(tx, cmd, f"{self.caller.kind}:{self.caller.id}")
        self.sender.wake()
        return created

    @rpc(expected_exceptions=EXPECTED)
    def list_webhooks(self) -> list[dict[str, Any]]:
        may_use_feed(self.caller)
        with self.db.transaction() as tx:
            return webhooks.listed(tx)

    @rpc(expected_exceptions=EXPECTED)
    def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        may_use_feed(self.caller)
        with self.db.transaction() as tx:
            return webhooks.view(tx, webhooks.load(tx, webhook_id))

    @rpc(expected_exceptions=EXPECTED)
    def delete_webhook(self, webhook_id: str) -> dict[str, Any]:
        may_use_feed(self.caller)
        with self.db.transaction() as tx:
            webhooks.delete(tx, webhook_id)
        return {"deleted": True}

    @rpc(expected_exceptions=EXPECTED)
    def deliveries(self, webhook_id: str, status: str | None = None, after: int | None = None,
                   limit: int = 50) -> list[dict[str, Any]]:
        may_use_feed(self.caller)
        if not 1 <= int(limit) <= MAX_PAGE:
            raise InvalidInput(f"between 1 and {MAX_PAGE}", "limit")
        with self.db.transaction() as tx:
            return webhooks.deliveries(tx, webhook_id, status, after, int(limit))

    @rpc(expected_exceptions=EXPECTED)
    def replay(self, webhook_id: str, **request: Any) -> dict[str, Any]:
        may_use_feed(self.caller)
        cmd: Replay = parse_request(Replay, request)
        with self.db.transaction() as tx:
            answer = webhooks.replay(tx, webhook_id, cmd)
        self.sender.wake()
        return answer
