"""What the campaign side asks of the coupon side, inside the campaigns service.

Interface agreed between the two halves of the service (coupons; segments and campaigns):
the coupon half implements these; the campaign half calls them (coupon-drop, birthday and
win-back campaigns issue coupons, and campaign results count their redemptions).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def start_issue_job(tx: Any, template_id: str, member_ids: Sequence[str], *, source: str,
                    campaign_id: str | None = None) -> str:
    """Queue issuing one coupon of ``template_id`` to each member (a background job with
    progress; idempotent per (campaign_id, member) when campaign_id is given). Runs in the
    caller's transaction ``tx`` (a service_runtime.db.Tx); returns the job id. Raises
    contracts.errors.InvalidInput / NotFound / Conflict (budget) as the coupon side decides."""
    raise NotImplementedError("coupon side: implement")


def campaign_coupon_stats(tx: Any, campaign_id: str) -> dict[str, Any]:
    """Coupons of one campaign: {"issued": int, "redeemed": int, "discount": Decimal (total
    discount granted), "by_store": {store: {"redeemed": int, "discount": Decimal}},
    "redeemed_members": set[str]} (members who redeemed one)."""
    raise NotImplementedError("coupon side: implement")
