"""Issuing coupons: one to one member now, or one to each of many members by a background job."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from contracts.coupons import CouponIssued, CouponOut, IssueCoupon
from contracts.errors import Conflict, NotFound, ServiceUnavailable
from service_runtime.config import env_int
from service_runtime.db import Tx, WorkerDb
from services.campaigns import member_check
from services.campaigns.coupons import interface, repo
from services.campaigns.coupons.views import coupon_out

log = logging.getLogger(__name__)
JOB_CHUNK = env_int("COUPON_JOB_CHUNK", 5000)


def issue_coupon(tx: Tx, members: Any, req: IssueCoupon, template_id: str, member_id: str) -> dict[str, Any]:
    """One coupon to one member; with a request_id a retry answers the same coupon."""
    key = (f"request:{template_id}:{req.request_id}" if req.request_id
           else f"{req.source}:{uuid.uuid4()}")
    why = member_check.not_members(tx, members, [member_id]).get(member_id)
    if why == member_check.UNKNOWN:
        raise NotFound("no such member", "member_id")
    if why is not None:
        raise Conflict(f"no coupon for this member: {why.replace('_', ' ')}", "member_id")
    return issue_one(tx, template_id, member_id, key, req.source, req.campaign_id).model_dump(mode="json")


def issue_one(tx: Tx, template_id: str, member_id: str, key: str, source: str,
              campaign_id: str | None) -> CouponOut:
    now = datetime.now(UTC)
    template = repo.get_template(tx, template_id, lock=True)
    if template is None:
        raise NotFound("no such coupon template", "template_id")
    outcome = repo.issue(tx, template, [member_id], [key], source=source, campaign_id=campaign_id, job_id=None,
                         now=now)
    announce(tx, template_id, outcome, source, campaign_id)
    why = outcome.skipped.get(key)
    if why == "already":
        row = repo.coupon_by_key(tx, key)
        if str(row.member_id) != member_id or str(row.template_id) != template_id:
            raise Conflict("this request_id was used for another member or template", "request_id")
        return coupon_out(row, now, replayed=True)
    if why == "per_member_limit":
        raise Conflict(f"the member already has {template.per_member_limit} of these", "per_member_limit")
    if why is not None:
        raise Conflict("the template's budget is used up", why)
    return coupon_out(repo.coupon_by_id(tx, str(outcome.coupons[0].id)), now)


def announce(tx: Tx, template_id: str, outcome: repo.Issued, source: str, campaign_id: str | None) -> None:
    """coupon.issued for each coupon written now (one statement for a job's chunk)."""
    tx.emit_many([CouponIssued(coupon_id=str(c.id), template_id=template_id, member_id=str(c.member_id),
                               source=source, campaign_id=campaign_id, issued_at=c.issued_at,
                               valid_until=c.valid_until) for c in outcome.coupons])


def run_issue_jobs(db: WorkerDb, members: Any) -> int:
    """Issue jobs chunk by chunk: each chunk one transaction, the job row locked with SKIP LOCKED
    (two processes share a job's chunks, a restart resumes at the saved position)."""
    chunks = 0
    while True:
        with db.transaction() as tx:
            claimed = repo.claim_job(tx, JOB_CHUNK)
            if claimed is None:
                return chunks
            job, wanted_ids = claimed
            now = datetime.now(UTC)
            template = repo.get_template(tx, str(job.template_id), lock=True)
            if template is None:
                repo.fail_job(tx, str(job.id), "template gone", now)
                continue
            try:  # ids that are no member are skipped with their reason and use no budget
                gone = member_check.not_members(tx, members, wanted_ids)
            except ServiceUnavailable as exc:
                log.warning("issue job %s waits for the members service: %s", job.id, exc)
                return chunks  # nothing of this chunk is written; the next tick tries again
            wanted = [m for m in wanted_ids if m not in gone]
            keys = [interface.issue_key(str(job.id), job.campaign_id, m, job.occurrence) for m in wanted]
            outcome = repo.issue(tx, template, wanted, keys, source=job.source, campaign_id=job.campaign_id,
                                 job_id=str(job.id), now=now)
            announce(tx, str(job.template_id), outcome, job.source, job.campaign_id)
            done = job.position + len(wanted_ids) >= job.total or not wanted_ids
            repo.advance_job(tx, job, len(wanted_ids), len(outcome.coupons),
                             [*gone.values(), *outcome.skipped.values()], gone, done, now)
            chunks += 1
