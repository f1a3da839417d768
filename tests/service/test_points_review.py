"""Regression tests for what a review of the points service found: liability and settlement
after refunds, merges handled out of order, bad text and times, lock order, scope."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import Forbidden, InvalidInput
from contracts.events import MemberMerged
from tests.callers import entrypoint_hook
from tests.helpers import query
from tests.service.points_support import invariant_violations, open_account, sale
from tests.service.test_points_ledger import call

CLERK_S1 = '{"kind":"staff","id":"c1","roles":["clerk"],"stores":["S1"]}'


@pytest.fixture
def points(start_service):
    container = start_service("points", outbox_relay=False)
    yield container
    assert invariant_violations() == []


def by_store(member_id: str) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in query("points", "SELECT store, sum(delta) FROM ledger WHERE member_id = :m "
                                                     "GROUP BY store", m=member_id)}


def test_refunding_a_sale_paid_with_points_puts_liability_back_where_it_was(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "200.00", store="RV-A"))
    paid = sale(member_id, "50.00", store="RV-B", txn=f"paid-{uuid.uuid4().hex[:8]}")
    hold = call(points, "hold", member_id=member_id, store="RV-B", transaction_id=paid["transaction_id"], points=100)
    call(points, "commit_hold", hold["hold_id"])
    call(points, "record_sale", **paid)
    call(points, "refund_sale", store="RV-B", transaction_id=paid["transaction_id"], refund_id="all",
         amount="50.00", refunded_at=datetime.now(UTC).isoformat())
    assert by_store(member_id) == {"RV-A": 200, "RV-B": 0}
    today = datetime.now(UTC).date()
    pairs = call(points, "settlement", (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat())
    assert not [p for p in pairs if (p["earned_store"], p["spent_store"]) == ("RV-A", "RV-B")]


def test_a_merge_handled_after_a_later_merge_still_reaches_the_final_survivor(points):
    a, _ = open_account()
    b, _ = open_account()
    c, _ = open_account()
    for member, amount in ((a, "10.00"), (b, "20.00"), (c, "40.00")):
        call(points, "record_sale", **sale(member, amount))

    def merge(survivor: str, merged: str) -> None:
        event = MemberMerged(survivor_id=survivor, merged_id=merged, merged_member_number="x",
                             merged_at=datetime.now(UTC))
        with entrypoint_hook(points, "on_member_merged") as handle:
            handle(event.envelope().model_dump(mode="json"))

    merge(c, b)  # the later merge arrives first
    merge(b, a)
    assert call(points, "get_account", a)["member_id"] == c
    assert call(points, "get_account", c)["balance"] == 70


@pytest.mark.parametrize("method, change", [
    ("record_sale", {"terminal": "T\x001"}), ("record_sale", {"sold_at": "9999-12-31T00:00:00+00:00"}),
    ("record_sale", {"sold_at": "1999-12-31T00:00:00+00:00"}),
])
def test_control_characters_and_impossible_times_are_typed_errors(points, method, change):
    member_id, _ = open_account()
    with pytest.raises(InvalidInput):
        call(points, method, **{**sale(member_id, "10.00"), **change})


def test_an_adjustment_reason_with_a_nul_is_refused(points):
    member_id, _ = open_account()
    with pytest.raises(InvalidInput) as caught:
        call(points, "adjust", member_id=member_id, points=5, reason="bad\x00reason")
    assert caught.value.field == "reason"


def test_concurrent_uploads_refunding_each_others_members_do_not_deadlock(points):
    from tests.callers import ClusterRpcClient

    now = datetime.now(UTC).isoformat()
    for _ in range(4):
        a, _ = open_account()
        b, _ = open_account()
        sale_a, sale_b = sale(a, "100.00"), sale(b, "100.00")
        call(points, "record_sale", **sale_a)
        call(points, "record_sale", **sale_b)

        def upload(member: str, refund_of: dict) -> list[dict]:
            return [{"kind": "sale", **sale(member, "1.00")},
                    {"kind": "refund", "store": "S1", "refund_id": uuid.uuid4().hex,
                     "transaction_id": refund_of["transaction_id"], "amount": "1.00", "refunded_at": now}]

        with ClusterRpcClient() as client:
            runs = [client.points.record_batch.call_async(items=upload(a, sale_b)),
                    client.points.record_batch.call_async(items=upload(b, sale_a))]
            assert all(run.result()["failed"] == 0 for run in runs)


def test_activities_stay_in_the_callers_stores_and_profile_completion_pays_once(points):
    member_id, _ = open_account()
    with entrypoint_hook(points, "activity", context_data={"caller": CLERK_S1}) as activity:
        with pytest.raises(Forbidden):
            activity(member_id=member_id, kind="checkin", store="S9")
    first = call(points, "activity", member_id=member_id, kind="profile_completion", key="a")
    again = call(points, "activity", member_id=member_id, kind="profile_completion", key="b")
    assert first["granted"] is True and again["granted"] is False


def test_a_member_exports_only_their_own_points(points):
    member_id, _ = open_account()
    other, _ = open_account()
    caller = f'{{"kind":"member","id":"{member_id}","member_id":"{member_id}"}}'
    with entrypoint_hook(points, "export_member", context_data={"caller": caller}) as export:
        with pytest.raises(Forbidden):
            export(other)
