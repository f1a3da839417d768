"""Rule segments over the read model on the real database: every field, preview, snapshot, export,
strict validation, and the RFM / ABCD / lifecycle recompute as a job."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.callers import entrypoint_hook
from tests.helpers import query, scalar, wait_for
from tests.service.segments_support import add_member, call, new_store

TODAY = date(2026, 6, 15)


@pytest.fixture
def campaigns(start_service):
    return start_service("campaigns", outbox_relay=False)


def ids(campaigns, store, *conditions, at=TODAY):
    rule = {"all": [{"field": "store", "op": "eq", "value": store}, *conditions]}
    page = call(campaigns, "preview_rule", rule, sample=100, at=at.isoformat())
    assert page["size"] == len(page["sample"])
    return {m["member_id"] for m in page["sample"]}


def test_every_rule_field_selects_the_right_members(campaigns):
    st = new_store()
    days = TODAY - timedelta(days=1)
    a = add_member(st, tier="gold", tags=("vip", "coffee"), gender="female", birthday=date(1990, 6, 20),
                   channel="app", registered_at=datetime(2026, 1, 10, tzinfo=UTC), balance=500,
                   purchases=[(days, Decimal("100.00")), (days - timedelta(days=10), Decimal("50.50"))])
    b = add_member(st, tier="normal", tags=("tea",), gender="male", birthday=date(2000, 2, 29), channel="pos",
                   registered_at=datetime(2025, 3, 1, tzinfo=UTC), balance=20,
                   purchases=[(TODAY - timedelta(days=200), Decimal("900.00"))])
    c = add_member(st, tier="silver", channel="import", balance=0)  # no birthday, no purchases
    erased = add_member(st, tier="gold", status="erased")
    cond = lambda field, op, value, **kw: {"field": field, "op": op, "value": value, **kw}  # noqa: E731

    assert ids(campaigns, st) == {a, b, c}  # erased members are never in a segment
    assert erased not in ids(campaigns, st, cond("tier", "eq", "gold"))
    assert ids(campaigns, st, cond("tier", "in", ["gold", "silver"])) == {a, c}
    assert ids(campaigns, st, cond("tier", "ne", "gold")) == {b, c}
    assert ids(campaigns, st, cond("tags", "has", "vip")) == {a}
    assert ids(campaigns, st, cond("tags", "has_any", ["tea", "vip"])) == {a, b}
    assert ids(campaigns, st, cond("tags", "has_all", ["vip", "coffee"])) == {a}
    assert ids(campaigns, st, cond("tags", "has_none", ["vip"])) == {b, c}
    assert ids(campaigns, st, cond("age", "between", [30, 40])) == {a}  # 36 on TODAY
    assert ids(campaigns, st, cond("age", "lt", 30)) == {b}
    assert ids(campaigns, st, cond("age", "is_null", None)) == {c}
    assert ids(campaigns, st, cond("gender", "eq", "male")) == {b}
    assert ids(campaigns, st, cond("birthday_month", "eq", 6)) == {a}
    assert ids(campaigns, st, cond("channel", "in", ["app", "import"])) == {a, c}
    assert ids(campaigns, st, cond("registered_at", "gte", "2026-01-01")) == {a}
    assert ids(campaigns, st, cond("registered_at", "between", ["2025-01-01", "2025-12-31"])) == {b}
    assert ids(campaigns, st, cond("days_since_last_purchase", "lte", 30)) == {a}
    assert ids(campaigns, st, cond("days_since_last_purchase", "gt", 180)) == {b}
    assert ids(campaigns, st, cond("days_since_last_purchase", "is_null", None)) == {c}
    assert ids(campaigns, st, cond("purchase_count", "gte", 2, window_days=30)) == {a}
    assert ids(campaigns, st, cond("purchase_count", "eq", 0, window_days=30)) == {b, c}
    assert ids(campaigns, st, cond("spend", "gte", "150.50", window_days=30)) == {a}
    assert ids(campaigns, st, cond("spend", "gt", "150.50", window_days=30)) == set()
    assert ids(campaigns, st, cond("spend", "gte", "900", window_days=365)) == {b}
    assert ids(campaigns, st, cond("points_balance", "gte", 20)) == {a, b}
    assert ids(campaigns, st, {"any": [cond("tier", "eq", "gold"), cond("tags", "has", "tea")]}) == {a, b}
    assert ids(campaigns, st, {"not": cond("tier", "eq", "gold")}) == {b, c}


def test_preview_snapshot_and_export_of_a_saved_segment(campaigns):
    st = new_store()
    members = sorted(add_member(st, tier="gold") for _ in range(5))
    add_member(st, tier="normal")
    seg = call(campaigns, "create_segment", name="Gold of " + st,
               rule={"all": [{"field": "store", "op": "eq", "value": st}, {"field": "tier", "op": "eq",
                                                                          "value": "gold"}]})
    preview = call(campaigns, "preview_segment", seg["segment_id"], sample=2)
    assert preview["size"] == 5 and len(preview["sample"]) == 2
    assert set(preview["sample"][0]) >= {"member_id", "tier", "balance", "rfm_group", "lifecycle"}
    assert "name" not in preview["sample"][0] and "phone" not in preview["sample"][0]

    snap_id = str(uuid.uuid4())
    snap = call(campaigns, "snapshot_segment", seg["segment_id"], snapshot_id=snap_id)
    assert snap["size"] == 5
    assert call(campaigns, "snapshot_segment", seg["segment_id"], snapshot_id=snap_id)["size"] == 5  # a retry
    late = add_member(st, tier="gold")  # joins the live segment, not the snapshot

    first = call(campaigns, "export_segment", seg["segment_id"], snapshot_id=snap_id, limit=3)
    rest = call(campaigns, "export_segment", seg["segment_id"], snapshot_id=snap_id, after=first["next"], limit=3)
    assert first["member_ids"] + rest["member_ids"] == members and rest["next"] is None
    live = call(campaigns, "export_segment", seg["segment_id"])
    assert set(live["member_ids"]) == set(members) | {late}
    assert scalar("campaigns", "SELECT count(*) FROM snapshot_members WHERE snapshot_id = :s", s=snap_id) == 5


@pytest.mark.parametrize("rule, field", [
    ({"all": [{"field": "favourite_colour", "op": "eq", "value": "red"}]}, "rule.all.0.field"),
    ({"all": [{"field": "tier", "op": "~", "value": "gold"}]}, "rule.all.0.op"),
    ({"any": [{"field": "spend", "op": "gte", "value": 1.5, "window_days": 30}]}, "rule.any.0.value"),
])
def test_a_bad_rule_is_refused_naming_the_part_and_nothing_is_saved(campaigns, rule, field):
    before = scalar("campaigns", "SELECT count(*) FROM segments")
    with pytest.raises(InvalidInput) as err:
        call(campaigns, "create_segment", name="bad", rule=rule)
    assert err.value.field == field
    assert scalar("campaigns", "SELECT count(*) FROM segments") == before


def test_unknown_segments_and_other_callers(campaigns):
    with pytest.raises(NotFound):
        call(campaigns, "preview_segment", str(uuid.uuid4()))
    with pytest.raises(InvalidInput) as err:
        call(campaigns, "preview_segment", "not-a-uuid")
    assert err.value.field == "segment_id"


def test_segment_coupons_retried_with_the_same_request_id_return_the_first_job(campaigns):
    from tests.service.coupons_support import template

    st = new_store()
    members = {add_member(st) for _ in range(3)}
    segment = call(campaigns, "create_segment", name="three", rule={"field": "store", "op": "eq", "value": st})
    made = call(campaigns, "create_template", **template(name="5 off", kind="cash", amount="5.00", min_spend="0"))
    request_id = str(uuid.uuid4())
    first = call(campaigns, "issue_segment_coupons", segment["segment_id"], made["template_id"], request_id=request_id)
    again = call(campaigns, "issue_segment_coupons", segment["segment_id"], made["template_id"], request_id=request_id)
    assert first["members"] == 3 and not first["replayed"]
    assert again["job_id"] == first["job_id"] and again["replayed"]
    assert scalar("campaigns", "SELECT count(*) FROM coupon_jobs WHERE campaign_id = :c", c=request_id) == 1

    def owners() -> list[str]:
        rows = query("campaigns", "SELECT member_id FROM coupons WHERE template_id = :t", t=made["template_id"])
        return sorted(str(r.member_id) for r in rows)

    wait_for(lambda: len(owners()) >= 3, message="the job issued its coupons")
    assert owners() == sorted(members)  # one coupon each
    other = call(campaigns, "create_template", **template(name="6 off", kind="cash", amount="6.00", min_spend="0"))
    with pytest.raises(Conflict) as refused:
        call(campaigns, "issue_segment_coupons", segment["segment_id"], other["template_id"], request_id=request_id)
    assert refused.value.args[1] == "request_id"


def test_rfm_abcd_and_lifecycle_recompute_as_a_job(campaigns):
    # a day far ahead, so only this test's purchases are in the window (the database is shared)
    today = date(2101, 1, 1)
    st = new_store()
    members = []
    for i in range(100):  # member i: i+1 purchases, spend 10*(i+1), last purchase 100-i days ago
        day = today - timedelta(days=100 - i)
        members.append(add_member(st, registered_at=datetime(2100, 1, 1, tzinfo=UTC),
                                  purchases=[(day - timedelta(days=k % 3), Decimal(10)) for k in range(i + 1)]))
    fresh = add_member(st, registered_at=datetime(2100, 12, 20, tzinfo=UTC))
    job = call(campaigns, "start_rfm", window_days=200, active_days=90, recently_lapsed_days=180, lapsed_days=365)
    assert job["status"] == "queued" and job["steps_done"] == 0
    done = call(campaigns, "run_rfm_job", job["job_id"], at=today.isoformat())
    assert done["status"] == "done" and done["steps_done"] == done["steps_total"]
    assert call(campaigns, "run_rfm_job", job["job_id"]) is None  # done already: nobody runs it twice
    assert call(campaigns, "rfm_job", job["job_id"])["members_scored"] >= 101

    # (the store has 101 members and a sample holds 100: ask narrower questions)
    assert members[99] in ids(campaigns, st, {"field": "rfm_group", "op": "eq", "value": "champions"}, at=today)
    assert members[0] in ids(campaigns, st, {"field": "rfm_group", "op": "eq", "value": "lost"}, at=today)
    newcomers = call(campaigns, "preview_rule", {"all": [{"field": "store", "op": "eq", "value": st},
                                                         {"field": "lifecycle", "op": "eq", "value": "new"}]},
                     sample=10, at=today.isoformat())["sample"]
    assert [(m["member_id"], m["rfm_group"]) for m in newcomers] == [(fresh, None)]

    for field, index_range in (("rfm_r", range(80, 100)), ("rfm_f", range(80, 100)), ("rfm_m", range(80, 100))):
        got = ids(campaigns, st, {"field": field, "op": "eq", "value": 5}, at=today)
        assert got == {members[i] for i in index_range}, field
    assert ids(campaigns, st, {"field": "rfm_m", "op": "eq", "value": 1}, at=today) == set(members[:20])
    # ABCD: A = the biggest spenders whose preceding share is under 80% of the revenue
    spends = [(10 * (i + 1), i) for i in range(100)]
    total, before, expected_a = sum(s for s, _ in spends), 0, set()
    for spend, i in sorted(spends, reverse=True):
        if before < total * Decimal("0.80"):
            expected_a.add(members[i])
        before += spend
    assert ids(campaigns, st, {"field": "abcd", "op": "eq", "value": "A"}, at=today) == expected_a
    assert ids(campaigns, st, {"field": "abcd", "op": "in", "value": ["A", "B", "C", "D"]}, at=today) == set(members)
    # lifecycle: last purchase within 90 days -> active; 90..180 -> recently lapsed
    active = ids(campaigns, st, {"field": "lifecycle", "op": "eq", "value": "active"}, at=today)
    assert active == {members[i] for i in range(100) if 100 - i < 90}
    lapsed = ids(campaigns, st, {"field": "lifecycle", "op": "eq", "value": "recently_lapsed"}, at=today)
    assert lapsed == {members[i] for i in range(100) if 100 - i >= 90}
    # the charts' counts: every field asked for from one scan, the unscored newcomer under null
    shares = call(campaigns, "breakdown_rule", {"field": "store", "op": "eq", "value": st},
                  by=["abcd", "rfm_group", "lifecycle_class"], at=today.isoformat())
    abcd = {g["value"]: g["members"] for g in shares["by"]["abcd"]}
    assert shares["total"] == 101 and abcd["A"] == len(expected_a) and abcd[None] == 1 and sum(abcd.values()) == 101
    assert sum(g["members"] for g in shares["by"]["rfm_group"]) == 101
    assert shares["by"]["rfm_group"][-1]["value"] is None  # unscored last
    assert shares["by"]["lifecycle_class"] == [{"value": "new", "members": 101}]  # members announced no class yet
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "breakdown_rule", None, by=["age"])
    assert refused.value.field == "by"


def test_segment_previews_answer_while_scores_are_recomputed(campaigns):
    import sqlalchemy as sa

    from service_runtime.config import database_url
    from services.campaigns.segments import rfm, rfm_repo

    today = date(2102, 6, 1)  # far ahead, so only this test's purchase is recent
    st = new_store()
    member = add_member(st, registered_at=datetime(2101, 1, 1, tzinfo=UTC),
                        purchases=[(today - timedelta(days=3), Decimal(10))])
    active = {"field": "lifecycle", "op": "eq", "value": "active"}
    engine = sa.create_engine(database_url("campaigns"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as recompute:  # a recompute under way: new scores built, not yet in place
            rfm_repo.compute_stats(recompute, rfm.RfmParams(), today)
            rfm_repo.build_scores(recompute, rfm.RfmParams(), today)
            with engine.connect() as reader:  # a preview's query: it must not wait for the recompute
                reader.execute(sa.text("SET statement_timeout = '10s'"))
                old = reader.execute(sa.text("SELECT count(*) FROM rm_scores WHERE member_id = :m"),
                                     {"m": member}).scalar_one()
            assert old == 0  # the scores of before the recompute
            assert ids(campaigns, st, active, at=today) == set()
            rfm_repo.swap_scores(recompute)
        assert ids(campaigns, st, active, at=today) == {member}
    finally:
        engine.dispose()


def test_rfm_parameters_and_roles_are_checked(campaigns):
    with pytest.raises(InvalidInput) as err:
        call(campaigns, "start_rfm", abcd_cuts=["0.9", "0.5", "0.99"])
    assert err.value.field == "abcd_cuts"
    cashier = json.dumps({"kind": "staff", "id": "c1", "roles": ["cashier"], "stores": ["S1"]})
    with entrypoint_hook(campaigns, "start_rfm", context_data={"caller": cashier}) as start:
        with pytest.raises(Forbidden):
            start()


def test_two_rfm_recomputes_at_once_both_finish(campaigns):
    """Two jobs run at once (two timers, or an admin's run beside the timer's) take turns: before,
    both building and swapping the score tables deadlocked and one job failed."""
    from tests.callers import ClusterRpcClient

    st = new_store()
    for i in range(30):
        add_member(st, purchases=[(date(2101, 1, 1) - timedelta(days=i), Decimal(10 + i))])
    jobs = [call(campaigns, "start_rfm")["job_id"] for _ in range(2)]
    with ClusterRpcClient() as client:
        running = [client.campaigns.run_rfm_job.call_async(job, at="2101-01-01") for job in jobs]
        finished = [r.result() for r in running]
    assert [f["status"] for f in finished] == ["done", "done"]
    assert scalar("campaigns", "SELECT count(*) FROM rm_scores") >= 30
