"""Coupon campaigns through the coupon half of the service (coupon_issue.start_issue_job and
campaign_coupon_stats). These need the coupons branch: on the segments branch alone the coupon
side raises NotImplementedError, so they fail until the branches are merged."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import InvalidInput
from tests.helpers import query, scalar, wait_for
from tests.service.segments_support import add_member, call, new_store


@pytest.fixture
def campaigns(start_service):
    return start_service("campaigns", outbox_relay=False)


def _template(campaigns) -> str:
    """A cash-off template made through the coupon side's RPC (its contract: contracts/coupons.py)."""
    return call(campaigns, "create_template", name="10 off", kind="cash", amount="10.00",
                valid_days=30)["template_id"]


def _running(campaigns, store: str, **terms) -> str:
    """A campaign over the members of ``store``, live from a minute ago for 30 days, running."""
    segment_id = call(campaigns, "create_segment", name="s", rule={"field": "store", "op": "eq", "value": store})
    now = datetime.now(UTC)
    c = call(campaigns, "create_campaign", segment_id=segment_id["segment_id"],
             starts_at=(now - timedelta(minutes=1)).isoformat(), ends_at=(now + timedelta(days=30)).isoformat(),
             coupon_template_id=_template(campaigns), **terms)
    call(campaigns, "change_status", c["campaign_id"], "scheduled")
    call(campaigns, "change_status", c["campaign_id"], "running")
    return c["campaign_id"]


def _coupon_campaign(campaigns, cap=None, **extra):
    st = new_store()
    members = [add_member(st) for _ in range(20)]
    segment_id = call(campaigns, "create_segment", name="c", rule={"field": "store", "op": "eq", "value": st})
    now = datetime.now(UTC)
    c = call(campaigns, "create_campaign", name="Drop", type="coupon_drop", segment_id=segment_id["segment_id"],
             starts_at=(now - timedelta(minutes=1)).isoformat(), ends_at=(now + timedelta(days=3)).isoformat(),
             coupon_template_id=_template(campaigns), control_share="0.25", budget={"coupons": cap}, **extra)
    call(campaigns, "change_status", c["campaign_id"], "scheduled")
    call(campaigns, "change_status", c["campaign_id"], "running")
    return c["campaign_id"], members


def test_a_coupon_drop_issues_to_treated_members_within_the_cap_and_results_count_them(campaigns):
    cid, _ = _coupon_campaign(campaigns, cap=5)
    treated = scalar("campaigns", "SELECT count(*) FROM campaign_members WHERE campaign_id = :c AND NOT control", c=cid)
    assert treated > 5
    wait_for(lambda: scalar("campaigns", "SELECT count(*) FROM coupons WHERE campaign_id = :c", c=cid) == 5,
             message="the coupon side's issue job")  # its timer runs the job
    owners = {r[0] for r in query("campaigns", "SELECT member_id::text FROM coupons WHERE campaign_id = :c", c=cid)}
    assert len(owners) == 5  # the cap holds
    controls = {r[0] for r in query("campaigns", "SELECT member_id::text FROM campaign_members "
                                    "WHERE campaign_id = :c AND control", c=cid)}
    assert not owners & controls  # the control group gets nothing
    results = call(campaigns, "campaign_results", cid)
    assert results["total"]["reached"] == treated
    assert results["total"]["redeemed"] == 0 and results["total"]["cost"] == "0"


def test_a_coupon_drop_tells_only_the_members_who_got_a_coupon_and_its_value(campaigns):
    cid, _ = _coupon_campaign(campaigns, cap=5, channel="sms", template="campaign.coupon_drop")
    announced = [r[0]["payload"] for r in query(
        "campaigns", "SELECT body FROM outbox WHERE event_type = 'campaign.announced' "
        "AND body->'payload'->>'campaign_id' = :c", c=cid)]
    granted = {r[0] for r in query("campaigns", "SELECT member_id::text FROM campaign_members "
                                   "WHERE campaign_id = :c AND rewards > 0", c=cid)}
    assert len(granted) == 5 and {a["member_id"] for a in announced} == granted  # past the cap: no message
    assert all(a["variables"] == {"campaign_name": "Drop", "coupon_value": "10.00"} for a in announced)


def test_a_money_budget_caps_coupons_by_their_face_value(campaigns):
    st = new_store()
    for _ in range(6):
        add_member(st)
    cid = _running(campaigns, st, name="Drop", type="coupon_drop", control_share="0", budget={"money": "25.00"})
    # the template takes 10.00 off: 25.00 allows two coupons
    assert scalar("campaigns", "SELECT sum(rewards) FROM campaign_members WHERE campaign_id = :c", c=cid) == 2
    with pytest.raises(InvalidInput) as err:
        call(campaigns, "set_budget", cid, money="19.99")
    assert err.value.field == "budget.money"


