"""Points campaigns feed points' bonus rules by events, on the real broker: a launch creates the
rule and names the treated audience, a repeated start adds nothing, a pause ends it; a sale in the
window earns the bonus for a treated member only (not the control group, not an outsider), and a
points budget holds under concurrent sales."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.campaigns import CampaignBonusStarted
from services.campaigns.campaigns.rules import control_bucket, control_threshold
from tests.callers import ClusterRpcClient, entrypoint_hook
from tests.helpers import query, scalar, wait_for
from tests.service.points_support import execute as execute_in_points
from tests.service.points_support import open_account, sale
from tests.service.segments_support import add_member, call, execute, new_store


def rules_of(campaign_id):
    return query("points", "SELECT id::text, starts_at, ends_at, rule FROM bonus_rules WHERE source = :s",
                 s=f"campaign:{campaign_id}")


def audience(campaign_id: str, store: str, treated: int, control: int, share: Decimal) -> tuple[list[str], list[str]]:
    """Members of ``store`` in campaigns' read model (and with points accounts) that the campaign's
    control draw puts ``treated`` in the treated group and ``control`` in the control group."""
    cut = control_threshold(share)
    picked: dict[bool, list[str]] = {True: [], False: []}
    while len(picked[False]) < treated or len(picked[True]) < control:
        member_id = str(uuid.uuid4())
        in_control = control_bucket(campaign_id, member_id) < cut
        if len(picked[in_control]) < (control if in_control else treated):
            picked[in_control].append(member_id)
    for member_id in picked[False] + picked[True]:
        add_member(store, member_id=member_id)
        execute_in_points("INSERT INTO accounts (member_id, registration_store) VALUES (:m, :s)", m=member_id, s=store)
    return picked[False], picked[True]


def running(campaigns, store: str, campaign_id: str, **terms) -> None:
    """A points campaign over the members of ``store``, live from 5 minutes ago for a day, running."""
    segment_id = call(campaigns, "create_segment", name="s", rule={"field": "store", "op": "eq", "value": store})
    now = datetime.now(UTC)
    call(campaigns, "create_campaign", type="points_bonus", segment_id=segment_id["segment_id"], stores=[store],
         starts_at=(now - timedelta(minutes=5)).isoformat(), ends_at=(now + timedelta(days=1)).isoformat(),
         campaign_id=campaign_id, **terms)
    call(campaigns, "change_status", campaign_id, "scheduled")
    call(campaigns, "change_status", campaign_id, "running")


def audience_in_points(campaign_id: str) -> int:
    """How many members points keeps in the campaign's audience."""
    return int(scalar("points", "SELECT count(*) FROM bonus_audiences WHERE audience = :a",
                      a=f"campaign:{campaign_id}"))


def budget_cap(campaign_id: str) -> int | None:
    return scalar("points", "SELECT cap FROM bonus_budgets WHERE source = :s", s=f"campaign:{campaign_id}")


def bonus_of(result: dict) -> int:
    return sum(line["points"] for line in result["breakdown"] if line["rule"].startswith(("bonus:", "budget:")))


def test_a_points_campaign_opens_and_ends_a_bonus_rule_in_points(start_service):
    # events other tests left in the outbox (their relay was off) stay there: they are not for this points service
    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    points = start_service("points")
    campaigns = start_service("campaigns")
    st = new_store()
    cid = str(uuid.uuid4())
    treated, control = audience(cid, st, treated=2, control=2, share=Decimal("0.5"))
    running(campaigns, st, cid, name="Bonus 77", points_per_sale=77, control_share="0.5")
    wait_for(lambda: rules_of(cid), message="bonus rule in points")
    (rule,) = rules_of(cid)
    assert rule.rule["points_per_sale"] == 77 and rule.rule["stores"] == [st]
    wait_for(lambda: audience_in_points(cid) == 2, message="the treated audience in points")

    # the same start again (a redelivered or repeated event with another id) adds nothing
    again = CampaignBonusStarted(campaign_id=cid, rule_key=cid, name="Bonus 77", starts_at=rule.starts_at,
                                 ends_at=rule.ends_at, points_per_sale=77, stores=[st], audience_only=True)
    with entrypoint_hook(points, "on_campaign_bonus_started") as handle:
        handle(again.envelope().model_dump(mode="json"))
    assert len(rules_of(cid)) == 1

    outsider, _ = open_account(store=st)
    with entrypoint_hook(points, "record_sale") as record:
        earned = {m: record(**sale(m, "10.00", store=st)) for m in [*treated, *control, outsider]}
    assert [bonus_of(earned[m]) for m in treated] == [77, 77]  # base points and the campaign bonus
    assert [bonus_of(earned[m]) for m in [*control, outsider]] == [0, 0, 0]
    assert all(earned[m]["points_earned"] == 10 for m in [*control, outsider])

    def results() -> dict:
        return call(campaigns, "campaign_results", cid)["total"]

    wait_for(lambda: results()["bonus_points"] == 154, message="the bonus granted reaches the results")
    assert results()["cost"] == "1.54"  # 154 points at the default point value of 0.01

    call(campaigns, "change_status", cid, "paused")
    wait_for(lambda: rules_of(cid)[0].ends_at <= datetime.now(UTC), message="bonus rule ended")


