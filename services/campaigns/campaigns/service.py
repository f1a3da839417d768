"""Campaign entrypoints of the campaigns service: parse, check the caller, call a use case
(planning, schedule, launch, results), reply."""
from __future__ import annotations

from typing import Any

from contracts.access import ADMIN, CHAIN_READERS, MARKETING, MARKETING_READERS, id_or_none, require
from contracts.campaigns import Budget, CampaignIn
from contracts.envelope import Envelope
from contracts.errors import Conflict
from contracts.events import MemberBirthday
from contracts.notify import NotificationOutcome
from service_runtime.base import parse_request
from service_runtime.config import env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.campaigns.campaigns import browse, launch, planning, repo, results, schedule
from services.campaigns.campaigns.views import actor, campaign, campaign_out, moment
from services.campaigns.worker import CampaignsWorker, every, rpc_method


class CampaignEntrypoints(CampaignsWorker):
    @rpc_method
    def create_campaign(self, **request: Any) -> dict[str, Any]:
        require(self.who(), MARKETING)
        cmd: CampaignIn = parse_request(CampaignIn, request)
        return planning.create(self.worker_db(), cmd, actor(self.who()))

    @rpc_method
    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        require(self.who(), MARKETING_READERS)
        with self.tx() as tx:
            row = campaign(tx, campaign_id)
        return campaign_out(row)

    @rpc_method
    def list_campaigns(self, status: str | None = None, limit: int = 200,
                       after: list[str] | None = None) -> dict[str, Any]:
        """A page of campaigns, newest first: {"items", "next"} (``next``: pass as ``after``)."""
        require(self.who(), MARKETING_READERS)
        with self.tx() as tx:
            return browse.page(tx, status, limit, after)

    @rpc_method
    def campaign_history(self, campaign_id: str, limit: int = 200, after: int | None = None) -> dict[str, Any]:
        """A page of the campaign's state changes, oldest first: {"items", "next"}."""
        require(self.who(), MARKETING_READERS)
        with self.tx() as tx:
            return browse.history(tx, campaign_id, limit, after)

    @rpc_method
    def set_budget(self, campaign_id: str, **budget: Any) -> dict[str, Any]:
        """New caps; never below what the campaign has committed (coupons issued to its audience)."""
        require(self.who(), MARKETING)
        new: Budget = parse_request(Budget, budget)
        with self.tx() as tx:
            return planning.set_budget(tx, campaign_id, new, actor(self.who()))

    @rpc_method
    def change_status(self, campaign_id: str, status: str, note: str | None = None,
                      at: str | None = None) -> dict[str, Any]:
        """draft -> scheduled -> running <-> paused -> finished (scheduled -> draft to edit again)."""
        require(self.who(), MARKETING)
        now = moment(at)
        with self.tx() as tx:
            return schedule.change_status(tx, campaign_id, status, now, actor(self.who()), note)

    @subscribe("members", "member.birthday")
    def on_birthday_for_campaigns(self, tx: Tx, event: MemberBirthday, envelope: Envelope) -> None:
        """A running birthday campaign gives its treated members their coupon (and tells them) on
        their birthday, within the per-member limit and the cap."""
        launch.reward_on_event(tx, "birthday", event.member_id, event.registration_store, envelope.occurred_at)

    # -- the timer -------------------------------------------------------------------------------------
    @every(env_int("CAMPAIGNS_TIMER_SECONDS", 30))
    def campaign_timer(self) -> None:
        self.campaign_tick()

    @rpc_method
    def campaign_tick(self, at: str | None = None) -> dict[str, int]:
        """Start and finish campaigns whose time came, open member days (see schedule.tick)."""
        require(self.who(), ADMIN)
        return schedule.tick(self.worker_db(), moment(at), actor(self.who()))

    # -- outcomes and results --------------------------------------------------------------------------
    @subscribe("notify", "notification.outcome")
    def on_notification_outcome(self, tx: Tx, event: NotificationOutcome, envelope: Envelope) -> None:
        campaign_id, member_id = id_or_none(event.campaign_id), id_or_none(event.member_id)
        if campaign_id is None:  # not a campaign message, or not one of ours (our ids are UUIDs): nothing to count
            return
        repo.record_outcome(tx, event.message_id, campaign_id, member_id, event.status, event.at)

    @rpc_method
    def campaign_results(self, campaign_id: str) -> dict[str, Any]:
        """Reached, delivered, redeemed, conversion, attributed sales, cost and lift against the
        control group, for the campaign and per home store of its members (campaigns/results)."""
        require(self.who(), CHAIN_READERS)
        with self.tx() as tx:
            row = campaign(tx, campaign_id)
            if row.launched_at is None:
                raise Conflict("the campaign has not started: no results yet", "status")
            found = results.results(tx, row, self.who())
        return found.model_dump(mode="json")