def test_a_budget_below_what_is_committed_is_refused(campaigns):
    cid, _ = _coupon_campaign(campaigns, cap=5)
    with pytest.raises(InvalidInput) as err:
        call(campaigns, "set_budget", cid, coupons=1)
    assert err.value.field == "budget.coupons"


def test_a_win_back_campaign_needs_a_segment_of_lapsed_members(campaigns):
    st = new_store()
    everyone = call(campaigns, "create_segment", name="a store", rule={"field": "store", "op": "eq", "value": st})
    lapsed = call(campaigns, "create_segment", name="lapsed", rule={"all": [
        {"field": "store", "op": "eq", "value": st},
        {"field": "lifecycle", "op": "in", "value": ["lapsed", "dormant"]}]})
    now = datetime.now(UTC)
    terms = dict(name="Come back", type="win_back", starts_at=(now + timedelta(days=1)).isoformat(),
                 ends_at=(now + timedelta(days=30)).isoformat(), coupon_template_id=_template(campaigns))
    with pytest.raises(InvalidInput) as err:
        call(campaigns, "create_campaign", segment_id=everyone["segment_id"], **terms)
    assert err.value.field == "segment_id"
    assert call(campaigns, "create_campaign", segment_id=lapsed["segment_id"], **terms)["status"] == "draft"


def test_a_birthday_campaign_gives_the_coupon_on_the_day_once_and_only_to_treated_members(campaigns):
    from contracts.events import MemberBirthday
    from tests.callers import entrypoint_hook

    st = new_store()
    members = [add_member(st) for _ in range(12)]
    now = datetime.now(UTC)
    cid = _running(campaigns, st, name="Birthday", type="birthday", control_share="0.3", channel="sms",
                   template="birthday")
    assert scalar("campaigns", "SELECT sum(rewards) FROM campaign_members WHERE campaign_id = :c", c=cid) == 0
    for member_id in members:
        for _ in range(2):  # two birthday events (another year's event id): one coupon per campaign
            event = MemberBirthday(member_id=member_id, year=2026, local_date=now.date(), registration_store=st)
            with entrypoint_hook(campaigns, "on_birthday_for_campaigns") as handle:
                handle(event.envelope().model_dump(mode="json"))
    rewarded = scalar("campaigns", "SELECT count(*) FROM campaign_members WHERE campaign_id = :c AND rewards = 1",
                      c=cid)
    treated = scalar("campaigns", "SELECT count(*) FROM campaign_members WHERE campaign_id = :c AND NOT control",
                     c=cid)
    assert rewarded == treated
    assert scalar("campaigns", "SELECT count(*) FROM campaign_members WHERE campaign_id = :c AND control "
                  "AND rewards > 0", c=cid) == 0


def test_a_per_member_limit_of_two_gives_each_member_two_coupons_and_no_third(campaigns):
    from contracts.events import MemberBirthday
    from tests.callers import entrypoint_hook

    st = new_store()
    members = [add_member(st) for _ in range(2)]
    now = datetime.now(UTC)
    cid = _running(campaigns, st, name="Birthdays", type="birthday", control_share="0", per_member_limit=2)
    for year in (2026, 2027, 2028):  # three birthdays: the limit is two
        for member_id in members:
            event = MemberBirthday(member_id=member_id, year=year, local_date=now.date(), registration_store=st)
            with entrypoint_hook(campaigns, "on_birthday_for_campaigns") as handle:
                handle(event.envelope().model_dump(mode="json"))

    def coupons() -> list:
        return query("campaigns", "SELECT member_id, code FROM coupons WHERE campaign_id = :c", c=cid)

    wait_for(lambda: len(coupons()) >= 4, message="two coupons each")
    per_member = {m: sorted(r.code for r in coupons() if str(r.member_id) == m) for m in members}
    assert all(len(codes) == 2 and codes[0] != codes[1] for codes in per_member.values())
    assert scalar("campaigns", "SELECT max(rewards) FROM campaign_members WHERE campaign_id = :c", c=cid) == 2


def test_a_referral_campaign_rewards_the_referrer_per_referral_up_to_the_limit(campaigns):
    from contracts.events import PointsAccrued
    from tests.callers import entrypoint_hook

    st = new_store()
    referrer, referred_member = add_member(st), add_member(st)
    now = datetime.now(UTC)
    cid = _running(campaigns, st, name="Refer a friend", type="referral", control_share="0", per_member_limit=2)
    assert scalar("campaigns", "SELECT count(*) FROM coupon_jobs WHERE campaign_id = :c", c=cid) == 0  # not at launch

    def referral(member_id: str, referred: str) -> dict:
        return PointsAccrued(member_id=member_id, store=st, source="referral", reference=referred, points=100,
                             amount=None, occurred_at=now, balance=100).envelope().model_dump(mode="json")

    friends = [referred_member, add_member(st), add_member(st)]
    batch = [referral(referrer, friend) for friend in friends]  # three friends brought in
    batch.append(referral(referred_member, referred_member))  # the referred side of the first: no reward
    with entrypoint_hook(campaigns, "on_points_accrued") as handle:
        handle(batch)

    def owners() -> list[str]:
        return [str(r.member_id) for r in query("campaigns", "SELECT member_id FROM coupons WHERE campaign_id = :c",
                                                c=cid)]

    wait_for(lambda: len(owners()) >= 2, message="the referrer's coupons")
    assert owners() == [referrer, referrer]  # two referrals rewarded: the per-referrer limit
    assert call(campaigns, "campaign_results", cid)["total"]["reached"] == 2  # the audience fixed at launch


