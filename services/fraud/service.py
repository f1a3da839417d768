"""Fraud service entrypoints: till facts in from points' and members' events, the review queue and
the rules by RPC. Thin: parse, call a use case in one transaction (review checks the caller through
services/fraud/access.py), answer the contract."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nameko.rpc import rpc as nameko_rpc
from nameko.timer import timer
from prometheus_client import Gauge

from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import (
    MemberErased,
    MemberRegistered,
    PointsAccrued,
    PointsAdjusted,
    PointsHoldReleased,
    PointsRedeemed,
    PointsReversed,
)
from contracts.fraud import RULE_NAMES, Acknowledge, AlertQuery, RuleUpdate
from service_runtime.base import ServiceBase, parse_request
from service_runtime.config import env_int
from service_runtime.db import Tx
from service_runtime.events import READ_MODEL_WAIT, subscribe, subscribe_batch
from services.fraud import ingest, repo, review

EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)
rpc = nameko_rpc(expected_exceptions=EXPECTED)  # business errors: not logged as failures
RETENTION = timedelta(hours=env_int("FRAUD_RETENTION_HOURS", 72))  # longer than the longest window (2 days)
OPEN = Gauge("loyalty_fraud_alerts_open", "Fraud alerts waiting for a manager's acknowledgement", ["rule"])


def _now() -> datetime:
    return datetime.now(UTC)


class FraudService(ServiceBase):
    name = "fraud"

    @rpc
    def alerts(self, **request: Any) -> dict[str, Any]:
        query: AlertQuery = parse_request(AlertQuery, request)
        with self.db.transaction() as tx:
            return review.page(tx, self.caller, query)

    @rpc
    def alert(self, alert_id: str) -> dict[str, Any]:
        with self.db.transaction() as tx:
            return review.get(tx, self.caller, alert_id)

    @rpc
    def acknowledge(self, **request: Any) -> dict[str, Any]:
        cmd: Acknowledge = parse_request(Acknowledge, request)
        with self.db.transaction() as tx:
            return review.acknowledge(tx, self.caller, cmd, _now())

    @rpc
    def rules(self) -> list[dict[str, Any]]:
        with self.db.transaction() as tx:
            return review.list_rules(tx, self.caller)

    @rpc
    def set_rule(self, **request: Any) -> dict[str, Any]:
        cmd: RuleUpdate = parse_request(RuleUpdate, request)
        with self.db.transaction() as tx:
            return review.set_rule(tx, self.caller, cmd, _now())

    # -- facts, in batches: a busy day's sales arrive as bundles ------------------------------------
    @subscribe_batch("points", "points.accrued", max_wait=READ_MODEL_WAIT)
    def on_accrued(self, tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
        ingest.take(tx, events, _now())

    @subscribe_batch("points", "points.reversed")
    def on_reversed(self, tx: Tx, events: list[tuple[PointsReversed, Envelope]]) -> None:
        ingest.take(tx, events, _now())

    @subscribe_batch("points", "points.redeemed")
    def on_redeemed(self, tx: Tx, events: list[tuple[PointsRedeemed, Envelope]]) -> None:
        ingest.take(tx, events, _now())

    @subscribe_batch("points", "points.hold_released")
    def on_hold_released(self, tx: Tx, events: list[tuple[PointsHoldReleased, Envelope]]) -> None:
        ingest.take(tx, events, _now())

    @subscribe_batch("points", "points.adjusted")
    def on_adjusted(self, tx: Tx, events: list[tuple[PointsAdjusted, Envelope]]) -> None:
        ingest.take(tx, events, _now())

    @subscribe_batch("members", "member.registered")
    def on_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        ingest.take(tx, events, _now())

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        repo.forget_member(tx, event.member_id)

    @timer(interval=env_int("FRAUD_HOUSEKEEPING_SECONDS", 300))
    def housekeeping(self) -> None:
        """Facts older than every window go; the open alerts are counted for the dashboards."""
        with self.db.transaction() as tx:
            repo.purge(tx, _now() - RETENTION)
            counts = repo.open_counts(tx)
        for rule in RULE_NAMES:
            OPEN.labels(rule).set(counts.get(rule, 0))
