"""A member's coupons."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts import paging
from contracts.errors import InvalidInput
from service_runtime.db import Tx
from services.campaigns.coupons import repo
from services.campaigns.coupons.views import coupon_out

STATUSES = ("valid", "used", "expired", "not_yet_valid", "void")


def check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise InvalidInput("one of valid, used, expired, not_yet_valid, void", "status")


def page(tx: Tx, member_id: str, status: str | None, limit: int, after: list[str] | None) -> dict[str, Any]:
    """A page of the member's coupons, newest first: {"items", "next"} (``next``: pass as ``after``)."""
    limit = paging.check_limit(limit)
    start = paging.position(after, paging.COUPON_POSITION)
    now = datetime.now(UTC)
    rows = repo.member_coupons(tx, member_id, limit + 1, status, now, start)
    rows, more = paging.cut(rows, limit, lambda r: [r.issued_at.isoformat(), str(r.id)])
    return {"items": [coupon_out(r, now).model_dump(mode="json") for r in rows], "next": more}