def test_a_campaign_that_cannot_start_does_not_stop_the_timer_moving_the_others(campaigns):

    spent = call(campaigns, "create_template", name="last one", kind="cash", amount="5.00", valid_days=30,
                 budget_count=1)["template_id"]
    call(campaigns, "issue_coupon", template_id=spent, member_id=add_member(new_store()))  # the budget is now used up
    st = new_store()
    for _ in range(4):
        add_member(st)
    segment_id = call(campaigns, "create_segment", name="t", rule={"field": "store", "op": "eq", "value": st})
    start = datetime.now(UTC) + timedelta(days=400)
    common = {"segment_id": segment_id["segment_id"], "starts_at": start.isoformat(),
              "ends_at": (start + timedelta(days=2)).isoformat(), "control_share": "0", "stores": ["CAMPAIGN-TESTS"]}
    broken = call(campaigns, "create_campaign", name="No budget", type="coupon_drop", coupon_template_id=spent,
                  **common)["campaign_id"]
    fine = call(campaigns, "create_campaign", name="Bonus", type="points_bonus", points_per_sale=5,
                **common)["campaign_id"]
    for cid in (broken, fine):
        call(campaigns, "change_status", cid, "scheduled")
    ticked = call(campaigns, "campaign_tick", at=(start + timedelta(minutes=1)).isoformat())
    assert ticked["started"] >= 1 and ticked["failed"] >= 1
    statuses = dict(query("campaigns", "SELECT id::text, status FROM campaigns WHERE id IN (:a, :b)",
                          a=broken, b=fine))
    assert statuses == {broken: "scheduled", fine: "running"}


def test_a_money_budget_needs_a_coupon_with_a_face_value(campaigns):
    st = new_store()
    add_member(st)
    segment_id = call(campaigns, "create_segment", name="s", rule={"field": "store", "op": "eq", "value": st})
    now = datetime.now(UTC)
    no_cap = call(campaigns, "create_template", name="20% off", kind="percent", discount_percent="20",
                  budget_count=1000, valid_days=30)["template_id"]  # no max_discount: its value is the basket's
    terms = {"name": "Drop", "type": "coupon_drop", "segment_id": segment_id["segment_id"],
             "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=3)).isoformat(),
             "coupon_template_id": no_cap}
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "create_campaign", budget={"money": "100.00"}, **terms)
    assert refused.value.field == "budget.money"
    cid = call(campaigns, "create_campaign", budget={"coupons": 10}, **terms)["campaign_id"]
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "set_budget", cid, coupons=10, money="100.00")
    assert refused.value.field == "budget.money"


def test_a_referral_whose_coupon_budget_is_spent_still_books_the_points_event(campaigns):
    from contracts.events import PointsAccrued
    from tests.callers import entrypoint_hook

    spent = call(campaigns, "create_template", name="last one", kind="cash", amount="5.00", valid_days=30,
                 budget_count=1)["template_id"]
    call(campaigns, "issue_coupon", template_id=spent, member_id=add_member(new_store()))  # the budget is used up
    st = new_store()
    referrer, friend = add_member(st), add_member(st)
    segment_id = call(campaigns, "create_segment", name="s", rule={"field": "store", "op": "eq", "value": st})
    now = datetime.now(UTC)
    cid = call(campaigns, "create_campaign", name="Refer", type="referral", segment_id=segment_id["segment_id"],
               starts_at=(now - timedelta(minutes=1)).isoformat(), ends_at=(now + timedelta(days=3)).isoformat(),
               coupon_template_id=spent, control_share="0")["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled")
    call(campaigns, "change_status", cid, "running")
    event = PointsAccrued(member_id=referrer, store=st, source="referral", reference=friend, points=100, amount=None,
                          occurred_at=now, balance=777).envelope().model_dump(mode="json")
    with entrypoint_hook(campaigns, "on_points_accrued") as handle:
        assert handle([event]) == ["ack"]  # not requeued until dead-lettered
    assert scalar("campaigns", "SELECT balance FROM rm_members WHERE member_id = :m", m=referrer) == 777
    assert scalar("campaigns", "SELECT count(*) FROM campaign_members WHERE campaign_id = :c AND rewards > 0",
                  c=cid) == 0  # no grant without its coupon
