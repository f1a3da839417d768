"""Campaign rows as the answers the contracts describe, and the parsing the entrypoints share."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.access import Caller, parse_id
from contracts.campaigns import CampaignOut
from contracts.errors import InvalidInput, NotFound
from service_runtime.db import Tx
from services.campaigns.campaigns import repo

SPEC_FIELDS = ("recurrence", "budget", "per_member_limit", "channel", "template", "multiplier", "points_per_sale",
               "coupon_template_id", "stores", "trigger_lifecycle")


def moment(at: str | None = None) -> datetime:
    """Now, or the ISO date-time a caller (an operator, a test) gives instead."""
    if at is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(at)
    except ValueError:
        raise InvalidInput("must be an ISO date-time", "at") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def actor(caller: Caller) -> str:
    return f"{caller.kind}:{caller.id}" if caller.id else caller.kind


def campaign(tx: Tx, campaign_id: str, lock: bool = False) -> Any:
    row = repo.get(tx, parse_id(campaign_id, "campaign_id"), lock)
    if row is None:
        raise NotFound("no such campaign", "campaign_id")
    return row


def campaign_out(row: Any) -> dict[str, Any]:
    spec = row.spec
    return CampaignOut(campaign_id=str(row.id), name=row.name, type=row.type, segment_id=str(row.segment_id),
                       starts_at=row.starts_at, ends_at=row.ends_at, control_share=row.control_share,
                       attribution_days=row.attribution_days, status=row.status,
                       snapshot_id=None if row.snapshot_id is None else str(row.snapshot_id), version=row.version,
                       created_by=row.created_by, created_at=row.created_at, launched_at=row.launched_at,
                       **{k: spec.get(k) for k in SPEC_FIELDS if spec.get(k) is not None}).model_dump(mode="json")
