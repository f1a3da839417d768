"""Campaign results as docs/decisions/0012 defines them, fed by points' sale and refund events
through the real handlers: the attribution window opens at the launch (a sale minutes before it
is not the campaign's), `redeemed` counts the campaign's own coupons (none for a points campaign),
and with no control group there is no lift to report."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.events import PointsReversed
from tests.callers import entrypoint_hook
from tests.helpers import query
from tests.service.segments_support import add_member, call, new_store, sell


@pytest.fixture
def campaigns(start_service):
    return start_service("campaigns", outbox_relay=False)


def _launched(campaigns, control_share: str, members: int = 30, **extra) -> tuple[str, datetime, list[str], list[str]]:
    """A running points campaign over a fresh store's members: (id, launched_at, treated, control)."""
    store = new_store()
    for _ in range(members):
        add_member(store)
    segment = call(campaigns, "create_segment", name="s", rule={"field": "store", "op": "eq", "value": store})
    now = datetime.now(UTC)
    made = call(campaigns, "create_campaign", name="Double", type="points_multiplier", multiplier="2",
                segment_id=segment["segment_id"], starts_at=(now - timedelta(hours=1)).isoformat(),
                ends_at=(now + timedelta(days=5)).isoformat(), control_share=control_share, attribution_days=7,
                stores=["CAMPAIGN-TESTS"], **extra)
    cid = made["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled")
    launched = call(campaigns, "change_status", cid, "running")["launched_at"]
    rows = query("campaigns", "SELECT member_id::text, control FROM campaign_members WHERE campaign_id = :c "
                              "ORDER BY member_id", c=cid)
    return (cid, datetime.fromisoformat(launched.replace("Z", "+00:00")), [r[0] for r in rows if not r[1]],
            [r[0] for r in rows if r[1]])


def _refund(campaigns, member: str, transaction_id: str, amount: str, at: datetime) -> None:
    refund = PointsReversed(member_id=member, store="S1", transaction_id=transaction_id,
                            refund_id=f"r-{transaction_id}", amount=Decimal(amount), points_reversed=0,
                            points_uncovered=0, redeemed_points_returned=0,
                            refunded_at=at, balance=0)
    with entrypoint_hook(campaigns, "on_points_reversed") as handle:
        handle([refund.envelope().model_dump(mode="json")])


def test_only_sales_from_the_launch_to_the_window_end_are_attributed_net_of_their_refunds(campaigns):
    cid, launched, treated, control = _launched(campaigns, "0.5")
    assert len(treated) >= 3 and control
    sell(campaigns,
           (treated[0], f"{cid}-early", launched - timedelta(minutes=2), "99.00"),  # two minutes before the launch
           (treated[1], f"{cid}-t1", launched + timedelta(minutes=1), "25.50"),
           (treated[2], f"{cid}-late", launched + timedelta(days=7, minutes=1), "40.00"),  # after the window
           (control[0], f"{cid}-c1", launched + timedelta(minutes=3), "10.00"))
    _refund(campaigns, treated[1], f"{cid}-t1", "5.50", launched + timedelta(hours=1))
    _refund(campaigns, treated[0], f"{cid}-early", "50.00", launched + timedelta(hours=1))  # not the campaign's sale

    total = call(campaigns, "campaign_results", cid)["total"]
    assert total["attributed_sales"] == "20.00"
    assert Decimal(total["conversion"]) == (Decimal(1) / len(treated)).quantize(Decimal("0.0001"))
    assert Decimal(total["control_conversion"]) == (Decimal(1) / len(control)).quantize(Decimal("0.0001"))
    assert total["redeemed"] is None  # a points campaign issues no coupons: nothing to redeem


def test_a_sale_fully_refunded_is_no_conversion(campaigns):
    cid, launched, treated, _ = _launched(campaigns, "0.5", members=10)
    sell(campaigns, (treated[0], f"{cid}-t1", launched + timedelta(minutes=1), "30.00"))
    _refund(campaigns, treated[0], f"{cid}-t1", "30.00", launched + timedelta(minutes=5))
    total = call(campaigns, "campaign_results", cid)["total"]
    assert total["conversion"] == "0.0000" and total["attributed_sales"] == "0.00"


def test_without_a_control_group_there_is_no_lift(campaigns):
    cid, launched, treated, control = _launched(campaigns, "0", members=8)
    assert not control
    sell(campaigns, (treated[0], f"{cid}-t1", launched + timedelta(minutes=1), "12.00"))
    res = call(campaigns, "campaign_results", cid)
    for figures in (res["total"], *res["by_store"].values()):
        assert figures["control"] == 0
        assert figures["control_conversion"] is None and figures["lift"] is None
        assert figures["relative_lift"] is None
    assert res["total"]["conversion"] == (Decimal(1) / len(treated)).quantize(Decimal("0.0001")).to_eng_string()
    assert res["window_starts_at"] is not None and res["window_ends_at"] is not None
