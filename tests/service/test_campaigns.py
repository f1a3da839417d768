"""Campaigns on the real database: validation, the state machine and its audit trail, the timer,
the audience with its control group, announcements and bonus events through the outbox, notify's
outcomes, and results with lift. (Coupon campaigns: test_campaign_coupons.py.)"""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.notify import NotificationOutcome
from services.campaigns.campaigns import rules as campaign_rules
from tests.callers import entrypoint_hook
from tests.helpers import query, scalar
from tests.service.segments_support import add_member, call, new_store, sell

START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)  # a Monday
END = START + timedelta(days=10)


@pytest.fixture
def campaigns(start_service):
    return start_service("campaigns", outbox_relay=False)


def segment_of(campaigns, store):
    return call(campaigns, "create_segment", name="all of " + store,
                rule={"field": "store", "op": "eq", "value": store})["segment_id"]


def campaign(campaigns, segment, **extra):
    body = {"name": "Double points", "type": "points_multiplier", "segment_id": segment,
            "starts_at": START.isoformat(), "ends_at": END.isoformat(), "multiplier": "2", "control_share": "0.2",
            "channel": "sms", "template": "campaign.double_points",
            # bonus rules only for a store nobody sells in: should these events ever reach a points
            # service of this test session, they change no other test's points
            "stores": ["CAMPAIGN-TESTS"], **extra}
    return call(campaigns, "create_campaign", **body)


def outbox(event_type, campaign_id):
    return [r[0]["payload"] for r in query("campaigns", "SELECT body FROM outbox WHERE event_type = :t "
                                           "AND body->'payload'->>'campaign_id' = :c ORDER BY id",
                                           t=event_type, c=campaign_id)]


@pytest.mark.parametrize("extra, field", [
    ({"ends_at": (START - timedelta(hours=1)).isoformat()}, "ends_at"),
    ({"multiplier": None}, "multiplier"),
    ({"multiplier": "101"}, "multiplier"),
    ({"type": "points_bonus", "multiplier": None}, "points_per_sale"),
    ({"type": "coupon_drop", "multiplier": None}, "coupon_template_id"),
    ({"type": "member_day"}, "recurrence"),
    ({"type": "member_day", "recurrence": {"weekdays": [2, 9]}}, "recurrence.weekdays"),
    ({"template": None}, "template"),
    ({"control_share": "1.5"}, "control_share"),
    ({"control_share": "-0.1"}, "control_share"),
    ({"budget": {"points": -5}}, "budget.points"),
    ({"type": "lottery"}, "type"),
    ({"segment_id": "nope"}, "segment_id"),
])
def test_bad_campaigns_are_refused_naming_the_field_and_nothing_is_written(campaigns, extra, field):
    segment_id = segment_of(campaigns, new_store())
    before = scalar("campaigns", "SELECT count(*) FROM campaigns")
    with pytest.raises(InvalidInput) as err:
        campaign(campaigns, segment_id, **extra)
    assert err.value.field == field
    assert scalar("campaigns", "SELECT count(*) FROM campaigns") == before


def test_an_unknown_segment_is_not_found(campaigns):
    with pytest.raises(NotFound) as err:
        campaign(campaigns, str(uuid.uuid4()))
    assert err.value.field == "segment_id"


def test_states_move_only_as_allowed_and_every_change_is_audited_with_its_actor(campaigns):
    segment_id = segment_of(campaigns, new_store())
    marketer = json.dumps({"kind": "staff", "id": "mk-1", "roles": ["marketer"]})
    with entrypoint_hook(campaigns, "create_campaign", context_data={"caller": marketer}) as create:
        c = create(name="Audited", type="points_bonus", segment_id=segment_id, starts_at=START.isoformat(),
                   ends_at=END.isoformat(), points_per_sale=50)
    cid = c["campaign_id"]
    assert c["status"] == "draft"
    with pytest.raises(Conflict) as err:
        call(campaigns, "change_status", cid, "running")
    assert err.value.field == "status"
    with pytest.raises(Conflict):
        call(campaigns, "change_status", cid, "paused")
    with entrypoint_hook(campaigns, "change_status", context_data={"caller": marketer}) as change:
        change(cid, "scheduled", note="ready")
        change(cid, "draft", note="one more edit")
        change(cid, "scheduled")
        with pytest.raises(Conflict):  # before starts_at only the timer starts it
            change(cid, "running", at=(START - timedelta(days=1)).isoformat())
    history = call(campaigns, "campaign_history", cid)["items"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "draft"), ("draft", "scheduled"), ("scheduled", "draft"), ("draft", "scheduled")]
    assert {h["actor"] for h in history} == {"staff:mk-1"} and history[1]["note"] == "ready"
    cashier = json.dumps({"kind": "staff", "id": "c-1", "roles": ["cashier"], "stores": ["S1"]})
    with entrypoint_hook(campaigns, "change_status", context_data={"caller": cashier}) as change:
        with pytest.raises(Forbidden):
            change(cid, "draft")


