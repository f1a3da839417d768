"""Points for a reward: hold the points, give the reward, commit the hold; on any failure release
it. Idempotent by (member, exchange_key); a crash half-way is finished by the timer."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import eventlet
from nameko.exceptions import RemoteError, UnknownService

from contracts.coupons import Exchange, ExchangeResult
from contracts.errors import Conflict, NotFound, ServiceError, ServiceUnavailable
from service_runtime.db import Tx, WorkerDb
from services.campaigns.coupons import catalog_repo, issuing, repo
from services.campaigns.coupons.views import coupon_out
from services.campaigns.worker import WITH_POINTS

log = logging.getLogger(__name__)
POINTS_TIMEOUT = 10.0
HOLD_TTL = 900  # seconds: a hold left by a crash releases itself; recovery finishes well before


class PointsUnavailable(Conflict):
    """The points service did not answer: the exchange stays pending (retried, never half-done)."""


class Exchanges:
    """One worker's exchanges: its transactions and its RPC proxy to points."""

    def __init__(self, db: WorkerDb, points: Any) -> None:
        self.db, self.points = db, points

    def exchange(self, req: Exchange, member_id: str, item_id: str, digest: str) -> dict[str, Any]:
        with self.db.transaction() as tx:
            item = catalog_repo.get_item(tx, item_id)
            if item is None or not item.active:
                raise NotFound("no such catalog item", "item_id")
            exchange_id = str(uuid.uuid4())
            created = catalog_repo.add_exchange(tx, {
                "id": exchange_id, "member_id": member_id, "exchange_key": req.exchange_key, "item_id": item_id,
                "store": req.store, "points": item.points, "request_hash": digest})
            if not created:
                existing = catalog_repo.get_exchange(tx, member_id, req.exchange_key)
                if existing.request_hash != digest:
                    raise Conflict("this exchange_key was used with a different body", "exchange_key")
                exchange_id = str(existing.id)
        try:
            return self.drive(exchange_id, replayed=not created)
        except PointsUnavailable as exc:  # by its own class name the gateway would answer 500, not 503
            raise ServiceUnavailable(exc.args[0], "exchange_key") from None

    def drive(self, exchange_id: str, replayed: bool = False) -> dict[str, Any]:
        """Take an exchange from wherever it is to completed or failed (safe to run again)."""
        with self.db.transaction() as tx:
            ex = catalog_repo.exchange_by_id(tx, exchange_id)
        if ex.state == "pending":
            try:
                hold = self._points_call("hold", member_id=str(ex.member_id), store=ex.store,
                                         transaction_id=f"exchange-{ex.id}", points=int(ex.points),
                                         ttl_seconds=HOLD_TTL)
            except ServiceError as exc:
                if not isinstance(exc, PointsUnavailable):  # refused: no hold was placed
                    self._fail(exchange_id, None, exc)
                raise
            if hold["status"] != "held":  # an earlier try got this far and the hold has ended since
                self._fail(exchange_id, None, Conflict(f"the points hold is {hold['status']}", "exchange_key"))
                raise Conflict(f"the points hold is {hold['status']}", "exchange_key")
            try:
                with self.db.transaction() as tx:
                    ex = catalog_repo.exchange_by_id(tx, exchange_id, lock=True)
                    if ex.state == "pending":
                        coupon_id = self._reward(tx, ex)
                        catalog_repo.set_exchange(tx, exchange_id, state="rewarded", hold_id=hold["hold_id"],
                                                  coupon_id=coupon_id)
            except ServiceError as exc:
                self._fail(exchange_id, hold["hold_id"], exc)
                raise
            with self.db.transaction() as tx:
                ex = catalog_repo.exchange_by_id(tx, exchange_id)
        if ex.state == "rewarded":
            try:
                self._points_call("commit_hold", hold_id=ex.hold_id)
            except (Conflict, NotFound) as exc:  # the hold ended (expired, released) before we committed it
                self._take_back(exchange_id, exc)
                raise Conflict(f"the points could not be collected ({exc}); the reward was taken back",
                               "exchange_key") from None
            with self.db.transaction() as tx:
                catalog_repo.set_exchange(tx, exchange_id, state="completed")
                ex = catalog_repo.exchange_by_id(tx, exchange_id)
        if ex.state == "failed":
            raise Conflict(f"this exchange failed: {ex.error}", "exchange_key")
        return self._exchange_out(ex, replayed)

    def _reward(self, tx: Tx, ex: Any) -> str | None:
        item = catalog_repo.get_item(tx, str(ex.item_id))
        if not catalog_repo.take_stock(tx, str(ex.item_id)):
            raise Conflict("out of stock", "item_id")
        if item.kind == "gift":
            return None
        coupon = issuing.issue_one(tx, str(item.template_id), str(ex.member_id), f"exchange:{ex.id}", "exchange",
                                   None)
        return coupon.coupon_id

    def _take_back(self, exchange_id: str, exc: ServiceError) -> None:
        """Never a reward with no points spent: void the coupon / restock the gift and fail the
        exchange; a coupon used meanwhile cannot come back, which the error says for ops."""
        with self.db.transaction() as tx:
            ex = catalog_repo.exchange_by_id(tx, exchange_id, lock=True)
            if ex.state != "rewarded":
                return
            if catalog_repo.take_back_reward(tx, str(ex.item_id),
                                             None if ex.coupon_id is None else str(ex.coupon_id)):
                error = f"points not collected ({exc}); reward taken back"
            else:
                error = f"points not collected ({exc}); the coupon was already used: settle by hand"
                log.error("exchange %s: %s", exchange_id, error)
            catalog_repo.set_exchange(tx, exchange_id, state="failed", error=error[:500])

    def _fail(self, exchange_id: str, hold_id: str | None, exc: ServiceError) -> None:
        if hold_id is not None:
            try:
                self._points_call("release_hold", hold_id=hold_id)
            except Exception:  # the hold releases itself after HOLD_TTL; recovery tries again
                log.exception("releasing hold %s of exchange %s", hold_id, exchange_id)
                return
        with self.db.transaction() as tx:
            catalog_repo.set_exchange(tx, exchange_id, state="failed", error=str(exc)[:500])

    def _exchange_out(self, ex: Any, replayed: bool) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self.db.transaction() as tx:
            item = catalog_repo.get_item(tx, str(ex.item_id))
            coupon = repo.coupon_by_id(tx, str(ex.coupon_id)) if ex.coupon_id else None
        return ExchangeResult(exchange_id=str(ex.id), item_id=str(ex.item_id), member_id=str(ex.member_id),
                              points=ex.points, status="completed" if ex.state == "completed" else "pending",
                              coupon=coupon_out(coupon, now) if coupon is not None else None,
                              gift_sku=item.gift_sku if item.kind == "gift" else None,
                              created_at=ex.created_at, replayed=replayed).model_dump(mode="json")

    def _points_call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One RPC to the points service (the caller's identity travels with it), with a timeout;
        its typed errors come back as ours."""
        try:
            with eventlet.Timeout(POINTS_TIMEOUT):
                result: dict[str, Any] = getattr(self.points, method)(**kwargs)
                return result
        except RemoteError as exc:
            cls = {c.__name__: c for c in WITH_POINTS}.get(exc.exc_type or "")
            if cls is not None:
                args = exc.value if isinstance(exc.value, list) else None
                message = str(args[0]) if args else str(exc.value)
                raise cls(message, args[1] if args and len(args) > 1 else None) from None
            raise
        except (eventlet.Timeout, UnknownService):
            raise PointsUnavailable("the points service did not answer in time: retry with the same key",
                                    "exchange_key") from None

    def recover(self, older_than: datetime) -> None:
        """Finish exchanges a crash left half-way."""
        with self.db.transaction() as tx:
            stale = catalog_repo.stale_exchanges(tx, older_than, 100)
        for row in stale:
            try:
                self.drive(str(row.id))
            except ServiceError as exc:
                log.info("exchange %s: %s", row.id, exc)
