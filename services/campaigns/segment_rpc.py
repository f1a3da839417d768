"""Read-model, segment and RFM entrypoints (mixed into CampaignsService); campaigns themselves
are in campaign_rpc (mixed in here)."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from nameko.rpc import rpc
from nameko.timer import timer

from contracts.campaigns import (
    MemberIdPage,
    RfmJobOut,
    SampleMember,
    SegmentIn,
    SegmentOut,
    SegmentPreview,
    SnapshotOut,
)
from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import (
    MemberErased,
    MemberMerged,
    MemberRegistered,
    MembersImported,
    MemberUpdated,
    PointsAccrued,
    PointsAdjusted,
    PointsExpired,
    PointsRedeemed,
    PointsReversed,
    TierChanged,
)
from service_runtime.base import parse_request
from service_runtime.config import env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe, subscribe_batch
from services.campaigns import campaign_store as cstore
from services.campaigns import paging, rfm
from services.campaigns import segment_store as store
from services.campaigns.campaign_rpc import CampaignEntrypoints
from services.campaigns.coupons import interface as coupon_issue
from services.campaigns.ids import as_uuid, uuid_or_none
from services.campaigns.segment_rules import Group, parse_rule, to_json

log = logging.getLogger(__name__)
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)
SEGMENT_FIELDS = ("gender", "birthday", "tags", "registration_store")


def _today(at: str | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(at)
    except ValueError:
        raise InvalidInput("must be a date YYYY-MM-DD", "at") from None


def _segment_out(row: Any) -> SegmentOut:
    return SegmentOut(segment_id=str(row.id), name=row.name, rule=row.rule, created_by=row.created_by,
                      created_at=row.created_at)


def _job_out(row: Any) -> RfmJobOut:
    return RfmJobOut(job_id=str(row.id), status=row.status, params=row.params, steps_done=row.steps_done,
                     steps_total=row.steps_total, members_scored=row.members_scored, error=row.error,
                     created_at=row.created_at, started_at=row.started_at, finished_at=row.finished_at)


class SegmentEntrypoints(CampaignEntrypoints):
    # -- the read model ---------------------------------------------------------------------------
    @subscribe_batch("members", "member.registered")
    def on_member_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        """In batches (one statement each): registrations come in bursts at opening time."""
        self._members_registered(tx, [event for event, _ in events])

    @subscribe_batch("members", "members.imported", max_batch=10)
    def on_members_imported(self, tx: Tx, events: list[tuple[MembersImported, Envelope]]) -> None:
        """A bulk import's members, up to 500 an event, in one statement."""
        self._members_registered(tx, [member for event, _ in events for member in event.members])

    @staticmethod
    def _members_registered(tx: Tx, events: list[MemberRegistered]) -> None:
        store.members_registered(tx, {event.member_id: {
            "store": event.registration_store, "channel": event.channel, "registered_at": event.registered_at,
            "gender": event.gender, "birthday": event.birthday, "tags": event.tags} for event in events})

    @subscribe("members", "member.updated")
    def on_member_updated(self, tx: Tx, event: MemberUpdated, envelope: Envelope) -> None:
        changes = {f: getattr(event, f) for f in SEGMENT_FIELDS if f in event.changed_fields}
        store.member_updated(tx, event.member_id, event.version, event.status, changes)

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        store.member_erased(tx, event.member_id)

    @subscribe("members", "member.merged")
    def on_member_merged(self, tx: Tx, event: MemberMerged, envelope: Envelope) -> None:
        store.member_merged(tx, event.survivor_id, event.merged_id)

    @subscribe_batch("points", "points.accrued")
    def on_points_accrued(self, tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
        """In batches, a few statements each: offline uploads and busy hours bring these in bursts."""
        balances: dict[str, tuple[int, datetime]] = {}
        for event, envelope in events:  # per member the latest balance; the later event wins a tie
            seen = balances.get(event.member_id)
            if seen is None or seen[1] <= envelope.occurred_at:
                balances[event.member_id] = (event.balance, envelope.occurred_at)
        bonuses: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for event, _ in events:
            for campaign_id, points in event.campaign_bonus.items():
                if uuid_or_none(campaign_id) is None:
                    continue  # not one of ours
                n, value = bonuses.get((campaign_id, event.store or ""), (0, Decimal(0)))
                bonuses[(campaign_id, event.store or "")] = (n + points,
                                                             value + points * (event.point_value or Decimal(0)))
        sales = [e for e, _ in events if e.source == "sale" and e.amount is not None]
        store.sales_seen(tx, balances, [(e.member_id, e.store, e.occurred_at, 1, e.amount) for e in sales], bonuses)
        cstore.attribute_sales(tx, [(e.member_id, e.store, e.reference, e.occurred_at, e.amount) for e in sales])
        # the referrer's side of a referral (the referred member's side has their own id as reference)
        self.on_referrals(tx, [(e.member_id, e.store, env.occurred_at) for e, env in events
                               if e.source == "referral" and e.reference != e.member_id])

    @subscribe("points", "points.reversed")
    def on_points_reversed(self, tx: Tx, event: PointsReversed, envelope: Envelope) -> None:
        store.balance(tx, event.member_id, event.balance, envelope.occurred_at)
        store.purchase(tx, event.member_id, event.store, event.refunded_at, 0, -event.amount)
        cstore.attribute_refund(tx, event.store, event.transaction_id, event.amount)

    @subscribe("points", "points.redeemed")
    def on_points_redeemed(self, tx: Tx, event: PointsRedeemed, envelope: Envelope) -> None:
        store.balance(tx, event.member_id, event.balance, envelope.occurred_at)

    @subscribe("points", "points.adjusted")
    def on_points_adjusted(self, tx: Tx, event: PointsAdjusted, envelope: Envelope) -> None:
        store.balance(tx, event.member_id, event.balance, envelope.occurred_at)

    @subscribe("points", "points.expired")
    def on_points_expired(self, tx: Tx, event: PointsExpired, envelope: Envelope) -> None:
        store.balance(tx, event.member_id, event.balance, envelope.occurred_at)

    @subscribe("points", "tier.changed")
    def on_tier_changed(self, tx: Tx, event: TierChanged, envelope: Envelope) -> None:
        store.tier(tx, event.member_id, event.new_tier)

    @rpc(expected_exceptions=EXPECTED)
    def read_model_member(self, member_id: str) -> dict[str, Any]:
        """One member as the read model holds them (operators, tests)."""
        self._staff("admin", "marketer", "auditor")
        member_id = as_uuid(member_id, "member_id")
        with self.db.transaction() as tx:
            row = store.read_member(tx, member_id)
            if row is None:
                raise NotFound("no such member in the read model", "member_id")
            purchases, spend = store.purchase_totals(tx, member_id)
        return {"member_id": str(row.member_id), "status": row.status, "tier": row.tier, "store": row.store,
                "channel": row.channel, "gender": row.gender,
                "birthday": None if row.birthday is None else row.birthday.isoformat(), "tags": list(row.tags),
                "registered_at": None if row.registered_at is None else row.registered_at.isoformat(),
                "balance": row.balance, "purchases": purchases, "spend": str(spend),
                "last_purchase_at": None if row.last_purchase_at is None else row.last_purchase_at.isoformat()}

    @rpc(expected_exceptions=EXPECTED)
    def export_member(self, member_id: str) -> dict[str, Any]:
        """What campaigns holds about one member, for a privacy export: the read model's copy, the
        campaigns whose audience they were in (treated or control, rewards given), their coupons
        and their reward exchanges."""
        member_id = as_uuid(member_id, "member_id")
        with self.db.transaction() as tx:
            row = store.read_member(tx, member_id)
            audiences = store.member_campaigns(tx, member_id)
            coupons = coupon_issue.member_export(tx, member_id)
        if row is None and not audiences and not any(coupons.values()):
            return {}
        profile = None if row is None else {
            "tier": row.tier, "store": row.store, "channel": row.channel, "gender": row.gender,
            "birthday": None if row.birthday is None else row.birthday.isoformat(), "tags": list(row.tags),
            "balance": row.balance}
        return {"segmentation_profile": profile,
                "campaigns": [{"campaign_id": str(a.campaign_id), "name": a.name, "control_group": a.control,
                               "rewards": a.rewards} for a in audiences], **coupons}

    # -- segments -----------------------------------------------------------------------------------
    def _staff(self, *roles: str) -> None:
        if self.caller.kind == "internal":
            return
        if self.caller.kind != "staff" or not set(roles) & set(self.caller.roles):
            raise Forbidden(f"for {', '.join(roles)} only")

    def _rule(self, tx: Tx, segment_id: str) -> tuple[Any, Group]:
        row = store.get_segment(tx, as_uuid(segment_id, "segment_id"))
        if row is None:
            raise NotFound("no such segment", "segment_id")
        return row, parse_rule(row.rule)

    @rpc(expected_exceptions=EXPECTED)
    def create_segment(self, **request: Any) -> dict[str, Any]:
        self._staff("admin", "marketer")
        cmd: SegmentIn = parse_request(SegmentIn, request)
        rule = to_json(parse_rule(cmd.rule))
        segment_id = as_uuid(cmd.segment_id, "segment_id") if cmd.segment_id else str(uuid.uuid4())
        with self.db.transaction() as tx:
            row = store.add_segment(tx, segment_id, cmd.name, rule, self.caller.id)
        if row.rule != rule or row.name != cmd.name:
            raise Conflict("this segment id exists with another definition", "segment_id")
        return _segment_out(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def get_segment(self, segment_id: str) -> dict[str, Any]:
        self._staff("admin", "marketer", "auditor")
        with self.db.transaction() as tx:
            row, _ = self._rule(tx, segment_id)
        return _segment_out(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def list_segments(self, limit: int = 200, after: list[str] | None = None) -> dict[str, Any]:
        """A page of segments, oldest first: {"items", "next"} (``next``: pass as ``after``)."""
        self._staff("admin", "marketer", "auditor")
        limit = paging.check_limit(limit)
        start = paging.position(after, paging.SEGMENT_POSITION)
        with self.db.transaction() as tx:
            rows = store.list_segments(tx, limit + 1, start)  # type: ignore[arg-type]
        rows, more = paging.cut(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])
        return {"items": [_segment_out(r).model_dump(mode="json") for r in rows], "next": more}

    @rpc(expected_exceptions=EXPECTED)
    def preview_rule(self, rule: Any, sample: int = 20, at: str | None = None) -> dict[str, Any]:
        """Size and a sample of an unsaved rule (what the marketer is editing)."""
        self._staff("admin", "marketer")
        return self._preview(parse_rule(rule), sample, _today(at))

    @rpc(expected_exceptions=EXPECTED)
    def preview_segment(self, segment_id: str, sample: int = 20, at: str | None = None) -> dict[str, Any]:
        self._staff("admin", "marketer", "auditor")
        with self.db.transaction() as tx:
            _, rule = self._rule(tx, segment_id)
        return self._preview(rule, sample, _today(at))

    def _preview(self, rule: Group, sample: int, today: date) -> dict[str, Any]:
        if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample <= 100:
            raise InvalidInput("must be 0 to 100", "sample")
        with self.db.transaction() as tx:
            size, rows = store.preview(tx, rule, today, sample)
        return SegmentPreview(size=size, sample=[SampleMember(
            member_id=str(r.member_id), tier=r.tier, store=r.store, balance=r.balance,
            last_purchase_at=r.last_purchase_at, rfm_group=r.rfm_group, abcd=r.abcd, lifecycle=r.lifecycle)
            for r in rows]).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def snapshot_segment(self, segment_id: str, snapshot_id: str | None = None,
                         at: str | None = None) -> dict[str, Any]:
        """Materialise the segment's members now (a campaign's audience); idempotent by snapshot_id."""
        self._staff("admin", "marketer")
        snap_id = as_uuid(snapshot_id, "snapshot_id") if snapshot_id else str(uuid.uuid4())
        with self.db.transaction() as tx:
            segment, rule = self._rule(tx, segment_id)
            row = store.take_snapshot(tx, snap_id, segment, rule, _today(at))
        if str(row.segment_id) != str(segment.id):
            raise Conflict("this snapshot id belongs to another segment", "snapshot_id")
        return SnapshotOut(snapshot_id=str(row.id), segment_id=str(row.segment_id), size=row.size,
                           created_at=row.created_at).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def export_segment(self, segment_id: str, snapshot_id: str | None = None, after: str | None = None,
                       limit: int = 10_000, at: str | None = None) -> dict[str, Any]:
        """Member ids only (never personal data), paged by id: a snapshot's, or the live segment's."""
        self._staff("admin", "marketer")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise InvalidInput("must be 1 to 100000", "limit")
        after = as_uuid(after, "after") if after else None
        with self.db.transaction() as tx:
            segment, rule = self._rule(tx, segment_id)
            if snapshot_id:
                snap = store.get_snapshot(tx, as_uuid(snapshot_id, "snapshot_id"))
                if snap is None or str(snap.segment_id) != str(segment.id):
                    raise NotFound("no such snapshot of this segment", "snapshot_id")
                ids = store.snapshot_member_ids(tx, str(snap.id), after, limit + 1)
            else:
                ids = store.member_ids(tx, rule, _today(at), after, limit + 1)
        more = len(ids) > limit
        ids = ids[:limit]
        return MemberIdPage(member_ids=ids, next=ids[-1] if more else None).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def issue_segment_coupons(self, segment_id: str, template_id: str, request_id: str | None = None,
                              at: str | None = None) -> dict[str, Any]:
        """One coupon of a template to each member of the segment now: the members are fixed in a
        snapshot and the coupon side issues them as a background job. ``request_id`` (a UUID)
        makes a retry return the first job instead of issuing twice."""
        self._staff("admin", "marketer")
        if not isinstance(template_id, str) or not template_id:
            raise InvalidInput("required", "template_id")
        snap_id = as_uuid(request_id, "request_id") if request_id else str(uuid.uuid4())
        with self.db.transaction() as tx:
            segment, rule = self._rule(tx, segment_id)
            existing = store.get_snapshot(tx, snap_id)
            snapshot = store.take_snapshot(tx, snap_id, segment, rule, _today(at))
            first = coupon_issue.first_job_of(tx, snap_id) if existing is not None else None
            if first is not None:  # a retry: the job it started, not another one
                if first[1] != str(uuid_or_none(template_id)):
                    raise Conflict("this request_id issued another template", "request_id")
                job_id = first[0]
            else:
                members = store.snapshot_member_ids(tx, snap_id, None, 10_000_000)
                # the snapshot id doubles as the issue's campaign key: the coupon side dedupes per member too
                job_id = coupon_issue.start_issue_job(tx, template_id, members, source="campaign",
                                                      campaign_id=snap_id)
        return {"job_id": job_id, "snapshot_id": str(snapshot.id), "members": snapshot.size,
                "replayed": existing is not None}

    # -- RFM --------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def start_rfm(self, **params: Any) -> dict[str, Any]:
        """Queue a recompute of RFM, ABCD and lifecycle (the timer or run_rfm_job runs it)."""
        self._staff("admin", "marketer")
        parsed = rfm.parse_params(params)
        with self.db.transaction() as tx:
            row = store.add_rfm_job(tx, parsed, self.caller.id)
        return _job_out(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def rfm_job(self, job_id: str) -> dict[str, Any]:
        self._staff("admin", "marketer", "auditor")
        with self.db.transaction() as tx:
            row = store.get_rfm_job(tx, as_uuid(job_id, "job_id"))
        if row is None:
            raise NotFound("no such job", "job_id")
        return _job_out(row).model_dump(mode="json")

    @timer(interval=env_int("CAMPAIGNS_RFM_POLL_SECONDS", 5))
    def rfm_timer(self) -> None:
        self.run_rfm_job()

    @rpc(expected_exceptions=EXPECTED)
    def run_rfm_job(self, job_id: str | None = None, at: str | None = None) -> dict[str, Any] | None:
        """Run a queued job now (this one or the oldest); None when there is none to run."""
        self._staff("admin")
        with self.db.transaction() as tx:
            job = store.claim_rfm_job(tx, as_uuid(job_id, "job_id") if job_id else None)
        if job is None:
            return None
        return run_rfm(self.db.engine, str(job.id), rfm.parse_params(job.params), _today(at))


RFM_LOCK = 0x52464D  # advisory lock key of the recompute ("RFM")


def run_rfm(engine: sa.Engine, job_id: str, params: rfm.RfmParams, today: date) -> dict[str, Any]:
    """The recompute: stats, then scores in one transaction (the old scores stay readable until it
    commits); progress is recorded in separate short transactions so it is visible meanwhile."""
    try:
        with engine.begin() as conn:
            # one recompute at a time: two building and swapping the score tables at once deadlock
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": RFM_LOCK})
            with engine.begin() as progress:
                progress.execute(sa.text("UPDATE rfm_jobs SET steps_done = 0 WHERE id = :j"), {"j": job_id})
            store.compute_stats(conn, params, today)
            with engine.begin() as progress:
                progress.execute(sa.text("UPDATE rfm_jobs SET steps_done = 1 WHERE id = :j"), {"j": job_id})
            scored = store.build_scores(conn, params, today)
            store.swap_scores(conn)
            conn.execute(sa.text("""UPDATE rfm_jobs SET steps_done = 3, status = 'done', members_scored = :n,
                                    finished_at = clock_timestamp() WHERE id = :j"""), {"n": scored, "j": job_id})
    except Exception as exc:
        log.exception("rfm job %s failed", job_id)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE rfm_jobs SET status = 'failed', error = :e, finished_at = clock_timestamp() "
                                 "WHERE id = :j"), {"e": str(exc)[:500], "j": job_id})
        raise
    with engine.connect() as conn:
        row = conn.execute(sa.select(store.rfm_jobs).where(store.rfm_jobs.c.id == job_id)).one()
    return _job_out(row).model_dump(mode="json")
