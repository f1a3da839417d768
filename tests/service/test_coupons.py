"""The coupon half of the campaigns service on its real database and broker: templates, issuing
(one, and as a background job), checkout (validate, redeem, refund), a member's coupons, merges
and erasures."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError

from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import MemberErased, MemberMerged
from services.campaigns.coupons import domain as coupon_domain
from services.campaigns.coupons import interface as coupon_issue
from tests.callers import ClusterRpcClient
from tests.helpers import query, scalar, wait_for
from tests.service.coupons_support import (
    CLERK_S1,
    MARKETER,
    POS_S1,
    call,
    deliver,
    fixed_dates,
    member_caller,
    new_member,
    new_members,
    template,
)

NOW_BASKET = {"store": "S1", "amount": "120.00"}


@pytest.fixture
def campaigns(start_service):
    return start_service("campaigns", outbox_relay=False)


def make(container, **terms):
    return call(container, "create_template", caller=MARKETER, **template(**terms))


def issue(container, template_id, member_id=None, **extra):
    return call(container, "issue_coupon", caller=MARKETER, template_id=template_id,
                member_id=member_id or new_member(), **extra)


def count_templates() -> int:
    return int(scalar("campaigns", "SELECT count(*) FROM coupon_templates"))


@pytest.mark.parametrize("terms, field", [
    ({"kind": "percent", "amount": None, "min_spend": "0", "discount_percent": "120"}, "discount_percent"),
    ({"kind": "percent", "amount": None, "min_spend": "0", "percent": "10", "max_discount": "5"}, "percent"),
    # 9折 typed as a discount of 90: above the maximum discount, so refused unless confirmed
    ({"kind": "percent", "amount": None, "min_spend": "0", "discount_percent": "90", "max_discount": "5"},
     "discount_percent"),
    ({"kind": "percent", "amount": None, "min_spend": "0", "price_percent": "10", "max_discount": "5"},
     "price_percent"),
    ({"kind": "percent", "amount": None, "min_spend": "0", "discount_percent": "10"}, "max_discount"),  # no limit
    ({"amount": "-5"}, "amount"),
    ({"min_spend": "-1"}, "min_spend"),
    ({"valid_days": None, **fixed_dates(5, -2)}, "valid_until"),
    ({"valid_days": None}, "valid_until"),
    ({"kind": "gift", "amount": None, "min_spend": "0"}, "gift_sku"),
    ({"kind": "percent", "amount": None, "min_spend": "0", "discount_percent": "10", "budget_value": "100"},
     "max_discount"),
    ({"amount": "10.001"}, "amount"),
    ({"per_member_limit": 0}, "per_member_limit"),
    ({"colour": "red"}, "colour"),
])
def test_bad_templates_are_refused_naming_the_field_and_write_nothing(campaigns, terms, field):
    before = count_templates()
    with pytest.raises(InvalidInput) as refused:
        make(campaigns, **terms)
    assert refused.value.field == field
    assert count_templates() == before


def test_templates_are_for_marketers_and_admins(campaigns):
    with pytest.raises(Forbidden):
        call(campaigns, "create_template", caller=CLERK_S1, **template())
    made = make(campaigns, kind="percent", amount=None, min_spend="0", price_percent="85", max_discount="30",
                stores=["S1"], categories=["drinks"], stackable=True, budget_count=10, budget_value="300")
    assert (Decimal(made["discount_percent"]), Decimal(made["price_percent"])) == (15, 85)
    assert Decimal(made["max_discount"]) == 30 and made["issued_count"] == 0
    assert call(campaigns, "get_template", made["template_id"], caller=MARKETER)["name"] == made["name"]


def test_a_template_preview_answers_what_the_till_would_take_off_and_saves_nothing(campaigns):
    before = count_templates()
    terms = {**template(kind="percent", amount=None, min_spend="50", price_percent="85", max_discount="12"),
             "valid_days": None}
    basket = {"store": "S1", "amount": "100.00"}
    got = call(campaigns, "preview_template", caller=MARKETER, template=terms, basket=basket)
    assert (got["applies"], Decimal(got["discount"]), Decimal(got["amount_due"])) == (True, 12, 88)  # 15 capped
    small = call(campaigns, "preview_template", caller=MARKETER, template=terms, basket={**basket, "amount": "40"})
    assert not small["applies"] and small["refusal"]["field"] == "basket.amount" and Decimal(small["discount"]) == 0
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "preview_template", caller=MARKETER, template={**terms, "gift_sku": "G1"}, basket=basket)
    assert refused.value.field == "template.gift_sku"
    with pytest.raises(Forbidden):
        call(campaigns, "preview_template", caller=CLERK_S1, template=terms, basket=basket)
    assert count_templates() == before


def test_a_confirmed_high_discount_and_an_uncapped_one_under_a_count_budget_are_made(campaigns):
    high = make(campaigns, kind="percent", amount=None, min_spend="0", discount_percent="90", max_discount="50",
                confirm_high_discount=True)
    assert (high["discount_percent"], high["price_percent"]) == ("90", "10") and "confirm_high_discount" not in high
    uncapped = make(campaigns, kind="percent", amount=None, min_spend="0", price_percent="90", budget_count=100)
    assert uncapped["discount_percent"] == "10" and uncapped["max_discount"] is None


def test_issue_to_a_member_respects_the_per_member_limit_and_replays_by_request_id(campaigns):
    made = make(campaigns, per_member_limit=2)
    member = new_member()
    first = issue(campaigns, made["template_id"], member, request_id="birthday-2026", source="birthday")
    assert coupon_domain.code_problem(first["code"]) is None and first["status"] == "valid"
    assert issue(campaigns, made["template_id"], member, request_id="birthday-2026", source="birthday") == {
        **first, "replayed": True}
    issue(campaigns, made["template_id"], member)
    with pytest.raises(Conflict) as refused:
        issue(campaigns, made["template_id"], member)
    assert refused.value.field == "per_member_limit"
    assert call(campaigns, "get_template", made["template_id"], caller=MARKETER)["issued_count"] == 2


def test_budgets_hold_under_concurrent_issuing(campaigns):
    by_count = make(campaigns, budget_count=5)
    by_value = make(campaigns, kind="cash", amount="30.00", min_spend="0", budget_value="100.00")
    outcomes: dict[str, list[str]] = {by_count["template_id"]: [], by_value["template_id"]: []}
    with ClusterRpcClient(context_data={"caller": MARKETER}) as client:
        pending = [(t, client.campaigns.issue_coupon.call_async(template_id=t, member_id=new_member()))
                   for t in outcomes for _ in range(15)]
        for template_id, reply in pending:
            try:
                reply.result()
                outcomes[template_id].append("issued")
            except RemoteError as exc:
                assert exc.exc_type == "Conflict", exc
                outcomes[template_id].append(exc.value[1] if isinstance(exc.value, list) else str(exc.value))
    assert outcomes[by_count["template_id"]].count("issued") == 5
    assert outcomes[by_value["template_id"]].count("issued") == 3  # 3 x 30.00 <= 100.00 < 4 x 30.00
    assert scalar("campaigns", "SELECT count(*) FROM coupons WHERE template_id = :t",
                  t=by_value["template_id"]) == 3
    value = call(campaigns, "get_template", by_value["template_id"], caller=MARKETER)
    assert Decimal(value["issued_value"]) == Decimal("90.00")


def test_validate_changes_nothing_redeem_is_idempotent_refund_restores(campaigns):
    made = make(campaigns)
    member = new_member()
    coupon = issue(campaigns, made["template_id"], member)
    basket = {**NOW_BASKET, "codes": [coupon["code"]], "member_id": member}
    checked = call(campaigns, "validate_coupons", caller=POS_S1, **basket)
    assert checked["discount"] == "20.00" and checked["amount_due"] == "100.00"
    assert call(campaigns, "validate_coupons", caller=POS_S1, **basket) == checked
    sale = {**basket, "transaction_id": "T-1", "terminal": "till-3"}
    redeemed = call(campaigns, "redeem_coupons", caller=POS_S1, **sale)
    assert redeemed["discount"] == "20.00" and redeemed["replayed"] is False
    assert call(campaigns, "redeem_coupons", caller=POS_S1, **sale) == {**redeemed, "replayed": True}
    with pytest.raises(Conflict) as refused:
        call(campaigns, "redeem_coupons", caller=POS_S1, **{**sale, "amount": "130.00"})
    assert refused.value.field == "transaction_id"
    with pytest.raises(Conflict) as refused:  # another sale cannot use it again
        call(campaigns, "redeem_coupons", caller=POS_S1, **{**sale, "transaction_id": "T-2"})
    assert refused.value.field == "code"
    # analytics and the feed consume coupon events: one issue, one redemption (none for the replay)
    assert _coupon_events(coupon["coupon_id"]) == [("coupon.issued", None), ("coupon.redeemed", "20.00")]
    mine = call(campaigns, "member_coupons", member, caller=member_caller(member))["items"]
    assert [c["status"] for c in mine] == ["used"] and mine[0]["discount"] == "20.00"
    refund = call(campaigns, "refund_coupons", caller=CLERK_S1, store="S1", transaction_id="T-1")
    assert refund["restored"] == [coupon["code"]] and refund["kept"] == []
    assert call(campaigns, "refund_coupons", caller=CLERK_S1, store="S1", transaction_id="T-1") == {
        **refund, "replayed": True}
    assert call(campaigns, "member_coupons", member, caller=member_caller(member))["items"][0]["status"] == "valid"
    assert _coupon_events(coupon["coupon_id"])[2:] == [("coupon.restored", "20.00")]  # the refund's, once
    again = call(campaigns, "redeem_coupons", caller=POS_S1, **{**sale, "transaction_id": "T-3"})
    assert again["discount"] == "20.00"


def _coupon_events(coupon_id: str) -> list[tuple[str, str | None]]:
    """(type, discount) of the coupon's events in campaigns' outbox, in order."""
    rows = query("campaigns", "SELECT event_type, body->'payload'->>'discount' AS d FROM outbox "
                 "WHERE body->'payload'->>'coupon_id' = :c ORDER BY id", c=coupon_id)
    return [(r.event_type, r.d) for r in rows]


def test_a_template_that_does_not_restore_keeps_the_coupon_used(campaigns):
    made = make(campaigns, kind="cash", amount="5.00", min_spend="0", restore_on_refund=False)
    coupon = issue(campaigns, made["template_id"])
    call(campaigns, "redeem_coupons", caller=POS_S1, codes=[coupon["code"]], transaction_id="K-1", **NOW_BASKET)
    refund = call(campaigns, "refund_coupons", caller=POS_S1, store="S1", transaction_id="K-1")
    assert refund["restored"] == [] and refund["kept"] == [coupon["code"]]
    with pytest.raises(Conflict):
        call(campaigns, "validate_coupons", caller=POS_S1, codes=[coupon["code"]], **NOW_BASKET)


def test_checkout_refusals_name_the_field(campaigns):
    s1_only = issue(campaigns, make(campaigns, stores=["S1"])["template_id"])
    expired = issue(campaigns, make(campaigns, valid_days=None, **fixed_dates(-10, 5))["template_id"])
    future = issue(campaigns, make(campaigns, valid_days=None, **fixed_dates(3, 5))["template_id"])
    anywhere = issue(campaigns, make(campaigns)["template_id"])
    s2_clerk = json.dumps({"kind": "staff", "id": "c2", "roles": ["clerk"], "stores": ["S2"]})
    cases = [
        ({"codes": [s1_only["code"]], "store": "S2", "amount": "120.00"}, s2_clerk, InvalidInput, "store"),
        ({"codes": [expired["code"]], **NOW_BASKET}, POS_S1, InvalidInput, "code"),
        ({"codes": [future["code"]], **NOW_BASKET}, POS_S1, InvalidInput, "code"),
        ({"codes": [anywhere["code"]], "store": "S1", "amount": "99.00"}, POS_S1, InvalidInput, "amount"),
        ({"codes": [anywhere["code"]], **NOW_BASKET, "member_id": new_member()}, POS_S1, Forbidden, "code"),
        ({"codes": [anywhere["code"][:-1] + ("2" if anywhere["code"][-1] != "2" else "3")], **NOW_BASKET}, POS_S1,
         InvalidInput, "code"),  # mistyped: refused by the check character, before any lookup
        ({"codes": ["ABC"], **NOW_BASKET}, POS_S1, InvalidInput, "code"),
        ({"codes": [coupon_domain.new_code()], **NOW_BASKET}, POS_S1, NotFound, "code"),
        ({"codes": [anywhere["code"], s1_only["code"]], **NOW_BASKET}, POS_S1, InvalidInput, "codes"),
        ({"codes": [anywhere["code"]], "store": "S2", "amount": "120.00"}, POS_S1, Forbidden, "store"),
        ({"codes": [anywhere["code"]], "store": "S1", "amount": "-1"}, POS_S1, InvalidInput, "amount"),
    ]
    for body, caller, error, field in cases:
        for method, extra in (("validate_coupons", {}), ("redeem_coupons", {"transaction_id": "X-1"})):
            with pytest.raises(error) as refused:
                call(campaigns, method, caller=caller, **body, **extra)
            assert refused.value.field == field, (method, body, refused.value)
    assert scalar("campaigns", "SELECT count(*) FROM coupon_redemptions WHERE transaction_id = 'X-1'") == 0
    with pytest.raises(Forbidden):
        call(campaigns, "redeem_coupons", caller=member_caller(new_member()), codes=[anywhere["code"]],
             transaction_id="M-1", **NOW_BASKET)


def test_two_tills_redeeming_one_coupon_at_once_exactly_one_wins(campaigns):
    coupons = [issue(campaigns, make(campaigns)["template_id"]) for _ in range(3)]
    for round_, coupon in enumerate(coupons):
        outcomes = []
        with ClusterRpcClient(context_data={"caller": POS_S1}) as client:
            replies = [client.campaigns.redeem_coupons.call_async(
                codes=[coupon["code"]], transaction_id=f"race-{round_}-{till}", **NOW_BASKET) for till in range(8)]
            for reply in replies:
                try:
                    reply.result()
                    outcomes.append("won")
                except RemoteError as exc:
                    assert exc.exc_type == "Conflict", exc
                    outcomes.append("lost")
        assert outcomes.count("won") == 1 and outcomes.count("lost") == 7
        assert scalar("campaigns", "SELECT count(*) FROM coupon_redemptions WHERE :c = ANY(coupon_ids)",
                      c=coupon["coupon_id"]) == 1


def test_the_same_sale_sent_by_two_tills_at_once_is_redeemed_once(campaigns):
    coupon = issue(campaigns, make(campaigns)["template_id"])
    with ClusterRpcClient(context_data={"caller": POS_S1}) as client:
        replies = [client.campaigns.redeem_coupons.call_async(codes=[coupon["code"]], transaction_id="same",
                                                              **NOW_BASKET) for _ in range(6)]
        results = [reply.result() for reply in replies]
    assert sorted(r["replayed"] for r in results) == [False] + [True] * 5
    assert len({r["redemption_id"] for r in results}) == 1


def test_a_member_sees_their_coupons_valid_used_and_expired_and_no_one_elses(campaigns):
    member = new_member()
    valid = issue(campaigns, make(campaigns)["template_id"], member)
    used = issue(campaigns, make(campaigns)["template_id"], member)
    expired = issue(campaigns, make(campaigns, valid_days=None, **fixed_dates(-10, 5))["template_id"], member)
    call(campaigns, "redeem_coupons", caller=POS_S1, codes=[used["code"]], transaction_id=f"U-{member}", **NOW_BASKET)
    listed = call(campaigns, "member_coupons", member, caller=member_caller(member))
    seen = {c["code"]: c["status"] for c in listed["items"]}
    assert seen == {valid["code"]: "valid", used["code"]: "used", expired["code"]: "expired"}
    only_valid = call(campaigns, "member_coupons", member, status="valid", caller=member_caller(member))["items"]
    assert [c["code"] for c in only_valid] == [valid["code"]]
    with pytest.raises(Forbidden):
        call(campaigns, "member_coupons", member, caller=member_caller(new_member()))
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "member_coupons", member, status="lost", caller=MARKETER)
    assert refused.value.field == "status"
    exported = call(campaigns, "export_member", member)  # the privacy export carries every coupon
    assert {c["code"]: c["state"] for c in exported["coupons"]} == {
        valid["code"]: "issued", used["code"]: "redeemed", expired["code"]: "issued"}
    assert exported["reward_exchanges"] == []


def test_a_used_coupon_shows_the_store_it_was_redeemed_at_until_a_refund_gives_it_back(campaigns):
    member = new_member()
    coupon = issue(campaigns, make(campaigns)["template_id"], member)
    call(campaigns, "redeem_coupons", caller=POS_S1, codes=[coupon["code"]], transaction_id=f"S-{member}",
         **NOW_BASKET)
    [used] = call(campaigns, "member_coupons", member, caller=member_caller(member))["items"]
    assert (used["status"], used["redeemed_store"], used["discount"]) == ("used", "S1", "20.00")
    call(campaigns, "refund_coupons", caller=CLERK_S1, store="S1", transaction_id=f"S-{member}")
    [back] = call(campaigns, "member_coupons", member, caller=member_caller(member))["items"]
    assert (back["status"], back["redeemed_store"]) == ("valid", None)


def test_a_members_coupons_page_by_position_and_filter_before_the_page_is_cut(campaigns):
    member = new_member()
    made = make(campaigns)["template_id"]
    expired = make(campaigns, valid_days=None, **fixed_dates(-10, 5))["template_id"]
    codes = [issue(campaigns, made, member)["code"] for _ in range(3)]
    old = [issue(campaigns, expired, member)["code"] for _ in range(4)]  # the newest: a status filter skips them
    seen, after = [], None
    while True:
        page = call(campaigns, "member_coupons", member, status="valid", limit=2, after=after, caller=MARKETER)
        seen += [c["code"] for c in page["items"]]
        assert len(page["items"]) == 2 or page["next"] is None
        after = page["next"]
        if after is None:
            break
    assert sorted(seen) == sorted(codes)
    everything = call(campaigns, "member_coupons", member, limit=500, caller=MARKETER)["items"]
    assert {c["code"] for c in everything} == set(codes + old)
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "member_coupons", member, after=["yesterday", "x"], caller=MARKETER)
    assert refused.value.field == "after"


def test_an_issue_job_runs_in_the_background_with_progress_once_per_campaign_member(campaigns):
    made = make(campaigns, budget_count=2500)
    members = new_members(3000)
    job = call(campaigns, "start_issue_job", caller=MARKETER, template_id=made["template_id"],
               member_ids=members[:2000] + members[:10], campaign_id="camp-1")  # duplicates count once
    assert job["status"] in ("queued", "running") and job["total"] == 2000

    def finished(job_id):
        state = call(campaigns, "get_issue_job", job_id, caller=MARKETER)
        return state if state["status"] == "done" else None

    done = wait_for(lambda: finished(job["job_id"]), timeout=60, message="the issue job")
    assert done["issued"] == 2000 and done["processed"] == 2000 and done["skipped"] == 0
    # a job run again from the start (as after a crash before its position was saved) issues nothing twice
    with campaigns_tx() as tx:
        tx.execute(sa.text("UPDATE coupon_jobs SET status = 'running', position = 0, issued = 0 WHERE id = :j"),
                   {"j": job["job_id"]})
    rerun = wait_for(lambda: finished(job["job_id"]), timeout=60, message="the job run again")
    assert rerun["issued"] == 0 and rerun["skipped"] == 2000
    assert scalar("campaigns", "SELECT count(*) FROM coupons WHERE job_id = :j", j=job["job_id"]) == 2000
    # the same campaign again, with 1000 more members: only they get one, and the budget stops at 2500
    with campaigns_tx() as tx:
        again = coupon_issue.start_issue_job(tx, made["template_id"], members, source="campaign",
                                             campaign_id="camp-1")
    second = wait_for(lambda: finished(again), timeout=60, message="the second job")
    assert second["issued"] == 500 and second["skipped"] == 2500
    assert scalar("campaigns", "SELECT count(*) FROM coupons WHERE campaign_id = 'camp-1'") == 2500
    assert scalar("campaigns", "SELECT count(DISTINCT member_id) FROM coupons WHERE campaign_id = 'camp-1'") == 2500
    with campaigns_tx() as tx, pytest.raises(Conflict) as refused:
        coupon_issue.start_issue_job(tx, made["template_id"], [new_member()], source="campaign")
    assert refused.value.field == "budget_count"
    with campaigns_tx() as tx, pytest.raises(InvalidInput) as refused:
        coupon_issue.start_issue_job(tx, made["template_id"], ["nobody"], source="campaign")
    assert refused.value.field == "member_ids.0"


def test_campaign_figures_count_issued_redeemed_and_discount_per_store(campaigns):
    made = make(campaigns, kind="cash", amount="7.50", min_spend="0")
    members = [new_member() for _ in range(3)]
    with campaigns_tx() as tx:
        job_id = coupon_issue.start_issue_job(tx, made["template_id"], members, source="campaign",
                                              campaign_id="camp-figures")
    wait_for(lambda: call(campaigns, "get_issue_job", job_id, caller=MARKETER)["status"] == "done", timeout=30)
    codes = {str(r.member_id): r.code for r in _rows("SELECT member_id, code FROM coupons "
                                                     "WHERE campaign_id = 'camp-figures'")}
    call(campaigns, "redeem_coupons", caller=POS_S1, codes=[codes[members[0]]], transaction_id="F-1", **NOW_BASKET)
    with campaigns_tx() as tx:
        stats = coupon_issue.campaign_coupon_stats(tx, "camp-figures")
    assert stats == {"issued": 3, "redeemed": 1, "discount": Decimal("7.50"),
                     "by_store": {"S1": {"redeemed": 1, "discount": Decimal("7.50")}},
                     "redeemed_members": {members[0]}}


def test_merge_moves_coupons_to_the_survivor_and_erase_drops_the_link_keeping_counts(campaigns):
    from datetime import UTC, datetime

    made = make(campaigns)
    survivor, merged = new_member(), new_member()
    kept = issue(campaigns, made["template_id"], survivor)
    moved = issue(campaigns, made["template_id"], merged)
    event = MemberMerged(survivor_id=survivor, merged_id=merged, merged_member_number="9001",
                         merged_at=datetime.now(UTC))
    envelope = deliver(campaigns, "on_member_merged_coupons", event)
    deliver(campaigns, "on_member_merged_coupons", event, envelope)  # redelivered: nothing more happens
    assert {c["code"] for c in call(campaigns, "member_coupons", survivor, caller=MARKETER)["items"]} == {
        kept["code"], moved["code"]}
    assert call(campaigns, "member_coupons", merged, caller=MARKETER)["items"] == []
    call(campaigns, "redeem_coupons", caller=POS_S1, codes=[kept["code"]], transaction_id=f"E-{survivor}",
         **NOW_BASKET)
    deliver(campaigns, "on_member_erased_coupons", MemberErased(member_id=survivor, erased_at=datetime.now(UTC)))
    assert call(campaigns, "member_coupons", survivor, caller=MARKETER)["items"] == []
    states = {r.code: (r.state, r.member_id) for r in _rows(
        "SELECT code, state, member_id FROM coupons WHERE code IN (:a, :b)", a=kept["code"], b=moved["code"])}
    assert states == {kept["code"]: ("redeemed", None), moved["code"]: ("void", None)}
    figures = call(campaigns, "get_template", made["template_id"], caller=MARKETER)
    assert figures["issued_count"] == 2 and figures["redeemed_count"] == 1
    # the erased member's sale is refunded: the coupon comes back void, not as a usable coupon of nobody
    refunded = call(campaigns, "refund_coupons", caller=POS_S1, store=NOW_BASKET["store"],
                    transaction_id=f"E-{survivor}")
    assert refunded["restored"] == [kept["code"]]
    assert [(r.state, r.member_id) for r in _rows("SELECT state, member_id FROM coupons WHERE code = :a",
                                                   a=kept["code"])] == [("void", None)]


# ---- direct database access for the interface functions the campaign half calls in its own transaction ----
def _rows(sql, **params):
    from tests.helpers import query

    return query("campaigns", sql, **params)


class campaigns_tx:  # noqa: N801 - used as a context manager, like a function
    """A service_runtime Tx on the campaigns test database (what the campaign half passes in)."""

    def __enter__(self):
        import sqlalchemy as sa

        from service_runtime.config import database_url
        from service_runtime.db import Tx

        self.engine = sa.create_engine(database_url("campaigns"), poolclass=sa.pool.NullPool)
        self.conn = self.engine.connect()
        self.trans = self.conn.begin()
        return Tx(self.conn, "campaigns")

    def __exit__(self, exc_type, exc, tb):
        (self.trans.commit if exc_type is None else self.trans.rollback)()
        self.conn.close()
        self.engine.dispose()
        return False



