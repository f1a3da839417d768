"""Points campaigns feed points' bonus rules by events, on the real broker: a launch creates the
rule, a repeated start adds nothing, a pause ends it, and a sale in the window earns the bonus."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nameko.testing.services import entrypoint_hook

from contracts.campaigns import CampaignBonusStarted
from tests.helpers import query, wait_for
from tests.service.points_support import open_account, sale
from tests.service.segments_support import add_member, call, execute, new_store


def rules_of(campaign_id):
    return query("points", "SELECT id::text, starts_at, ends_at, rule FROM bonus_rules WHERE source = :s",
                 s=f"campaign:{campaign_id}")


def test_a_points_campaign_opens_and_ends_a_bonus_rule_in_points(start_service):
    # events other tests left in the outbox (their relay was off) stay there: they are not for this points service
    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    points = start_service("points")
    campaigns = start_service("campaigns")
    st = new_store()
    add_member(st)
    segment_id = call(campaigns, "create_segment", name="x", rule={"field": "store", "op": "eq", "value": st})
    now = datetime.now(UTC)
    c = call(campaigns, "create_campaign", name="Bonus 77", type="points_bonus", segment_id=segment_id["segment_id"],
             starts_at=(now - timedelta(minutes=5)).isoformat(), ends_at=(now + timedelta(days=1)).isoformat(),
             points_per_sale=77, stores=[st])
    cid = c["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled")
    call(campaigns, "change_status", cid, "running")
    wait_for(lambda: rules_of(cid), message="bonus rule in points")
    (rule,) = rules_of(cid)
    assert rule.rule["points_per_sale"] == 77 and rule.rule["stores"] == [st]

    # the same start again (a redelivered or repeated event with another id) adds nothing
    again = CampaignBonusStarted(campaign_id=cid, rule_key=cid, name="Bonus 77", starts_at=rule.starts_at,
                                 ends_at=rule.ends_at, points_per_sale=77, stores=[st])
    with entrypoint_hook(points, "on_campaign_bonus_started") as handle:
        handle(again.envelope().model_dump(mode="json"))
    assert len(rules_of(cid)) == 1

    member_id, _ = open_account(store=st)
    with entrypoint_hook(points, "record_sale") as record:
        earned = record(**sale(member_id, "10.00", store=st))
    assert earned["points_earned"] >= 77 + 10  # base points and the campaign bonus

    call(campaigns, "change_status", cid, "paused")
    wait_for(lambda: rules_of(cid)[0].ends_at <= datetime.now(UTC), message="bonus rule ended")
