"""A member's lifecycle class through the real broker: points' sale reaches members, the sale ages
past the dormant threshold (the daily run, with a clock the test sets), member.lifecycle_changed
reaches campaigns' read model, and a running win-back triggered by "dormant" gives the coupon."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service_runtime.config import amqp_uri
from tests.callers import ClusterRpcClient
from tests.helpers import scalar, wait_for
from tests.service.segments_support import call, new_store


@pytest.fixture
def platform(start_service):
    campaigns = start_service("campaigns")  # its queues exist before the producers publish
    start_service("points")
    start_service("members")
    return campaigns


def test_a_sale_that_ages_into_dormant_triggers_a_win_back_coupon(platform):
    campaigns, store, now = platform, new_store(), datetime.now(UTC)
    with ClusterRpcClient(uri=amqp_uri()) as cluster:
        member_id = cluster.members.register(name="Gone Quiet", phone="137" + str(uuid.uuid4().int)[:8],
                                             registration_store=store)["member"]["member_id"]
        wait_for(lambda: scalar("points", "SELECT count(*) FROM accounts WHERE member_id = :m", m=member_id),
                 message="points account")
        cluster.points.record_sale(member_id=member_id, store=store, transaction_id="lc-1", amount="50.00",
                                   items=[], sold_at=(now - timedelta(days=1)).isoformat())
        wait_for(lambda: cluster.members.get(member_id=member_id)["purchase_count"] == 1,
                 message="the sale on the member record")

        template = call(campaigns, "create_template", name="Welcome back", kind="cash", amount="15.00",
                        valid_days=30)["template_id"]
        segment = call(campaigns, "create_segment", name="dormant here", rule={"all": [
            {"field": "store", "op": "eq", "value": store},
            {"field": "lifecycle_class", "op": "eq", "value": "dormant"}]})
        campaign = call(campaigns, "create_campaign", name="Win back", type="win_back",
                        segment_id=segment["segment_id"], trigger_lifecycle="dormant", control_share="0",
                        coupon_template_id=template, starts_at=(now - timedelta(minutes=1)).isoformat(),
                        ends_at=(now + timedelta(days=400)).isoformat())
        cid = campaign["campaign_id"]
        call(campaigns, "change_status", cid, "scheduled")
        call(campaigns, "change_status", cid, "running")
        assert scalar("campaigns", "SELECT count(*) FROM campaign_members WHERE campaign_id = :c", c=cid) == 0

        moved = cluster.members.run_lifecycle(at=(now + timedelta(days=200)).isoformat(), stores=[store])
    assert moved["dormant"] == 1
    wait_for(lambda: scalar("campaigns", "SELECT rewards FROM campaign_members WHERE campaign_id = :c "
                                         "AND member_id = :m", c=cid, m=member_id) == 1,
             message="the win-back's reward for the member")
    assert call(campaigns, "read_model_member", member_id)["lifecycle_class"] == "dormant"
    wait_for(lambda: scalar("campaigns", "SELECT count(*) FROM coupons WHERE campaign_id = :c AND member_id = :m",
                            c=cid, m=member_id) == 1, message="the coupon issued")


def test_a_late_older_class_change_does_not_undo_a_newer_one(start_service):
    from contracts.events import MemberLifecycleChanged
    from tests.callers import entrypoint_hook

    campaigns, member_id, now = start_service("campaigns", outbox_relay=False), str(uuid.uuid4()), datetime.now(UTC)

    def change(to_class: str, at: datetime) -> dict:
        return MemberLifecycleChanged(member_id=member_id, from_class="new", to_class=to_class, reason="timer",
                                      changed_at=at, last_purchase_at=None, purchase_count=0,
                                      registration_store=None).envelope().model_dump(mode="json")

    with entrypoint_hook(campaigns, "on_member_lifecycle_changed") as handle:
        handle([change("at_risk", now), change("active", now - timedelta(days=1))])  # the newer one first
    with entrypoint_hook(campaigns, "on_member_lifecycle_changed") as handle:
        handle([change("new", now - timedelta(days=2))])
    assert call(campaigns, "read_model_member", member_id)["lifecycle_class"] == "at_risk"
