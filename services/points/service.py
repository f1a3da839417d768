"""Points service entrypoints: parse, authorise, call a use case, shape the answer."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy.exc import IntegrityError

from contracts.access import (
    ADMIN,
    EXPORTERS,
    MARKETING,
    SELLERS,
    STORE_MANAGEMENT,
    require,
    require_self,
    require_store,
)
from contracts.campaigns import (
    CampaignAudienceGranted,
    CampaignBonusEnded,
    CampaignBonusStarted,
    CampaignBudgetChanged,
)
from contracts.envelope import Envelope
from contracts.errors import (
    Conflict,
    Forbidden,
    InsufficientPoints,
    InvalidInput,
    NotFound,
    ServiceError,
)
from contracts.events import (
    MemberBirthday,
    MemberErased,
    MemberMerged,
    MemberRegistered,
    MembersImported,
    MemberUpdated,
)
from contracts.points import (
    Activity,
    Adjust,
    BonusRule,
    HoldRequest,
    JobResult,
    Refund,
    RefundItem,
    Sale,
    SaleItem,
    SaleResult,
    SetProgram,
)
from service_runtime.base import parse_request
from service_runtime.callers import SignedServiceRpc
from service_runtime.config import env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe, subscribe_batch
from services.points import (
    accounts,
    adjustments,
    holds,
    inputs,
    lifecycle,
    limits,
    opening,
    programs,
    reports,
    sales,
    uploads,
)
from services.points.catalog_feed import CatalogFeed
from services.points.combine import SaleCombinerProvider
from services.points.jobs import JOBS
from services.points.migration_service import MigrationEntrypoints
from services.points.programs import ProgramProvider
from services.points.reconcile import ReconcileEntrypoints

log = logging.getLogger(__name__)
limits.from_env()  # a limit setting that cannot be used stops the service at start, not at a sale
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict, InsufficientPoints)
F = TypeVar("F", bound=Callable[..., Any])


def entrypoint(method: F) -> F:
    """An RPC entrypoint whose expected errors reach the caller as they are (typed by typings/nameko)."""
    return rpc(expected_exceptions=EXPECTED)(method)


def every(seconds: int) -> Callable[[F], F]:
    """A timer entrypoint (typed by typings/nameko)."""
    return timer(interval=seconds)


class PointsService(CatalogFeed, ReconcileEntrypoints, MigrationEntrypoints):
    name = "points"
    program_cache = ProgramProvider()
    combiner = SaleCombinerProvider()
    members = SignedServiceRpc("members")  # only to confirm a member whose account is not open yet

    # -- member lifecycle (events from members) --------------------------------------------------
    @subscribe_batch("members", "member.registered")
    def on_member_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        """Accounts open in batches: registrations come in bursts at opening time."""
        lifecycle.open_accounts(tx, events)

    @subscribe_batch("members", "members.imported", max_batch=10)
    def on_members_imported(self, tx: Tx, events: list[tuple[MembersImported, Envelope]]) -> None:
        """A bulk import's members, up to 500 an event: accounts for all of them in one statement."""
        lifecycle.open_accounts(tx, [(member, envelope) for event, envelope in events for member in event.members])

    @subscribe("members", "member.updated")
    def on_member_updated(self, tx: Tx, event: MemberUpdated, envelope: Envelope) -> None:
        lifecycle.updated(tx, event)

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        lifecycle.erased(tx, event.member_id)

    @subscribe("members", "member.merged")
    def on_member_merged(self, tx: Tx, event: MemberMerged, envelope: Envelope) -> None:
        lifecycle.merged(tx, self.program_cache, event)

    @subscribe("members", "member.birthday")
    def on_member_birthday(self, tx: Tx, event: MemberBirthday, envelope: Envelope) -> None:
        adjustments.activity(tx, self.program_cache, event.member_id, "birthday", str(event.year),
                             event.registration_store, inputs.now())

    # -- campaigns' bonus rules (events from campaigns) --------------------------------------------
    @subscribe("campaigns", "campaign.bonus_started")
    def on_campaign_bonus_started(self, tx: Tx, event: CampaignBonusStarted, envelope: Envelope) -> None:
        lifecycle.bonus_started(tx, self.program_cache, event)

    @subscribe("campaigns", "campaign.budget_changed")
    def on_campaign_budget_changed(self, tx: Tx, event: CampaignBudgetChanged, envelope: Envelope) -> None:
        lifecycle.budget_changed(tx, self.program_cache, event)

    @subscribe("campaigns", "campaign.audience_granted")
    def on_campaign_audience_granted(self, tx: Tx, event: CampaignAudienceGranted, envelope: Envelope) -> None:
        lifecycle.audience_granted(tx, event.campaign_id, event.member_ids)

    @subscribe("campaigns", "campaign.bonus_ended")
    def on_campaign_bonus_ended(self, tx: Tx, event: CampaignBonusEnded, envelope: Envelope) -> None:
        lifecycle.bonus_ended(tx, self.program_cache, event.campaign_id, event.ended_at)

    # -- sales and refunds ---------------------------------------------------------------------------
    @entrypoint
    def record_sale(self, **request: Any) -> dict[str, Any]:
        sale: Sale = parse_request(Sale, request)
        require(self.caller, SELLERS, store=sale.store)
        inputs.within(limits.from_env().sale_problem(sale))
        sale._actor = (self.caller.kind, self.caller.id)
        outcome = self.combiner.submit(sale, self._post_sales)  # with the sales other tills send meanwhile
        if isinstance(outcome, BaseException):
            raise outcome
        answer: SaleResult = outcome
        return answer.model_dump(mode="json")

    def _post_sales(self, batch: list[Sale]) -> list[sales.Outcome]:
        outcomes = sales.post(self.db, self.program_cache, self.members, list(enumerate(batch)), [])
        return [outcomes[index] for index in range(len(batch))]

    @entrypoint
    def refund_sale(self, **request: Any) -> dict[str, Any]:
        refund: Refund = parse_request(Refund, request)
        require(self.caller, SELLERS, store=refund.store)
        inputs.within(limits.from_env().refund_problem(refund))
        refund._actor = (self.caller.kind, self.caller.id)
        outcome = sales.post(self.db, self.program_cache, self.members, [], [(0, refund)])[0]
        if isinstance(outcome, ServiceError):
            raise outcome
        return outcome.model_dump(mode="json")

    @entrypoint
    def record_batch(self, items: Any = None) -> dict[str, Any]:
        """An offline upload: sales first (a refund may come before its sale in the file), then
        refunds, all in one transaction; each item answered on its own, a refused item (its
        validation, its store, its limits, its member) included, with the balance after it."""
        require(self.caller, SELLERS)
        good, refused = uploads.check_items(items, self.caller.stores, limits.from_env())
        for _, item in good:
            item._actor = (self.caller.kind, self.caller.id)
        # the items are sales and refunds already (validated once; their hashes leave out "kind")
        sales_in: list[tuple[int, Sale]] = [(i, item) for i, item in good if isinstance(item, SaleItem)]
        refunds_in = [(i, item) for i, item in good if isinstance(item, RefundItem)]
        posted = sales.post(self.db, self.program_cache, self.members, sales_in, refunds_in) if good else {}
        return uploads.answer(items, {**posted, **refused}, refused)

    # -- redemption: hold, commit, release --------------------------------------------------------
    @entrypoint
    def hold(self, **request: Any) -> dict[str, Any]:
        req: HoldRequest = parse_request(HoldRequest, request)
        require(self.caller, SELLERS, store=req.store)
        inputs.within(limits.from_env().hold_problem(req.points))
        return opening.with_opening(self.db, self.members, lambda confirmed: holds.place(
            self.db, self.caller, req, confirmed)).model_dump(mode="json")

    @entrypoint
    def commit_hold(self, hold_id: str) -> dict[str, Any]:
        require(self.caller, SELLERS)
        return holds.finish(self.db, self.caller, hold_id, "commit").model_dump(mode="json")

    @entrypoint
    def release_hold(self, hold_id: str) -> dict[str, Any]:
        require(self.caller, SELLERS)
        return holds.finish(self.db, self.caller, hold_id, "release").model_dump(mode="json")

    # -- accounts and history ------------------------------------------------------------------------
    @entrypoint
    def get_account(self, member_id: str) -> dict[str, Any]:
        member_id = inputs.canonical_id(member_id)
        require_self(self.caller, member_id)
        return opening.with_opening(self.db, self.members, lambda confirmed: accounts.account(
            self.db, self.program_cache, member_id, confirmed)).model_dump(mode="json")

    @entrypoint
    def brief_accounts(self, member_ids: list[str]) -> dict[str, dict[str, Any]]:
        """What the till's member look-up shows, for members the caller has just found in members."""
        if not isinstance(member_ids, list) or len(member_ids) > 200:
            raise InvalidInput("a list of at most 200 member ids", "member_ids")
        ids = [inputs.canonical_id(m, "member_ids") for m in member_ids]
        if self.caller.kind == "member" and set(ids) - {self.caller.member_id}:
            raise Forbidden("a member sees only their own points", "member_ids")
        return accounts.brief(self.db, ids)

    @entrypoint
    def history(self, member_id: str, limit: int = 50, after: str | None = None) -> dict[str, Any]:
        member_id = inputs.canonical_id(member_id)
        require_self(self.caller, member_id)
        return accounts.history(self.db, member_id, limit, after).model_dump(mode="json")

    @entrypoint
    def lots(self, member_id: str, limit: int = 50, after: str | None = None) -> dict[str, Any]:
        member_id = inputs.canonical_id(member_id)
        require_self(self.caller, member_id)
        return accounts.lots(self.db, member_id, limit, after).model_dump(mode="json")

    @entrypoint
    def export_member(self, member_id: str) -> dict[str, Any]:
        member_id = inputs.canonical_id(member_id)
        require(self.caller, EXPORTERS, member=member_id)
        return accounts.export(self.db, member_id)

    # -- staff adjustments and member activities ------------------------------------------------------
    @entrypoint
    def adjust(self, **request: Any) -> dict[str, Any]:
        cmd: Adjust = parse_request(Adjust, request)
        member_id = inputs.canonical_id(cmd.member_id)
        inputs.within(limits.from_env().adjust_problem(cmd.points))
        require(self.caller, STORE_MANAGEMENT, field="member_id")
        require_store(self.caller, cmd.store)
        try:
            result = adjustments.adjust(self.db, self.program_cache, cmd, member_id, self.caller.id or self.caller.kind)
        except IntegrityError:  # the same request_id on another member at the same moment
            raise Conflict("this request_id was used for another adjustment", "request_id") from None
        return result.model_dump(mode="json")

    @entrypoint
    def activity(self, **request: Any) -> dict[str, Any]:
        cmd: Activity = parse_request(Activity, request)
        member_id = inputs.canonical_id(cmd.member_id)
        require_self(self.caller, member_id)
        if self.caller.kind == "member":
            if cmd.kind not in ("checkin", "share"):
                raise Forbidden("members record check-ins and shares; staff record the rest", "kind")
            cmd = cmd.model_copy(update={"store": None, "at": None})  # their registration store's day, now
        require_store(self.caller, cmd.store)
        return adjustments.record_activity(self.db, self.members, self.program_cache, member_id, cmd.kind, cmd.key,
                                           cmd.store, cmd.at).model_dump(mode="json")

    # -- the program and bonus rules ------------------------------------------------------------------
    @entrypoint
    def get_program(self) -> dict[str, Any]:
        return programs.current_version(self.db, self.program_cache).model_dump(mode="json")

    @entrypoint
    def program_versions(self) -> list[dict[str, Any]]:
        return [v.model_dump(mode="json") for v in programs.versions(self.db, self.program_cache)]

    @entrypoint
    def set_program(self, **request: Any) -> dict[str, Any]:
        require(self.caller, MARKETING)
        cmd: SetProgram = parse_request(SetProgram, request)
        return programs.set_program(self.db, self.program_cache, cmd, self.caller.id).model_dump(mode="json")

    @entrypoint
    def bonus_rules(self, active_only: bool = False) -> list[dict[str, Any]]:
        return [b.model_dump(mode="json") for b in programs.bonus_rules(self.db, active_only)]

    @entrypoint
    def create_bonus_rule(self, **request: Any) -> dict[str, Any]:
        require(self.caller, MARKETING)
        rule: BonusRule = parse_request(BonusRule, request)
        return programs.create_bonus_rule(self.db, self.program_cache, rule, self.caller.id).model_dump(mode="json")

    @entrypoint
    def end_bonus_rule(self, rule_id: str) -> dict[str, Any]:
        require(self.caller, MARKETING)
        rule_id = inputs.canonical_id(rule_id, "rule_id", "a rule id")
        return programs.end_bonus_rule(self.db, self.program_cache, rule_id).model_dump(mode="json")

    # -- reports ------------------------------------------------------------------------------------
    @entrypoint
    def liability(self, day_from: str, day_to: str, store: str | None = None) -> list[dict[str, Any]]:
        start, end = reports.days(day_from, day_to)
        if self.caller.stores is not None:
            if store is None:
                raise InvalidInput("store-bound callers name their store", "store")
            require_store(self.caller, store)
        return [r.model_dump(mode="json") for r in reports.liability(self.db, self.program_cache, start, end, store)]

    @entrypoint
    def daily_report(self, store: str, day: str, total_sales: str | None = None) -> dict[str, Any]:
        """A store's day: member sales, their share of the takings (given the total), points issued,
        redeemed, expired and reversed."""
        if self.caller.kind == "member":
            raise Forbidden("reports are for staff")
        require_store(self.caller, store)
        start, _ = reports.days(day, day)
        total = reports.takings(total_sales)
        return reports.daily_report(self.db, store, start, total).model_dump(mode="json")

    @entrypoint
    def settlement(self, day_from: str, day_to: str) -> list[dict[str, Any]]:
        start, end = reports.days(day_from, day_to)
        rows = reports.settlement(self.db, self.program_cache, start, end, self.caller.stores)
        return [r.model_dump(mode="json") for r in rows]

    # -- jobs (timers, and by RPC for operators and tests) ----------------------------------------------
    @every(env_int("POINTS_JOB_SECONDS", 600))
    def jobs(self) -> None:
        for name in JOBS:
            try:
                self.run_job(name)
            except Exception:
                log.exception("points job %s failed", name)

    @entrypoint
    def run_job(self, name: str, at: str | None = None) -> dict[str, Any]:
        if name not in JOBS:
            raise InvalidInput(f"one of {', '.join(JOBS)}", "name")
        require(self.caller, ADMIN)
        when = inputs.at(at)
        if name in ("expiry", "holds") and when > inputs.now() + timedelta(minutes=1) \
                and not self.caller.is_service:
            raise InvalidInput("expiry and hold release cannot run ahead of time (points would expire early)", "at")
        processed, events = JOBS[name](self.db, self.program_cache, when)
        return JobResult(job=name, processed=processed, events=events).model_dump(mode="json")
