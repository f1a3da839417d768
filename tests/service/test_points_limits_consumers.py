"""Every consumer holds what points accepts: campaigns' read model sums the largest sales the
limits could ever allow (numeric(14, 2) each) without `numeric field overflow`."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from contracts.events import PointsAccrued
from services.points.limits import COLUMN_MAX
from tests.callers import entrypoint_hook
from tests.helpers import scalar


def test_campaigns_read_model_sums_the_largest_accepted_sales(start_service):
    campaigns = start_service("campaigns", outbox_relay=False)
    member_id, campaign = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    events = [PointsAccrued(member_id=member_id, store="S1", source="sale", reference=f"t{n}",
                            points=int(COLUMN_MAX), amount=COLUMN_MAX, currency="CNY", occurred_at=now,
                            balance=int(COLUMN_MAX) * (n + 1), campaign_bonus={campaign: int(COLUMN_MAX)},
                            point_value=Decimal("0.01")).envelope().model_dump(mode="json")
              for n in range(3)]
    with entrypoint_hook(campaigns, "on_points_accrued") as handle:
        handle(events)
    assert scalar("campaigns", "SELECT spend FROM rm_purchases WHERE member_id = :m", m=member_id) == COLUMN_MAX * 3
    assert scalar("campaigns", "SELECT count(*) FROM campaign_bonus WHERE campaign_id = :c", c=campaign) == 1
