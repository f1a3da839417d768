"""Campaign entrypoints (mixed into CampaignsService through SegmentEntrypoints): create, the
state machine with its audit trail, launch (snapshot, control group, coupons / bonus rules,
announcements), the timer, notify's outcomes, and results with lift."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from nameko.rpc import rpc
from nameko.timer import timer

from contracts.campaigns import (
    Budget,
    CampaignAnnounced,
    CampaignAudienceGranted,
    CampaignBonusEnded,
    CampaignBonusStarted,
    CampaignBudgetChanged,
    CampaignIn,
    CampaignOut,
    HistoryEntry,
)
from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from contracts.events import MemberBirthday
from contracts.notify import NotificationOutcome
from service_runtime.base import parse_request
from service_runtime.config import StoreZones, env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.campaigns import campaign_results, paging
from services.campaigns import campaign_rules as rules
from services.campaigns import campaign_store as cstore
from services.campaigns import segment_store as sstore
from services.campaigns.coupons import interface as coupon_issue
from services.campaigns.ids import uuid_or_none
from services.campaigns.segment_rules import parse_rule, required_fields

log = logging.getLogger(__name__)
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)
SNAPSHOT_NS = uuid.UUID("6f1d7c52-7f0e-4a8e-9a51-3c2f7f9b2d10")
ANNOUNCE_CHUNK = 5_000
AUDIENCE_CHUNK = 1_000  # member ids per campaign.audience_granted event
SPEC_FIELDS = ("recurrence", "budget", "per_member_limit", "channel", "template", "multiplier", "points_per_sale",
               "coupon_template_id", "stores")


def _now(at: str | None = None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(at)
    except ValueError:
        raise InvalidInput("must be an ISO date-time", "at") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _id(value: Any, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInput("must be a UUID", field) from None


def _out(row: Any) -> CampaignOut:
    spec = row.spec
    return CampaignOut(campaign_id=str(row.id), name=row.name, type=row.type, segment_id=str(row.segment_id),
                       starts_at=row.starts_at, ends_at=row.ends_at, control_share=row.control_share,
                       attribution_days=row.attribution_days, status=row.status,
                       snapshot_id=None if row.snapshot_id is None else str(row.snapshot_id), version=row.version,
                       created_by=row.created_by, created_at=row.created_at, launched_at=row.launched_at,
                       **{k: spec.get(k) for k in SPEC_FIELDS if spec.get(k) is not None})


class CampaignEntrypoints:
    def _actor(self) -> str:
        caller = self.caller  # type: ignore[attr-defined]
        return f"{caller.kind}:{caller.id}" if caller.id else caller.kind

    def _may(self, *roles: str) -> None:
        self._staff(*roles)  # type: ignore[attr-defined]

    def _campaign(self, tx: Tx, campaign_id: str, lock: bool = False) -> Any:
        row = cstore.get(tx, _id(campaign_id, "campaign_id"), lock)
        if row is None:
            raise NotFound("no such campaign", "campaign_id")
        return row

    @rpc(expected_exceptions=EXPECTED)
    def create_campaign(self, **request: Any) -> dict[str, Any]:
        self._may("admin", "marketer")
        cmd: CampaignIn = parse_request(CampaignIn, request)
        data = cmd.model_dump(mode="json")
        rules.validate(cmd.model_dump())
        campaign_id = _id(cmd.campaign_id, "campaign_id") if cmd.campaign_id else str(uuid.uuid4())
        spec = {k: data[k] for k in SPEC_FIELDS}
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            segment = sstore.get_segment(tx, _id(cmd.segment_id, "segment_id"))
            if segment is None:
                raise NotFound("no such segment", "segment_id")
            if cmd.type == "win_back" and not {"lifecycle", "days_since_last_purchase"} & required_fields(
                    parse_rule(segment.rule)):
                raise InvalidInput("a win-back campaign is for lapsed members: its segment must require a lifecycle "
                                   "or days_since_last_purchase condition", "segment_id")
            self._check_money_budget(tx, cmd.type, spec)
            row, created = cstore.add(tx, {
                "id": campaign_id, "name": cmd.name, "type": cmd.type, "segment_id": cmd.segment_id,
                "starts_at": cmd.starts_at, "ends_at": cmd.ends_at, "spec": spec, "control_share": cmd.control_share,
                "attribution_days": cmd.attribution_days}, self._actor())
        if not created and (row.name, row.type, row.spec) != (cmd.name, cmd.type, spec):
            raise Conflict("this campaign id exists with another definition", "campaign_id")
        return _out(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        self._may("admin", "marketer", "auditor")
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = self._campaign(tx, campaign_id)
        return _out(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def list_campaigns(self, status: str | None = None, limit: int = 200,
                       after: list[str] | None = None) -> dict[str, Any]:
        """A page of campaigns, newest first: {"items", "next"} (``next``: pass as ``after``)."""
        self._may("admin", "marketer", "auditor")
        if status is not None and status not in rules.STATES:
            raise InvalidInput(f"one of {', '.join(rules.STATES)}", "status")
        limit = paging.check_limit(limit)
        start = paging.position(after, paging.CAMPAIGN_POSITION)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            rows = cstore.listing(tx, status, limit + 1, start)  # type: ignore[arg-type]
        rows, more = paging.cut(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])
        return {"items": [_out(r).model_dump(mode="json") for r in rows], "next": more}

    @rpc(expected_exceptions=EXPECTED)
    def campaign_history(self, campaign_id: str, limit: int = 200, after: int | None = None) -> dict[str, Any]:
        """A page of the campaign's state changes, oldest first: {"items", "next"}."""
        self._may("admin", "marketer", "auditor")
        limit = paging.check_limit(limit)
        start = paging.position(after, paging.HISTORY_POSITION)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            self._campaign(tx, campaign_id)
            rows = cstore.history_of(tx, _id(campaign_id, "campaign_id"), limit + 1,
                                     None if start is None else start[0])
        rows, more = paging.cut(rows, limit, lambda r: int(r.id))  # type: ignore[arg-type,return-value]
        return {"items": [HistoryEntry(from_status=r.from_status, to_status=r.to_status, actor=r.actor, note=r.note,
                                       at=r.at).model_dump(mode="json") for r in rows], "next": more}

    @rpc(expected_exceptions=EXPECTED)
    def set_budget(self, campaign_id: str, **budget: Any) -> dict[str, Any]:
        """New caps; never below what the campaign has committed (coupons issued to its audience)."""
        self._may("admin", "marketer")
        new: Budget = parse_request(Budget, budget)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = self._campaign(tx, campaign_id, lock=True)
            if row.status == "finished":
                raise Conflict("the campaign is finished", "status")
            committed = self._committed(tx, row)
            rules.check_budget(new.model_dump(), committed)
            self._check_money_budget(tx, row.type, {**row.spec, "budget": new.model_dump(mode="json")})
            row = cstore.set_spec(tx, row, {**row.spec, "budget": new.model_dump(mode="json")}, self._actor(),
                                  "budget changed")
            if row.type in rules.POINTS_TYPES and row.launched_at is not None:
                tx.emit(CampaignBudgetChanged(campaign_id=str(row.id), points_budget=new.points,
                                              money_budget=new.money, granted=int(committed["points"])))
        return _out(row).model_dump(mode="json")

    @staticmethod
    def _check_money_budget(tx: Tx, kind: str, spec: dict[str, Any]) -> None:
        """A coupon campaign's money budget counts each coupon's face value: a template without
        one (a percent coupon with no max_discount, a gift with no gift_value) cannot be budgeted
        by money (it would cap nothing)."""
        if kind not in rules.COUPON_TYPES or (spec.get("budget") or {}).get("money") is None:
            return
        template = spec.get("coupon_template_id")
        if template and uuid_or_none(template) and coupon_issue.face_value(tx, template) <= 0:
            raise InvalidInput("the coupon template has no face value to count against a money budget (give it a "
                               "max_discount or gift_value, or budget by coupons)", "budget.money")

    def _committed(self, tx: Tx, row: Any) -> dict[str, Any]:
        """What the campaign has committed: coupons granted (queued jobs included) and their face
        value or the discount redeemed, whichever is more; for points campaigns the bonus points
        points reported granted (and their value)."""
        if row.launched_at is None:
            return {"coupons": 0, "money": 0, "points": 0}
        if row.type in rules.COUPON_TYPES:
            stats = coupon_issue.campaign_coupon_stats(tx, str(row.id))
            given = cstore.rewards_given(tx, str(row.id))
            face = coupon_issue.face_value(tx, row.spec["coupon_template_id"])
            return {"coupons": given, "money": max(stats["discount"], given * face), "points": 0}
        bonus = sstore.bonus_granted(tx, str(row.id)).values()
        return {"coupons": 0, "points": sum(p for p, _ in bonus), "money": sum((v for _, v in bonus), Decimal(0))}

    @rpc(expected_exceptions=EXPECTED)
    def change_status(self, campaign_id: str, status: str, note: str | None = None,
                      at: str | None = None) -> dict[str, Any]:
        """draft -> scheduled -> running <-> paused -> finished (scheduled -> draft to edit again);
        running is reached by the timer at starts_at, or at once if starts_at has passed."""
        self._may("admin", "marketer")
        now = _now(at)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = self._campaign(tx, campaign_id, lock=True)
            if row.status == status:
                return _out(row).model_dump(mode="json")  # a retry: nothing more to do
            rules.check_transition(row.status, status)
            if status == "running" and row.status == "scheduled" and row.starts_at > now:
                raise Conflict("it starts at starts_at (the timer starts it)", "status")
            if status in ("scheduled", "running") and row.ends_at <= now:
                raise Conflict("its end has passed", "ends_at")
            row = self._move(tx, row, status, now, note)
        return _out(row).model_dump(mode="json")

    def _move(self, tx: Tx, row: Any, status: str, now: datetime, note: str | None) -> Any:
        actor = self._actor()
        if status == "running" and row.launched_at is None:
            return self._launch(tx, row, now, actor, note)
        if status == "running":  # resumed
            updated = cstore.set_status(tx, row, status, actor, note)
            self._bonus_start(tx, updated, now, f"{row.id}:v{updated.version}")
            return updated
        if status in ("paused", "finished") and row.status == "running" and row.type in rules.POINTS_TYPES:
            tx.emit(CampaignBonusEnded(campaign_id=str(row.id), ended_at=now))
        return cstore.set_status(tx, row, status, actor, note)

    def _launch(self, tx: Tx, row: Any, now: datetime, actor: str, note: str | None) -> Any:
        """Fix the audience (snapshot, control group), then coupons / bonus rules / announcements.
        Runs once under the campaign's row lock, so caps over the audience hold."""
        campaign_id = str(row.id)
        segment = sstore.get_segment(tx, str(row.segment_id))
        snapshot_id = str(uuid.uuid5(SNAPSHOT_NS, campaign_id))
        sstore.take_snapshot(tx, snapshot_id, segment, parse_rule(segment.rule), now.date())
        cstore.fill_audience(tx, campaign_id, snapshot_id, rules.control_threshold(Decimal(row.control_share)))
        updated = cstore.set_status(tx, row, "running", actor, note or "launched", snapshot_id=snapshot_id,
                                    launched_at=now)
        spec = row.spec
        granted: list[str] | None = None  # coupon campaigns tell only the members who got a coupon
        if row.type in rules.COUPON_TYPES and row.type not in rules.ON_EVENT_TYPES:  # those go out on the day
            granted = self._issue(tx, updated, None)
        self._bonus_start(tx, updated, now, campaign_id)
        if spec.get("channel") and row.type != "birthday":
            self._announce(tx, updated, now, granted)
        return updated

    def _issue(self, tx: Tx, row: Any, member_id: str | None) -> list[str]:
        """Coupons to treated members within the per-member limit, the coupon cap and the money cap
        (each coupon counts its face value)."""
        spec = row.spec
        budget = spec.get("budget") or {}
        cap = budget.get("coupons")
        if budget.get("money") is not None:
            face = coupon_issue.face_value(tx, spec["coupon_template_id"])
            if face > 0:
                by_money = int(Decimal(budget["money"]) // face)
                cap = by_money if cap is None else min(cap, by_money)
        granted = cstore.grant(tx, str(row.id), int(spec.get("per_member_limit") or 1), cap, member_id)
        by_number: dict[int, list[str]] = {}
        for member, number in granted:  # a member's 2nd coupon of the campaign is another coupon
            by_number.setdefault(number, []).append(member)
        for number, members in sorted(by_number.items()):
            coupon_issue.start_issue_job(tx, spec["coupon_template_id"], members,
                                         source="birthday" if row.type == "birthday" else "campaign",
                                         campaign_id=str(row.id), occurrence=number)
        return [member for member, _ in granted]

    @subscribe("members", "member.birthday")
    def on_birthday_for_campaigns(self, tx: Tx, event: MemberBirthday, envelope: Envelope) -> None:
        """A running birthday campaign gives its treated members their coupon (and tells them) on
        their birthday, within the per-member limit and the cap."""
        self._reward_on_event(tx, "birthday", event.member_id, event.registration_store, envelope.occurred_at)

    def on_referrals(self, tx: Tx, referrers: list[tuple[str, str | None, datetime]]) -> None:
        """Referral campaigns: each referral points credited (member, store, time) gives the
        referrer a coupon if they are in a running referral campaign's treated audience, up to its
        per-member limit (referrals rewarded per referrer) and its coupon cap."""
        for member_id, store, at in referrers:
            self._reward_on_event(tx, "referral", member_id, store, at)

    def _reward_on_event(self, tx: Tx, kind: str, member_id: str, store: str | None, at: datetime) -> None:
        for found in cstore.live_of_type(tx, kind, at):
            row = cstore.get(tx, str(found.id), lock=True)
            try:
                with tx.conn.begin_nested():  # a refused issue takes back its grant, nothing else
                    granted = self._issue(tx, row, member_id)
            except (Conflict, NotFound) as refused:  # the template's budget is used up, or it is gone
                log.warning("campaign %s gave no %s coupon to %s: %s", row.id, kind, member_id, refused)
                continue  # the event that brought us here (a sale's points, a birthday) is handled still
            if granted and row.spec.get("channel"):
                tx.emit(CampaignAnnounced(campaign_id=str(row.id), member_id=member_id, channel=row.spec["channel"],
                                          template=row.spec["template"], variables=self._variables(tx, row),
                                          store=store, announced_at=at))

    @staticmethod
    def _send_audience(tx: Tx, row: Any) -> None:
        """Tell points the treated audience its audience-only bonus rules reward, in pages. Sent with
        every bonus start (launch, resume, each member day): points keeps each member once, and a
        campaign launched before audiences existed gets one."""
        campaign_id = str(row.id)
        page = [str(m.member_id) for m in cstore.treated(tx, campaign_id, AUDIENCE_CHUNK)]
        while page:
            tx.emit(CampaignAudienceGranted(campaign_id=campaign_id, member_ids=page))
            page = [str(m.member_id) for m in cstore.treated(tx, campaign_id, AUDIENCE_CHUNK, page[-1])]

    def _bonus_start(self, tx: Tx, row: Any, now: datetime, key: str) -> None:
        spec = row.spec
        if row.type in ("points_multiplier", "points_bonus"):
            self._send_audience(tx, row)
            tx.emit(CampaignBonusStarted(campaign_id=str(row.id), rule_key=key, name=row.name,
                                         starts_at=max(now, row.starts_at), ends_at=row.ends_at,
                                         multiplier=spec.get("multiplier"), points_per_sale=spec.get("points_per_sale"),
                                         stores=spec.get("stores") or [], audience_only=True,
                                         points_budget=(spec.get("budget") or {}).get("points"),
                                         money_budget=(spec.get("budget") or {}).get("money"),
                                         per_member_limit=spec.get("per_member_limit")))
        elif row.type == "member_day":
            self._member_days(tx, row, now)

    def _member_days(self, tx: Tx, row: Any, now: datetime) -> None:
        """Bonus rules for the member days under way or starting within a day, in each store's zone;
        each occurrence once (its key is remembered, and points dedupes by it too)."""
        zones = StoreZones.from_env()
        spec = row.spec
        groups = rules.zone_groups(spec.get("stores") or [], zones.named, zones.default)
        done = set(spec.get("occurrences") or [])
        fresh = []
        for occ in rules.member_day_occurrences(str(row.id), spec["recurrence"]["weekdays"], now, groups):
            start, end = max(occ.starts_at, row.starts_at), min(occ.ends_at, row.ends_at)
            if occ.key in done or end <= start:
                continue
            fresh.append(occ.key)
            tx.emit(CampaignBonusStarted(campaign_id=str(row.id), rule_key=occ.key, name=f"{row.name} {occ.key[-30:]}",
                                         starts_at=start, ends_at=end, multiplier=spec.get("multiplier"),
                                         points_per_sale=spec.get("points_per_sale"), stores=list(occ.stores),
                                         audience_only=True, points_budget=(spec.get("budget") or {}).get("points"),
                                         money_budget=(spec.get("budget") or {}).get("money"),
                                         per_member_limit=spec.get("per_member_limit")))
        if fresh:
            self._send_audience(tx, row)
            cstore.set_spec(tx, row, {**spec, "occurrences": sorted(done | set(fresh))}, "timer",
                            "member day " + ", ".join(fresh))

    @staticmethod
    def _variables(tx: Tx, row: Any) -> dict[str, str | int]:
        """Template variables of an announcement: the campaign's name, and for coupon campaigns the
        coupon's value (notify's coupon templates need it)."""
        variables: dict[str, str | int] = {"campaign_name": row.name}
        if row.type in rules.COUPON_TYPES and row.spec.get("coupon_template_id"):
            variables.update(coupon_issue.template_variables(tx, row.spec["coupon_template_id"]))
        return variables

    def _announce(self, tx: Tx, row: Any, now: datetime, only: list[str] | None = None) -> None:
        spec = row.spec
        members = cstore.treated(tx, str(row.id))
        if only is not None:
            wanted = set(only)
            members = [m for m in members if str(m.member_id) in wanted]
        variables = self._variables(tx, row)
        for i in range(0, len(members), ANNOUNCE_CHUNK):
            tx.emit_many([CampaignAnnounced(campaign_id=str(row.id), member_id=str(m.member_id),
                                            channel=spec["channel"], template=spec["template"], variables=variables,
                                            store=m.store, announced_at=now)
                          for m in members[i:i + ANNOUNCE_CHUNK]])

    # -- the timer ----------------------------------------------------------------------------------
    @timer(interval=env_int("CAMPAIGNS_TIMER_SECONDS", 30))
    def campaign_timer(self) -> None:
        self.campaign_tick()

    @rpc(expected_exceptions=EXPECTED)
    def campaign_tick(self, at: str | None = None) -> dict[str, int]:
        """Start scheduled campaigns whose start came, finish those whose end came, open member days.
        Safe to run twice or in two processes at once: each campaign moves under its row lock and
        only from the state it was read in."""
        self._may("admin")
        now = _now(at)
        started = finished = failed = 0
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            due = [str(r.id) for r in cstore.due(tx, now)]
        for campaign_id in due:
            try:
                with self.db.transaction() as tx:  # type: ignore[attr-defined]
                    row = cstore.get(tx, campaign_id, lock=True)
                    if row.status in ("scheduled", "running", "paused") and row.ends_at <= now:
                        self._move(tx, row, "finished", now, "ended (timer)")
                        finished += 1
                    elif row.status == "scheduled" and row.starts_at <= now:
                        self._move(tx, row, "running", now, "started (timer)")
                        started += 1
            except ServiceError as exc:  # e.g. its coupon template's budget is spent: the others still move
                failed += 1
                log.warning("campaign %s could not move on: %s", campaign_id, exc)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            for row in cstore.running_member_days(tx):
                self._member_days(tx, cstore.get(tx, str(row.id), lock=True), now)
        return {"started": started, "finished": finished, "failed": failed}

    # -- outcomes and results -----------------------------------------------------------------------
    @subscribe("notify", "notification.outcome")
    def on_notification_outcome(self, tx: Tx, event: NotificationOutcome, envelope: Envelope) -> None:
        campaign_id, member_id = uuid_or_none(event.campaign_id), uuid_or_none(event.member_id)
        if campaign_id is None:  # not a campaign message, or not one of ours (our ids are UUIDs): nothing to count
            return
        cstore.record_outcome(tx, event.message_id, campaign_id, member_id, event.status, event.at)

    @rpc(expected_exceptions=EXPECTED)
    def campaign_results(self, campaign_id: str) -> dict[str, Any]:
        """Reached, delivered, redeemed, conversion, attributed sales, cost and lift against the
        control group, for the campaign and per home store of its members (campaign_results)."""
        self._may("admin", "marketer", "auditor", "manager")
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = self._campaign(tx, campaign_id)
            if row.launched_at is None:
                raise Conflict("the campaign has not started: no results yet", "status")
            found = campaign_results.results(tx, row, self.caller)  # type: ignore[attr-defined]
        return found.model_dump(mode="json")