def test_a_points_budget_holds_under_concurrent_sales(start_service, monkeypatch):
    from services.campaigns.campaigns import launch

    monkeypatch.setattr(launch, "AUDIENCE_CHUNK", 3)  # the 8 treated members told in pages of 3
    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    start_service("points")
    campaigns = start_service("campaigns")
    st = new_store()
    cid = str(uuid.uuid4())
    treated, _ = audience(cid, st, treated=8, control=0, share=Decimal("0"))
    running(campaigns, st, cid, name="Bonus 50, 120 in all", points_per_sale=50, control_share="0",
            budget={"points": 120})
    wait_for(lambda: audience_in_points(cid) == 8 and rules_of(cid), message="rule and audience in points")
    with ClusterRpcClient() as client:  # eight tills at once, served by concurrent workers
        pending = [client.points.record_sale.call_async(**sale(m, "10.00", store=st)) for m in treated]
        results = [p.result() for p in pending]
    bonuses = sorted(bonus_of(r) for r in results)
    assert sum(bonuses) == 120 and bonuses[-2:] == [50, 50] and bonuses.count(20) == 1
    assert scalar("points", "SELECT granted FROM bonus_budgets WHERE source = :s", s=f"campaign:{cid}") == 120


def test_a_money_budget_caps_bonus_value_and_a_budget_change_reaches_points(start_service):
    from contracts.errors import InvalidInput

    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    points = start_service("points")
    campaigns = start_service("campaigns")
    st = new_store()
    cid = str(uuid.uuid4())
    treated, _ = audience(cid, st, treated=4, control=0, share=Decimal("0"))
    running(campaigns, st, cid, name="Bonus 50, 1.30 in value", points_per_sale=50, control_share="0",
            budget={"money": "1.30"})  # 130 points at the default point value of 0.01

    wait_for(lambda: budget_cap(cid) == 130 and audience_in_points(cid) == 4,
             message="the budget and audience in points")

    def sell(member_id: str) -> int:
        with entrypoint_hook(points, "record_sale") as record:
            return bonus_of(record(**sale(member_id, "10.00", store=st)))

    assert [sell(m) for m in treated[:3]] == [50, 50, 30]
    wait_for(lambda: call(campaigns, "campaign_results", cid)["total"]["bonus_points"] == 130,
             message="campaigns saw the bonus granted")
    with pytest.raises(InvalidInput) as refused:  # below what is committed already
        call(campaigns, "set_budget", cid, money="1.00")
    assert refused.value.args[1] == "budget.money"
    call(campaigns, "set_budget", cid, money="2.00")
    wait_for(lambda: budget_cap(cid) == 200, message="the new cap in points")
    assert [sell(treated[3]), sell(treated[0]), sell(treated[1])] == [50, 20, 0]


def test_a_per_member_limit_caps_the_sales_earning_the_bonus(start_service):
    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    start_service("points")
    campaigns = start_service("campaigns")
    st = new_store()
    cid = str(uuid.uuid4())
    (member,), _ = audience(cid, st, treated=1, control=0, share=Decimal("0"))
    running(campaigns, st, cid, name="Bonus 40, twice each", points_per_sale=40, control_share="0",
            per_member_limit=2)
    wait_for(lambda: scalar("points", "SELECT per_member FROM bonus_budgets WHERE source = :s",
                            s=f"campaign:{cid}") == 2 and rules_of(cid), message="the limit in points")
    wait_for(lambda: audience_in_points(cid) == 1, message="the audience in points")
    with ClusterRpcClient() as client:  # four sales of one member at once
        pending = [client.points.record_sale.call_async(**sale(member, "10.00", store=st)) for _ in range(4)]
        bonuses = sorted(bonus_of(p.result()) for p in pending)
    assert bonuses == [0, 0, 40, 40]