def test_the_timer_launches_once_with_a_deterministic_control_group_and_finishes_at_the_end(campaigns):
    st = new_store()
    members = [add_member(st) for _ in range(60)]
    c = campaign(campaigns, segment_of(campaigns, st))
    cid = c["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled")
    assert call(campaigns, "campaign_tick", at=(START - timedelta(minutes=1)).isoformat())["started"] == 0
    late = add_member(st)  # joins before the launch: in the snapshot
    call(campaigns, "campaign_tick", at=(START + timedelta(minutes=1)).isoformat())
    call(campaigns, "campaign_tick", at=(START + timedelta(minutes=2)).isoformat())  # a second run changes nothing
    add_member(st)  # joins after the launch: not in the audience
    got = call(campaigns, "get_campaign", cid)
    assert got["status"] == "running" and got["snapshot_id"]

    rows = query("campaigns", "SELECT member_id::text, control FROM campaign_members WHERE campaign_id = :c", c=cid)
    assert {r[0] for r in rows} == set(members) | {late}
    threshold = campaign_rules.control_threshold(Decimal("0.2"))
    expected_control = {m for m in members + [late] if campaign_rules.control_bucket(cid, m) < threshold}
    assert {r[0] for r in rows if r[1]} == expected_control and 0 < len(expected_control) < 30

    announced = outbox("campaign.announced", cid)
    assert {a["member_id"] for a in announced} == {r[0] for r in rows if not r[1]}  # control gets nothing
    assert {a["channel"] for a in announced} == {"sms"} and announced[0]["template"] == "campaign.double_points"
    started = outbox("campaign.bonus_started", cid)
    assert len(started) == 1 and Decimal(started[0]["multiplier"]) == 2

    call(campaigns, "change_status", cid, "paused", at=(START + timedelta(days=1)).isoformat())
    assert len(outbox("campaign.bonus_ended", cid)) == 1
    call(campaigns, "change_status", cid, "running", at=(START + timedelta(days=2)).isoformat())
    assert len(outbox("campaign.bonus_started", cid)) == 2  # resumed: a new rule key
    assert len(outbox("campaign.announced", cid)) == len(announced)  # nobody is told twice
    assert call(campaigns, "campaign_tick", at=(END + timedelta(minutes=1)).isoformat())["finished"] >= 1  # shared db
    assert call(campaigns, "campaign_tick", at=(END + timedelta(minutes=2)).isoformat())["finished"] == 0
    assert call(campaigns, "get_campaign", cid)["status"] == "finished"
    assert [h["to_status"] for h in call(campaigns, "campaign_history", cid)["items"]] == [
        "draft", "scheduled", "running", "paused", "running", "finished"]


def test_member_days_open_one_bonus_rule_per_local_day(campaigns, monkeypatch):
    monkeypatch.setenv("STORE_TIMEZONES", "NY1=America/New_York")
    monkeypatch.setenv("STORE_DEFAULT_TIMEZONE", "Asia/Shanghai")
    st = new_store()
    add_member(st)
    c = campaign(campaigns, segment_of(campaigns, st), type="member_day", recurrence={"weekdays": [2]},
                 stores=["SH1", "NY1"], multiplier=None, points_per_sale=30)
    cid = c["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled")
    call(campaigns, "campaign_tick", at=(START + timedelta(minutes=1)).isoformat())  # Monday: nothing yet
    assert outbox("campaign.bonus_started", cid) == []
    tuesday = START + timedelta(days=1)  # Wednesday begins within a day in both zones
    call(campaigns, "campaign_tick", at=tuesday.isoformat())
    call(campaigns, "campaign_tick", at=(tuesday + timedelta(hours=1)).isoformat())
    rules = outbox("campaign.bonus_started", cid)
    assert len(rules) == 2
    by_store = {tuple(r["stores"]): r for r in rules}
    starts = {k: datetime.fromisoformat(v["starts_at"]) for k, v in by_store.items()}
    assert starts[("SH1",)] == datetime(2030, 3, 5, 16, tzinfo=UTC)  # Wednesday 00:00 in Shanghai
    assert starts[("NY1",)] == datetime(2030, 3, 6, 5, tzinfo=UTC)  # Wednesday 00:00 in New York
    assert {r["points_per_sale"] for r in rules} == {30}


