"""Segment and RFM entrypoints of the campaigns service: parse, check the caller, call a use case,
reply."""
from __future__ import annotations

import uuid
from typing import Any

from contracts.access import ADMIN, MARKETING, MARKETING_READERS, parse_id, require
from contracts.campaigns import SegmentIn
from contracts.errors import InvalidInput, NotFound
from service_runtime.base import parse_request
from service_runtime.config import env_int
from services.campaigns.segments import audiences, rfm, rfm_repo, scoring
from services.campaigns.segments.rules import parse_rule
from services.campaigns.worker import CampaignsWorker, every, rpc_method


class SegmentEntrypoints(CampaignsWorker):
    # -- segments --------------------------------------------------------------------------------------
    @rpc_method
    def create_segment(self, **request: Any) -> dict[str, Any]:
        require(self.who(), MARKETING)
        cmd: SegmentIn = parse_request(SegmentIn, request)
        return audiences.create(self.worker_db(), cmd, self.who().id)

    @rpc_method
    def get_segment(self, segment_id: str) -> dict[str, Any]:
        require(self.who(), MARKETING_READERS)
        with self.tx() as tx:
            row, _ = audiences.rule_of(tx, segment_id)
        return audiences.segment_out(row)

    @rpc_method
    def list_segments(self, limit: int = 200, after: list[str] | None = None) -> dict[str, Any]:
        """A page of segments, oldest first: {"items", "next"} (``next``: pass as ``after``)."""
        require(self.who(), MARKETING_READERS)
        with self.tx() as tx:
            return audiences.page(tx, limit, after)

    @rpc_method
    def preview_rule(self, rule: Any, sample: int = 20, at: str | None = None) -> dict[str, Any]:
        """Size and a sample of an unsaved rule (what the marketer is editing)."""
        require(self.who(), MARKETING)
        parsed, day = parse_rule(rule), audiences.today(at)
        audiences.check_sample(sample)
        with self.tx() as tx:
            return audiences.preview(tx, parsed, sample, day)

    @rpc_method
    def preview_segment(self, segment_id: str, sample: int = 20, at: str | None = None) -> dict[str, Any]:
        require(self.who(), MARKETING_READERS)
        with self.tx() as tx:
            _, rule = audiences.rule_of(tx, segment_id)
        day = audiences.today(at)
        audiences.check_sample(sample)
        with self.tx() as tx:
            return audiences.preview(tx, rule, sample, day)

    @rpc_method
    def breakdown_rule(self, rule: Any = None, by: Any = None, at: str | None = None) -> dict[str, Any]:
        """Members per RFM group / ABCD class / tier of an unsaved rule, or of every live member."""
        require(self.who(), MARKETING)
        parsed, day = (None if rule is None else parse_rule(rule)), audiences.today(at)
        with self.tx() as tx:
            return audiences.breakdown(tx, parsed, by, day)

    @rpc_method
    def breakdown_segment(self, segment_id: str, by: Any = None, at: str | None = None) -> dict[str, Any]:
        require(self.who(), MARKETING_READERS)
        day = audiences.today(at)
        with self.tx() as tx:
            _, rule = audiences.rule_of(tx, segment_id)
            return audiences.breakdown(tx, rule, by, day)

    @rpc_method
    def snapshot_segment(self, segment_id: str, snapshot_id: str | None = None,
                         at: str | None = None) -> dict[str, Any]:
        """Materialise the segment's members now (a campaign's audience); idempotent by snapshot_id."""
        require(self.who(), MARKETING)
        snap_id = parse_id(snapshot_id, "snapshot_id") if snapshot_id else str(uuid.uuid4())
        return audiences.snapshot(self.worker_db(), segment_id, snap_id, at)

    @rpc_method
    def export_segment(self, segment_id: str, snapshot_id: str | None = None, after: str | None = None,
                       limit: int = 10_000, at: str | None = None) -> dict[str, Any]:
        """Member ids only (never personal data), paged by id: a snapshot's, or the live segment's."""
        require(self.who(), MARKETING)
        audiences.check_export_limit(limit)
        after = parse_id(after, "after") if after else None
        with self.tx() as tx:
            return audiences.export(tx, segment_id, snapshot_id, after, limit, at)

    @rpc_method
    def issue_segment_coupons(self, segment_id: str, template_id: str, request_id: str | None = None,
                              at: str | None = None) -> dict[str, Any]:
        """One coupon of a template to each member of the segment now, as a background job.
        ``request_id`` (a UUID) makes a retry return the first job instead of issuing twice."""
        require(self.who(), MARKETING)
        if not isinstance(template_id, str) or not template_id:
            raise InvalidInput("required", "template_id")
        snap_id = parse_id(request_id, "request_id") if request_id else str(uuid.uuid4())
        with self.tx() as tx:
            return audiences.issue_coupons(tx, segment_id, template_id, snap_id, at)

    # -- RFM -------------------------------------------------------------------------------------------
    @rpc_method
    def start_rfm(self, **params: Any) -> dict[str, Any]:
        """Queue a recompute of RFM, ABCD and lifecycle (the timer or run_rfm_job runs it)."""
        require(self.who(), MARKETING)
        parsed = rfm.parse_params(params)
        with self.tx() as tx:
            row = rfm_repo.add_rfm_job(tx, parsed, self.who().id)
        return scoring.job_out(row)

    @rpc_method
    def rfm_job(self, job_id: str) -> dict[str, Any]:
        require(self.who(), MARKETING_READERS)
        with self.tx() as tx:
            row = rfm_repo.get_rfm_job(tx, parse_id(job_id, "job_id"))
        if row is None:
            raise NotFound("no such job", "job_id")
        return scoring.job_out(row)

    @every(env_int("CAMPAIGNS_RFM_POLL_SECONDS", 5))
    def rfm_timer(self) -> None:
        self.run_rfm_job()

    @rpc_method
    def run_rfm_job(self, job_id: str | None = None, at: str | None = None) -> dict[str, Any] | None:
        """Run a queued job now (this one or the oldest); None when there is none to run."""
        require(self.who(), ADMIN)
        with self.tx() as tx:
            job = rfm_repo.claim_rfm_job(tx, parse_id(job_id, "job_id") if job_id else None)
        if job is None:
            return None
        return scoring.run_rfm(self.worker_db().engine, str(job.id), rfm.parse_params(job.params),
                               audiences.today(at))