def test_a_sale_whose_bonus_the_budget_cut_to_nothing_does_not_use_the_members_limit(start_service):
    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    points = start_service("points")
    campaigns = start_service("campaigns")
    st = new_store()
    cid = str(uuid.uuid4())
    (first, second), _ = audience(cid, st, treated=2, control=0, share=Decimal("0"))
    running(campaigns, st, cid, name="Bonus 40 once", points_per_sale=40, control_share="0", per_member_limit=1,
            budget={"points": 40})
    wait_for(lambda: budget_cap(cid) == 40 and audience_in_points(cid) == 2, message="budget and audience in points")

    def sell(member_id: str) -> int:
        with entrypoint_hook(points, "record_sale") as record:
            return bonus_of(record(**sale(member_id, "10.00", store=st)))

    assert [sell(first), sell(second)] == [40, 0]  # the budget ran out on the second member's sale
    wait_for(lambda: call(campaigns, "campaign_results", cid)["total"]["bonus_points"] == 40, message="results")
    call(campaigns, "set_budget", cid, points=80)
    wait_for(lambda: budget_cap(cid) == 80, message="the new cap")
    assert [sell(second), sell(first)] == [40, 0]  # the second member's one bonus sale was still theirs


def test_offline_uploads_drawing_on_two_budgets_in_opposite_orders_both_post(start_service):
    """Two uploads, each with a sale under campaign A's budget and one under B's, in opposite
    orders: points takes both budgets before the first sale, in one order, so neither upload
    waits for the other while holding a budget (a deadlock would fail one of them)."""
    import sqlalchemy as sa

    from service_runtime.config import database_url

    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    start_service("points")
    campaigns = start_service("campaigns")
    stores = [new_store(), new_store()]
    cids = sorted(str(uuid.uuid4()) for _ in stores)  # A sorts before B, as their budget rows
    members = []
    for cid, st in zip(cids, stores, strict=True):
        treated, _ = audience(cid, st, treated=2, control=0, share=Decimal("0"))
        members.append(treated)
        running(campaigns, st, cid, name="Bonus 10", points_per_sale=10, control_share="0", budget={"points": 1000})
    for cid in cids:
        wait_for(lambda cid=cid: budget_cap(cid) == 1000
                 and audience_in_points(cid) == 2, message="budgets and audiences in points")
    (a1, a2), (b1, b2) = members
    in_a, in_b = stores

    def waiting() -> int:
        return int(scalar("points", "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock'"))

    engine = sa.create_engine(database_url("points"), poolclass=sa.pool.NullPool)
    try:
        with ClusterRpcClient() as client:
            with engine.connect() as holder:  # A's budget held, so both uploads line up behind it
                holder.execute(sa.text("SELECT 1 FROM bonus_budgets WHERE source = :s FOR UPDATE"),
                               {"s": f"campaign:{cids[0]}"})
                first = client.points.record_batch.call_async(
                    items=[{"kind": "sale", **sale(a1, "10.00", store=in_a)},
                           {"kind": "sale", **sale(b1, "10.00", store=in_b)}])
                wait_for(lambda: waiting() == 1, message="the first upload waiting for A's budget")
                second = client.points.record_batch.call_async(
                    items=[{"kind": "sale", **sale(b2, "10.00", store=in_b)},
                           {"kind": "sale", **sale(a2, "10.00", store=in_a)}])
                wait_for(lambda: waiting() == 2, message="the second upload waiting too")
                holder.rollback()
            results = [first.result(), second.result()]
    finally:
        engine.dispose()
    assert [r["accepted"] for r in results] == [2, 2]
    assert [bonus_of(item["sale"]) for r in results for item in r["results"]] == [10, 10, 10, 10]


def test_each_bonus_start_tells_points_the_audience_so_a_campaign_that_lost_it_gets_it_back(start_service):
    """A campaign launched before points kept audiences (or whose audience points lost) gets it
    again when its bonus starts again: here, a resume after a pause."""
    execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
    start_service("points")
    campaigns = start_service("campaigns")
    st = new_store()
    cid = str(uuid.uuid4())
    audience(cid, st, treated=3, control=0, share=Decimal("0"))
    running(campaigns, st, cid, name="Bonus 5", points_per_sale=5, control_share="0")
    wait_for(lambda: audience_in_points(cid) == 3, message="the audience in points")
    execute_in_points("DELETE FROM bonus_audiences WHERE audience = :a", a=f"campaign:{cid}")
    call(campaigns, "change_status", cid, "paused")
    call(campaigns, "change_status", cid, "running")
    wait_for(lambda: audience_in_points(cid) == 3, message="the audience sent again with the resumed bonus")