def test_results_count_reach_delivery_conversion_sales_and_lift_per_store(campaigns):
    st_a, st_b = new_store(), new_store()
    treated_share = "0.5"
    for st in (st_a, st_b):
        for _ in range(30):
            add_member(st)
    segment_id = call(campaigns, "create_segment", name="two stores",
                      rule={"field": "store", "op": "in", "value": [st_a, st_b]})["segment_id"]
    now = datetime.now(UTC)
    c = campaign(campaigns, segment_id, starts_at=(now - timedelta(hours=1)).isoformat(),
                 ends_at=(now + timedelta(days=5)).isoformat(), control_share=treated_share, attribution_days=7)
    cid = c["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled")
    call(campaigns, "change_status", cid, "running")
    rows = query("campaigns", "SELECT member_id::text, control FROM campaign_members WHERE campaign_id = :c", c=cid)
    treated = sorted(r[0] for r in rows if not r[1])
    control = sorted(r[0] for r in rows if r[1])
    assert treated and control
    buyers_t, buyers_c = treated[:len(treated) // 2], control[:1]
    launched = datetime.fromisoformat(call(campaigns, "get_campaign", cid)["launched_at"].replace("Z", "+00:00"))
    sell(campaigns, *[(m, f"{cid}-{m}", launched + timedelta(minutes=1), "25.50") for m in buyers_t + buyers_c],
         (treated[-1], f"{cid}-early", launched - timedelta(days=3), "99.00"))  # before launch
    for i, m in enumerate(treated[:5]):
        outcome = NotificationOutcome(message_id=f"msg-{cid}-{i}", member_id=m, campaign_id=cid, channel="sms",
                                      status="delivered" if i else "failed", at=now)
        with entrypoint_hook(campaigns, "on_notification_outcome") as handle:
            handle(outcome.envelope().model_dump(mode="json"))
    # another producer's campaign id (not one of ours) is ignored rather than failing the handler
    foreign = NotificationOutcome(message_id=f"msg-{cid}-x", member_id="m-1", campaign_id="c-elsewhere",
                                  channel="sms", status="delivered", at=now)
    with entrypoint_hook(campaigns, "on_notification_outcome") as handle:
        handle(foreign.envelope().model_dump(mode="json"))

    res = call(campaigns, "campaign_results", cid)
    total = res["total"]
    assert total["reached"] == len(treated) and total["control"] == len(control)
    assert total["delivered"] == 4
    assert Decimal(total["attributed_sales"]) == Decimal("25.50") * len(buyers_t)
    conv_t = Decimal(len(buyers_t)) / len(treated)
    conv_c = Decimal(1) / len(control)
    assert Decimal(total["conversion"]) == conv_t.quantize(Decimal("0.0001"))
    assert Decimal(total["lift"]) == conv_t.quantize(Decimal("0.0001")) - conv_c.quantize(Decimal("0.0001"))
    assert total["relative_lift"] is not None
    assert set(res["by_store"]) == {st_a, st_b}
    assert sum(s["reached"] for s in res["by_store"].values()) == total["reached"]

    manager = json.dumps({"kind": "staff", "id": "m-1", "roles": ["manager"], "stores": [st_a]})
    with entrypoint_hook(campaigns, "campaign_results", context_data={"caller": manager}) as results:
        mine = results(cid)
    assert set(mine["by_store"]) == {st_a} and mine["total"] == mine["by_store"][st_a]


def test_two_timers_and_a_marketer_at_once_launch_a_campaign_once(campaigns):
    from tests.callers import ClusterRpcClient

    st = new_store()
    for _ in range(40):
        add_member(st)
    now = datetime.now(UTC)
    c = campaign(campaigns, segment_of(campaigns, st), starts_at=(now - timedelta(minutes=1)).isoformat(),
                 ends_at=(now + timedelta(days=1)).isoformat())
    cid = c["campaign_id"]
    call(campaigns, "change_status", cid, "scheduled")
    with ClusterRpcClient() as client:  # real RPCs on concurrent workers
        pending = [client.campaigns.campaign_tick.call_async(), client.campaigns.campaign_tick.call_async(),
                   client.campaigns.change_status.call_async(cid, "running")]
        for reply in pending:
            reply.result()
    history = call(campaigns, "campaign_history", cid)["items"]
    assert [h["to_status"] for h in history] == ["draft", "scheduled", "running"]
    treated = scalar("campaigns", "SELECT count(*) FROM campaign_members WHERE campaign_id = :c AND NOT control",
                     c=cid)
    assert len(outbox("campaign.announced", cid)) == treated
    assert len(outbox("campaign.bonus_started", cid)) == 1


def test_a_privacy_export_shows_the_read_model_copy_and_the_campaigns_a_member_was_in(campaigns):
    st = new_store()
    member_id = add_member(st, gender="other", tags=("tea",))
    c = campaign(campaigns, segment_of(campaigns, st), control_share="0")
    call(campaigns, "change_status", c["campaign_id"], "scheduled")
    call(campaigns, "campaign_tick", at=(START + timedelta(minutes=1)).isoformat())
    exported = call(campaigns, "export_member", member_id)
    assert exported["segmentation_profile"]["gender"] == "other" and exported["segmentation_profile"]["tags"] == ["tea"]
    assert exported["campaigns"] == [{"campaign_id": c["campaign_id"], "name": "Double points", "control_group": False,
                                      "rewards": 0}]
    assert call(campaigns, "export_member", str(uuid.uuid4())) == {}


def test_times_with_and_without_a_zone_compare_as_utc(campaigns):
    segment = segment_of(campaigns, "S-NAIVE")
    made = campaign(campaigns, segment, starts_at=START.replace(tzinfo=None).isoformat())  # no zone: UTC
    assert made["starts_at"].replace("Z", "+00:00") == START.isoformat()
    with pytest.raises(InvalidInput) as refused:
        campaign(campaigns, segment, ends_at=(START - timedelta(days=1)).replace(tzinfo=None).isoformat())
    assert refused.value.field == "ends_at"
