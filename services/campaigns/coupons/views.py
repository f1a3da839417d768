"""Rows of the coupon tables as the answers the contracts describe."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from contracts.coupons import CatalogItemOut, CouponOut, IssueJob, SkippedMember, TemplateOut
from contracts.errors import NotFound
from service_runtime.db import Tx
from services.campaigns.coupons import domain, repo


def request_hash(model: BaseModel) -> str:
    """A request's fingerprint: a retry with the same key must carry the same body."""
    return hashlib.sha256(json.dumps(model.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def template_out(row: Any) -> dict[str, Any]:
    off = repo.rules_of(row.terms).discount_percent
    terms = {k: v for k, v in row.terms.items() if k != "percent"}  # older templates' name for discount_percent
    return TemplateOut.model_validate({
        **terms, "discount_percent": off, "price_percent": None if off is None else Decimal(100) - off,
        "template_id": str(row.id), "issued_count": row.issued_count, "issued_value": row.issued_value,
        "redeemed_count": row.redeemed, "created_at": row.created_at}).model_dump(mode="json")


def coupon_out(row: Any, now: datetime, replayed: bool = False) -> CouponOut:
    return CouponOut(coupon_id=str(row.id), code=row.code, template_id=str(row.template_id), name=row.name,
                     kind=row.kind, member_id=None if row.member_id is None else str(row.member_id),
                     status=domain.status(row.state, row.valid_from, row.valid_until, now),
                     source=row.source, campaign_id=row.campaign_id, valid_from=row.valid_from,
                     valid_until=row.valid_until, issued_at=row.issued_at, redeemed_at=row.redeemed_at,
                     redeemed_store=row.redeemed_store, discount=row.discount, replayed=replayed)


def item_out(row: Any) -> dict[str, Any]:
    return CatalogItemOut(item_id=str(row.id), name=row.name, kind=row.kind,
                          template_id=None if row.template_id is None else str(row.template_id),
                          gift_sku=row.gift_sku, points=row.points, stock=row.stock, active=row.active,
                          exchanged=row.exchanged, created_at=row.created_at).model_dump(mode="json")


def job_out(tx: Tx, job_id: str) -> dict[str, Any]:
    row = repo.get_job(tx, job_id)
    if row is None:
        raise NotFound("no such issue job", "job_id")
    return IssueJob(job_id=str(row.id), template_id=str(row.template_id), campaign_id=row.campaign_id,
                    status=row.status, total=row.total, processed=row.position, issued=row.issued,
                    skipped=row.skipped, skipped_reasons=row.skipped_reasons,
                    skipped_members=[SkippedMember(member_id=m, reason=r) for m, r in row.skipped_members],
                    error=row.error, created_at=row.created_at, finished_at=row.finished_at).model_dump(mode="json")
