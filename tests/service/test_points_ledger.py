"""The points service on its real database: sales, refunds, holds, adjustments, jobs, merges."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import Conflict, InsufficientPoints, InvalidInput, NotFound
from tests.callers import entrypoint_hook
from tests.helpers import query, scalar
from tests.service.points_support import execute, invariant_violations, open_account, sale


@pytest.fixture
def points(start_service):
    start_service("members", outbox_relay=False)  # confirms members whose account is not open yet
    container = start_service("points", outbox_relay=False)
    yield container
    assert invariant_violations() == []


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def test_a_sale_credits_points_with_a_receipt_and_a_retry_returns_the_first_answer(points):
    member_id, number = open_account()
    body = sale(member_id, "128.50", items=[{"sku": "A1", "category": "food", "amount": "100.00"},
                                             {"sku": "T1", "category": "tobacco", "amount": "28.50"}],
                discounts=[{"code": "D", "amount": "10.00"}])
    first = call(points, "record_sale", **body)
    assert first["points_earned"] == 92  # food 100 less its share of the 10.00 discount (7.78); tobacco excluded
    assert {r["rule"] for r in first["breakdown"]} == {"base", "excluded"}
    assert first["balance"] == 92 and first["available"] == 92 and first["tier"] == "normal"
    assert first["expiring"]["points"] == 92
    again = call(points, "record_sale", **body)
    assert again == {**first, "replayed": True}
    assert scalar("points", "SELECT count(*) FROM ledger WHERE member_id = :m", m=member_id) == 1
    with pytest.raises(Conflict):
        call(points, "record_sale", **{**body, "amount": "129.50", "items": [], "discounts": []})
    by_number = call(points, "record_sale", **{**sale(None, "10.00"), "member_id": None, "member_number": number})
    assert by_number["member_id"] == member_id and by_number["balance"] == 102
    # each sale is a lot; the staff member page pages through them, soonest expiry first
    first_lot = call(points, "lots", member_id, limit=1)
    assert [lot["remaining"] for lot in first_lot["items"]] == [92] and first_lot["next"]
    rest = call(points, "lots", member_id, limit=1, after=first_lot["next"])
    assert [(lot["remaining"], lot["source"]) for lot in rest["items"]] == [(10, "accrual")] and rest["next"] is None
    with pytest.raises(InvalidInput):
        call(points, "lots", member_id, after="yesterday")


@pytest.mark.parametrize("change, field", [
    ({"amount": "-1"}, "amount"), ({"currency": "XYZ"}, "currency"), ({"member_id": str(uuid.uuid4())}, "member_id"),
    ({"amount": "10.00", "items": [{"sku": "A", "amount": "9.00"}]}, None),
])
def test_bad_sales_are_typed_errors_and_write_nothing(points, change, field):
    member_id, _ = open_account()
    with pytest.raises((InvalidInput, NotFound)) as caught:
        call(points, "record_sale", **{**sale(member_id, "10.00"), **change})
    if field:
        assert caught.value.field == field
    assert scalar("points", "SELECT count(*) FROM ledger WHERE member_id = :m", m=member_id) == 0


def test_refunds_reverse_in_proportion_and_never_more_than_the_sale(points):
    member_id, _ = open_account()
    body = sale(member_id, "100.00")
    call(points, "record_sale", **body)
    refund = {"store": "S1", "transaction_id": body["transaction_id"], "refunded_at": datetime.now(UTC).isoformat()}
    part = call(points, "refund_sale", **refund, refund_id="r1", amount="33.33")
    assert part["points_reversed"] == 33 and part["balance"] == 67
    assert call(points, "refund_sale", **refund, refund_id="r1", amount="33.33")["replayed"] is True
    with pytest.raises(InvalidInput) as caught:
        call(points, "refund_sale", **refund, refund_id="r2", amount="70.00")
    assert caught.value.field == "amount"
    rest = call(points, "refund_sale", **refund, refund_id="r3", amount="66.67")
    assert rest["points_reversed"] == 67 and rest["balance"] == 0
    with pytest.raises(NotFound):
        call(points, "refund_sale", **{**refund, "transaction_id": "nope"}, refund_id="r4", amount="1.00")


def test_a_refund_of_spent_points_goes_negative_under_the_default_policy_and_is_made_good_later(points):
    member_id, _ = open_account()
    body = sale(member_id, "100.00")
    call(points, "record_sale", **body)
    hold = call(points, "hold", member_id=member_id, store="S1", transaction_id="pay-1", points=80)
    call(points, "commit_hold", hold["hold_id"])
    result = call(points, "refund_sale", store="S1", transaction_id=body["transaction_id"], refund_id="r",
                  amount="100.00", refunded_at=datetime.now(UTC).isoformat())
    assert result["points_reversed"] == 100 and result["points_uncovered"] == 80
    assert result["policy"] == "negative" and result["balance"] == -80
    later = call(points, "record_sale", **sale(member_id, "50.00"))
    assert later["balance"] == -30 and later["available"] == 0


def test_refunding_a_sale_paid_with_points_returns_them_once(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "200.00"))
    paid = sale(member_id, "50.00", txn="paid-with-points")
    hold = call(points, "hold", member_id=member_id, store="S1", transaction_id=paid["transaction_id"], points=100)
    call(points, "commit_hold", hold["hold_id"])
    call(points, "record_sale", **paid)  # earns 50
    refund = {"store": "S1", "transaction_id": paid["transaction_id"], "refunded_at": datetime.now(UTC).isoformat()}
    result = call(points, "refund_sale", **refund, refund_id="back", amount="50.00")
    assert result["redeemed_points_returned"] == 100 and result["points_reversed"] == 50
    assert result["balance"] == 200 - 100 + 50 + 100 - 50
    assert call(points, "refund_sale", **refund, refund_id="back", amount="50.00")["balance"] == result["balance"]


def test_twenty_tills_spending_the_same_points_at_once_exactly_the_right_number_win(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "100.00"))  # 100 points
    from nameko.exceptions import RemoteError

    from tests.callers import ClusterRpcClient

    outcomes: list[str] = []
    with ClusterRpcClient() as client:  # real RPCs, served by concurrent workers
        calls = [client.points.hold.call_async(member_id=member_id, store="S1", transaction_id=f"till-{n}",
                                                points=30) for n in range(20)]
        for pending in calls:
            try:
                pending.result()
                outcomes.append("held")
            except RemoteError as exc:
                assert exc.exc_type == "InsufficientPoints"
                outcomes.append("insufficient")
    assert outcomes.count("held") == 3 and outcomes.count("insufficient") == 17
    account = call(points, "get_account", member_id)
    assert account["balance"] == 100 and account["held"] == 90 and account["available"] == 10


def test_holds_commit_release_and_expire_by_themselves(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "100.00"))
    a = call(points, "hold", member_id=member_id, store="S1", transaction_id="a", points=40)
    assert call(points, "hold", member_id=member_id, store="S1", transaction_id="a", points=40)["replayed"]
    assert call(points, "commit_hold", a["hold_id"])["status"] == "committed"
    assert call(points, "commit_hold", a["hold_id"])["replayed"] is True
    with pytest.raises(Conflict):
        call(points, "release_hold", a["hold_id"])
    b = call(points, "hold", member_id=member_id, store="S1", transaction_id="b", points=60)
    assert call(points, "release_hold", b["hold_id"])["available"] == 60
    c = call(points, "hold", member_id=member_id, store="S1", transaction_id="c", points=60, ttl_seconds=10)
    later = (datetime.now(UTC) + timedelta(seconds=11)).isoformat()
    assert call(points, "run_job", "holds", at=later)["processed"] == 1
    assert call(points, "run_job", "holds", at=later)["processed"] == 0
    with pytest.raises(Conflict):
        call(points, "commit_hold", c["hold_id"])
    with pytest.raises(InsufficientPoints):
        call(points, "hold", member_id=member_id, store="S1", transaction_id="d", points=61)


def test_expiry_expires_each_lot_once_even_when_run_twice_at_once(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "10.00", sold_at=datetime.now(UTC) - timedelta(days=400)))
    call(points, "record_sale", **sale(member_id, "5.00"))
    from tests.callers import ClusterRpcClient

    with ClusterRpcClient() as client:  # two runs at once, on two workers
        runs = [client.points.run_job.call_async("expiry") for _ in range(2)]
        results = [run.result() for run in runs]
    assert sum(r["processed"] for r in results) == 1
    assert call(points, "get_account", member_id)["balance"] == 5
    assert scalar("points", "SELECT count(*) FROM ledger WHERE member_id = :m AND kind = 'expiry'", m=member_id) == 1


def test_an_offline_batch_answers_each_item_and_takes_a_refund_before_its_sale(points):
    member_id, _ = open_account()
    now = datetime.now(UTC).isoformat()
    b1 = {"kind": "sale", **sale(member_id, "20.00", txn="b1")}
    items = [
        {"kind": "refund", "store": "S1", "refund_id": "rf", "transaction_id": "b1", "amount": "5.00",
         "refunded_at": now},
        b1,
        b1,  # a retry inside the upload
        {"kind": "sale", **sale(str(uuid.uuid4()), "20.00", txn="b2")},
        {"kind": "sale", **sale(member_id, "30.00", txn="b3")},
    ]
    result = call(points, "record_batch", items=items)
    oks = [r["ok"] for r in result["results"]]
    assert oks == [True, True, True, False, True]
    assert result["results"][3]["error"]["code"] == "not_found"
    assert result["results"][0]["refund"]["points_reversed"] == 5
    assert result["results"][2]["sale"]["replayed"] is True
    assert call(points, "get_account", member_id)["balance"] == 20 + 30 - 5
    again = call(points, "record_batch", items=items)
    assert [r["ok"] for r in again["results"]] == oks
    assert call(points, "get_account", member_id)["balance"] == 45
    # the till sends an uploaded sale and refund again on its own: the same requests, replayed
    alone = {k: v for k, v in b1.items() if k != "kind"}
    assert call(points, "record_sale", **alone) == {**result["results"][1]["sale"], "replayed": True}
    refund = {k: v for k, v in items[0].items() if k != "kind"}
    assert call(points, "refund_sale", **refund)["replayed"] is True


def test_a_sale_crossing_a_threshold_upgrades_the_tier_at_once(points):
    member_id, _ = open_account()
    result = call(points, "record_sale", **sale(member_id, "2500.00"))
    assert result["tier"] == "silver" and result["tier_changed"] is True
    events = query("points", "SELECT body FROM outbox WHERE event_type = 'tier.changed' "
                             "AND body->'payload'->>'member_id' = :m", m=member_id)
    assert len(events) == 1 and events[0][0]["payload"]["new_tier"] == "silver"
    multiplied = call(points, "record_sale", **sale(member_id, "100.00"))
    assert multiplied["points_earned"] == 120
    account = call(points, "get_account", member_id)
    assert account["progress"]["next_tier"] == "gold"


def test_adjustments_need_a_manager_respect_the_daily_limit_and_never_overdraw(points):
    member_id, _ = open_account()
    adjusted = call(points, "adjust", member_id=member_id, points=50, reason="goodwill", request_id="k1")
    assert adjusted["balance"] == 50 and adjusted["entry"]["kind"] == "adjustment"
    assert call(points, "adjust", member_id=member_id, points=50, reason="goodwill", request_id="k1")["replayed"]
    with pytest.raises(InsufficientPoints):
        call(points, "adjust", member_id=member_id, points=-51, reason="correction")
    with pytest.raises(InvalidInput):
        call(points, "adjust", member_id=member_id, points=20_000, reason="too much")


def test_one_managers_concurrent_adjustments_stay_within_the_daily_limit(points):
    import json
    import uuid

    from nameko.exceptions import RemoteError

    from tests.callers import ClusterRpcClient

    members = [open_account()[0] for _ in range(8)]
    manager = json.dumps({"kind": "staff", "id": f"mgr-{uuid.uuid4()}", "roles": ["manager"], "stores": None})
    outcomes: list[str] = []
    with ClusterRpcClient(context_data={"caller": manager}) as client:  # real RPCs on concurrent workers
        calls = [client.points.adjust.call_async(member_id=m, points=3_000, reason="goodwill") for m in members]
        for pending in calls:
            try:
                pending.result()
                outcomes.append("adjusted")
            except RemoteError as exc:
                assert exc.exc_type == "InvalidInput", exc
                outcomes.append("over limit")
    assert outcomes.count("adjusted") == 3  # 3 x 3,000 <= 10,000 < 4 x 3,000
    assert sum(call(points, "get_account", m)["balance"] for m in members) == 9_000


def test_check_in_once_per_day_and_referral_once_per_referred_member(points):
    member_id, _ = open_account()
    friend, _ = open_account()
    assert call(points, "activity", member_id=member_id, kind="checkin")["granted"] is True
    assert call(points, "activity", member_id=member_id, kind="checkin")["granted"] is False
    referral = call(points, "activity", member_id=member_id, kind="referral", key=friend)
    assert referral["granted"] and referral["points"] == 100 and referral["referred_points"] == 50
    other, _ = open_account()
    assert call(points, "activity", member_id=other, kind="referral", key=friend)["granted"] is False
    assert call(points, "get_account", friend)["balance"] == 50


def test_merge_moves_balance_and_history_to_the_survivor(points):
    from contracts.events import MemberMerged

    survivor, _ = open_account()
    merged, merged_number = open_account()
    call(points, "record_sale", **sale(survivor, "10.00"))
    call(points, "record_sale", **sale(merged, "20.00"))
    payload = MemberMerged(survivor_id=survivor, merged_id=merged, merged_member_number=merged_number,
                           merged_at=datetime.now(UTC))
    envelope = payload.envelope()
    with entrypoint_hook(points, "on_member_merged") as handle:
        handle(envelope.model_dump(mode="json"))
    assert call(points, "get_account", survivor)["balance"] == 30
    assert call(points, "get_account", merged)["member_id"] == survivor  # the old id leads to the survivor
    by_number = call(points, "record_sale", **{**sale(None, "5.00"), "member_id": None,
                                              "member_number": merged_number})
    assert by_number["member_id"] == survivor and by_number["balance"] == 35
    execute("SELECT 1")


def test_merge_adds_the_merged_members_bonus_sales_to_the_survivors_limits(points):
    from contracts.events import MemberMerged

    survivor, _ = open_account()
    merged, merged_number = open_account()
    both, only_merged = f"campaign:{uuid.uuid4()}", f"campaign:{uuid.uuid4()}"
    execute("INSERT INTO bonus_member_awards (source, member_id, awards) VALUES (:b, :s, 1), (:b, :m, 1), "
            "(:o, :m, 2)", b=both, o=only_merged, s=survivor, m=merged)
    with entrypoint_hook(points, "on_member_merged") as handle:
        handle(MemberMerged(survivor_id=survivor, merged_id=merged, merged_member_number=merged_number,
                            merged_at=datetime.now(UTC)).envelope().model_dump(mode="json"))
    awards = {(r.source, str(r.member_id)): r.awards
              for r in query("points", "SELECT source, member_id, awards FROM bonus_member_awards "
                                       "WHERE source IN (:b, :o)", b=both, o=only_merged)}
    assert awards == {(both, survivor): 2, (only_merged, survivor): 2}  # a limit of 2 is used up for both


def test_tills_selling_at_once_share_transactions_and_each_gets_its_own_answer(points, monkeypatch):
    """Sales arriving together are written in shared transactions (group commit): each till still
    gets its own receipt, a till bound to another store its own refusal, a retry sent alongside
    its first the same answer, and a sale that breaks the transaction fails alone."""
    from nameko.exceptions import RemoteError

    from services.points import domain
    from tests.callers import ClusterRpcClient

    earn = domain.earn

    def earn_or_break(program, **kwargs):
        if kwargs["store"] == "BREAKS":
            raise RuntimeError("a sale that breaks its transaction")
        return earn(program, **kwargs)

    monkeypatch.setattr(domain, "earn", earn_or_break)
    members = [open_account()[0] for _ in range(6)]
    tills = {store: ClusterRpcClient(context_data={"caller": f'{{"kind":"key","id":"{store}","roles":["pos"],'
                                                             f'"stores":["{store}"]}}'}) for store in ("S1", "S2")}
    tills["any"] = ClusterRpcClient()  # an internal caller, any store
    clients = {store: client.start() for store, client in tills.items()}
    try:
        sent = [(store, sale(member, f"{10 * (n + 1)}.00", store=store))
                for n, member in enumerate(members) for store in ("S1", "S2")]
        sent.append(("S1", sent[0][1]))  # a retry beside its first
        sent.append(("S1", sale(members[0], "5.00", store="S2")))  # S1's till selling for S2
        sent.append(("S1", sale(str(uuid.uuid4()), "5.00", store="S1")))  # an unknown member
        calls = [clients[store].points.record_sale.call_async(**body) for store, body in sent]
        broken = clients["any"].points.record_sale.call_async(**sale(members[2], "7.00", store="BREAKS"))
        answers = []
        for pending in [*calls, broken]:
            try:
                answers.append(pending.result())
            except RemoteError as exc:
                answers.append(exc.exc_type)
    finally:
        for client in tills.values():
            client.stop()
    receipts, (retry, wrong_store, unknown, breaks) = answers[:12], answers[12:]
    for (store, body), receipt in zip(sent, receipts, strict=False):
        assert (receipt["member_id"], receipt["store"], receipt["points_earned"]) == (
            body["member_id"], store, int(body["amount"].split(".")[0]))
    assert {k: v for k, v in retry.items() if k != "replayed"} == {
        k: v for k, v in receipts[0].items() if k != "replayed"}
    assert (wrong_store, unknown, breaks) == ("Forbidden", "NotFound", "RuntimeError")
    transactions = scalar("points", "SELECT count(DISTINCT xmin::text) FROM sales WHERE member_id::text = ANY(:m)",
                          m=members)
    assert scalar("points", "SELECT count(*) FROM sales WHERE member_id::text = ANY(:m)", m=members) == 12
    assert transactions < 12  # some were written together


def test_a_budgeted_bonus_the_caps_took_away_takes_no_budget_and_no_award(points):
    """Caps take bonus points first; a campaign budget pays only the bonus the caps left, a sale
    whose bonus the caps took entirely does not use the member's limit, and a budget cut never
    takes a sale's points below zero."""
    import json

    now = datetime.now(UTC)
    source = f"campaign:{uuid.uuid4()}"
    rule = {"name": "b", "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(), "points_per_sale": 100, "stores": ["CAPS"]}
    execute("INSERT INTO bonus_rules (id, name, starts_at, ends_at, rule, source) "
            "VALUES (:i, 'b', :s, :e, CAST(:r AS jsonb), :src)", i=str(uuid.uuid4()), s=now - timedelta(hours=1),
            e=now + timedelta(days=1), r=json.dumps(rule), src=source)
    execute("INSERT INTO bonus_budgets (source, cap, granted, per_member) VALUES (:s, 70, 0, 2)", s=source)

    def budget() -> tuple[int, int]:
        return (int(scalar("points", "SELECT granted FROM bonus_budgets WHERE source = :s", s=source)),
                int(scalar("points", "SELECT coalesce(sum(awards), 0) FROM bonus_member_awards WHERE source = :s",
                           s=source)))

    call(points, "set_program", program={"cap_per_sale": 50})
    try:
        member_id, _ = open_account()
        first = call(points, "record_sale", **sale(member_id, "10.00", store="CAPS"))
        assert first["points_earned"] == 50 and budget() == (40, 1)  # 10 base + 40 of the bonus paid
        second = call(points, "record_sale", **sale(member_id, "10.00", store="CAPS"))
        assert second["points_earned"] == 40 and budget() == (70, 2)  # the budget's last 30
        third = call(points, "record_sale", **sale(member_id, "10.00", store="CAPS"))
        assert third["points_earned"] == 10 and budget() == (70, 2)  # the member's limit: base points only
        call(points, "set_program", program={"cap_per_day": 10})  # the day is full: no bonus survives
        other, _ = open_account()
        capped = call(points, "record_sale", **sale(other, "10.00", store="CAPS"))
        assert capped["points_earned"] == 10 and budget() == (70, 2)
        for receipt in (first, second, third, capped):
            assert sum(line["points"] for line in receipt["breakdown"]) == receipt["points_earned"]
    finally:
        call(points, "set_program", program={})
