"""At the till, on the real database: a member registered a moment ago earns on their first sale
(members confirms them; the later member.registered changes nothing), an unknown member is an
unknown member, a mistyped card number is a bad field, and an expired hold stops counting at once."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from contracts.envelope import Envelope
from contracts.errors import InvalidInput, NotFound
from contracts.events import MemberRegistered, PointsAccrued
from contracts.points import luhn_digit
from tests.callers import entrypoint_hook
from tests.helpers import query, scalar
from tests.service.points_support import execute, invariant_violations, open_account, sale


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)  # member.registered never reaches points here


@pytest.fixture
def points(start_service, members):
    container = start_service("points", outbox_relay=False)
    yield container
    assert invariant_violations() == []


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def _register(members, store: str = "S1") -> dict:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    return call(members, "register", name="Li Lei", phone=phone, channel="pos", registration_store=store)["member"]


def test_a_sale_right_after_registration_earns_at_once_every_time(points, members):
    for n in range(20):
        member = _register(members)
        ref = {"member_id": member["member_id"]} if n % 2 else {"member_id": None,
                                                                 "member_number": member["member_number"]}
        receipt = call(points, "record_sale", **{**sale(None, "50.00"), **ref})
        assert receipt["member_id"] == member["member_id"] and receipt["points_earned"] == 50
        assert scalar("points", "SELECT registration_store FROM accounts WHERE member_id = :m",
                      m=member["member_id"]) == "S1"


def test_the_registration_event_after_the_first_sale_changes_nothing(points, members):
    member = _register(members)
    call(points, "record_sale", **sale(member["member_id"], "30.00"))
    event = MemberRegistered(member_id=member["member_id"], member_number=member["member_number"], channel="pos",
                             registration_store="S1", registered_at=datetime.now(UTC))
    with entrypoint_hook(points, "on_member_registered") as handle:
        handle([event.envelope().model_dump(mode="json")])
    assert call(points, "get_account", member["member_id"])["balance"] == 30


def test_an_offline_upload_credits_members_registered_a_moment_ago(points, members):
    fresh = [_register(members) for _ in range(3)]
    known, _ = open_account()
    items = [{**sale(m["member_id"], "10.00"), "kind": "sale"} for m in fresh] + [
        {**sale(known, "10.00"), "kind": "sale"}, {**sale(str(uuid.uuid4()), "10.00"), "kind": "sale"}]
    result = call(points, "record_batch", items=items)
    assert [r["ok"] for r in result["results"]] == [True, True, True, True, False]
    assert result["results"][4]["error"]["code"] == "not_found"
    assert result["results"][4]["error"]["message"].startswith("unknown member")


def test_an_unknown_member_is_an_unknown_member_and_nothing_opens(points):
    stranger = str(uuid.uuid4())
    with pytest.raises(NotFound) as caught:
        call(points, "record_sale", **sale(stranger, "10.00"))
    assert caught.value.field == "member_id" and caught.value.message.startswith("unknown member")
    assert "moment ago" not in caught.value.message
    with pytest.raises(NotFound) as caught:
        call(points, "record_sale", **{**sale(None, "10.00"), "member_id": None,
                                       "member_number": "89999999999" + luhn_digit("89999999999")})
    assert caught.value.field == "member_number"
    with pytest.raises(NotFound):
        call(points, "get_account", stranger)
    assert scalar("points", "SELECT count(*) FROM accounts WHERE member_id = :m", m=stranger) == 0


def test_a_hold_and_a_check_in_right_after_registration_find_the_account(points, members):
    member = _register(members)
    assert call(points, "activity", member_id=member["member_id"], kind="checkin")["granted"] is True
    other = _register(members)
    assert call(points, "get_account", other["member_id"])["balance"] == 0


def test_a_card_number_with_a_wrong_check_digit_is_a_bad_field(points):
    with pytest.raises(InvalidInput) as caught:
        call(points, "record_sale", **{**sale(None, "10.00"), "member_id": None, "member_number": "800000000017"})
    assert caught.value.field == "member_number"


def test_an_expired_hold_stops_counting_the_moment_it_expires(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "100.00"))
    hold = call(points, "hold", member_id=member_id, store="S1", transaction_id=uuid.uuid4().hex, points=80)
    assert call(points, "get_account", member_id)["available"] == 20
    # the hold's time passes; the hold job has not run
    execute("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h", h=hold["hold_id"])
    account = call(points, "get_account", member_id)
    assert account["held"] == 0 and account["available"] == 100  # at read
    execute("UPDATE holds SET status = 'held', expires_at = now() + interval '1 hour' WHERE id = :h",
            h=hold["hold_id"])
    execute("UPDATE accounts SET held = 80 WHERE member_id = :m", m=member_id)
    execute("UPDATE lots SET remaining = 20 WHERE member_id = :m", m=member_id)
    assert invariant_violations(member_id) == []
    execute("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h", h=hold["hold_id"])
    again = call(points, "hold", member_id=member_id, store="S1", transaction_id=uuid.uuid4().hex, points=90)
    assert again["status"] == "held" and again["available"] == 10  # at spend
    assert scalar("points", "SELECT status FROM holds WHERE id = :h", h=hold["hold_id"]) == "expired"


def test_an_expired_hold_does_not_block_a_deduction_or_a_receipt(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "100.00"))
    hold = call(points, "hold", member_id=member_id, store="S1", transaction_id=uuid.uuid4().hex, points=100)
    execute("UPDATE holds SET expires_at = :t WHERE id = :h", t=datetime.now(UTC) - timedelta(seconds=1),
            h=hold["hold_id"])
    receipt = call(points, "record_sale", **sale(member_id, "1.00"))
    assert receipt["available"] == 101
    hold = call(points, "hold", member_id=member_id, store="S1", transaction_id=uuid.uuid4().hex, points=101)
    execute("UPDATE holds SET expires_at = :t WHERE id = :h", t=datetime.now(UTC) - timedelta(seconds=1),
            h=hold["hold_id"])
    done = call(points, "adjust", member_id=member_id, points=-101, reason="expired hold, then a deduction")
    assert done["balance"] == 0


# ---- sanity limits, refunds and tiers, uploads answered per item ----------------------------------------
def test_an_absurd_sale_is_refused_naming_the_field_and_writes_nothing(points):
    member_id, _ = open_account()
    for body, field in [(sale(member_id, "999999999999.99"), "amount"),
                        (sale(member_id, "60000.00", items=[{"sku": "A", "amount": "60000.00"}]), "items.0.amount")]:
        with pytest.raises(InvalidInput) as caught:
            call(points, "record_sale", **body)
        assert caught.value.field == field and "limit" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        call(points, "hold", member_id=member_id, store="S1", transaction_id="h1", points=5_000_000)
    assert caught.value.field == "points"
    with pytest.raises(InvalidInput) as caught:
        call(points, "adjust", member_id=member_id, points=500_000, reason="typo in the amount")
    assert caught.value.field == "points"
    assert scalar("points", "SELECT count(*) FROM ledger WHERE member_id = :m", m=member_id) == 0


def test_a_full_refund_undoes_the_tier_its_sale_gave(points):
    member_id, _ = open_account()
    first = call(points, "record_sale", **sale(member_id, "25000.00", txn="big-1"))
    assert first["tier"] == "platinum" and first["tier_changed"]
    refund = {"store": "S1", "refund_id": "rf-1", "transaction_id": "big-1", "amount": "25000.00",
              "refunded_at": datetime.now(UTC).isoformat()}
    call(points, "refund_sale", **refund)
    account = call(points, "get_account", member_id)
    assert account["tier"] == "normal" and account["balance"] == 0
    assert scalar("points", "SELECT count(*) FROM outbox WHERE event_type = 'tier.changed' "
                            "AND body->'payload'->>'member_id' = :m AND body->'payload'->>'reason' = 'refund'",
                  m=member_id) == 1


def test_a_partial_refund_keeps_a_tier_the_rest_still_reaches(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "9000.00", txn="mid-1"))
    call(points, "refund_sale", store="S1", refund_id="rf-2", transaction_id="mid-1", amount="500.00",
         refunded_at=datetime.now(UTC).isoformat())
    assert call(points, "get_account", member_id)["tier"] == "gold"  # 8,500 still reaches gold


def test_an_upload_answers_each_item_and_posts_the_good_ones(points, start_service):
    member_id, _ = open_account()
    items = [{**sale(member_id, "10.00"), "kind": "sale"},
             {**sale(member_id, "-5.00"), "kind": "sale"},
             {**sale(member_id, "20.00", store="S9"), "kind": "sale"},
             {**sale(member_id, "999999.00"), "kind": "sale"},
             {**sale(member_id, "30.00"), "kind": "sale"}]
    result = call(points, "record_batch", items=items)
    assert [r["ok"] for r in result["results"]] == [True, False, True, False, True]
    assert result["results"][1]["error"]["field"] == "items.1.amount"
    assert result["results"][3]["error"]["field"] == "items.3.amount"
    assert [r["sale"]["balance"] for r in result["results"] if r["ok"]] == [10, 30, 60]  # after each item
    assert result["accepted"] == 3 and result["failed"] == 2


def test_an_uploads_events_are_whole_envelopes_in_the_outbox(points):
    # emit_many writes the payload it dumped once (docs/decisions/0031): the row must be what
    # dumping the envelope gives, as every consumer parses it
    member_id, _ = open_account()
    items = [{**sale(member_id, amount), "kind": "sale"} for amount in ("10.00", "25.50")]
    call(points, "record_batch", items=items)
    bodies = [row[0] for row in query("points", "SELECT body FROM outbox WHERE event_type = 'points.accrued' "
                                                "AND body->'payload'->>'member_id' = :m ORDER BY id", m=member_id)]
    assert [PointsAccrued.model_validate(b["payload"]).amount for b in bodies] == [Decimal("10.00"), Decimal("25.50")]
    assert bodies == [Envelope.model_validate(b).model_dump(mode="json") for b in bodies]


def test_an_item_for_another_store_is_that_items_answer_not_the_uploads(points):
    import json

    member_id, _ = open_account()
    items = [{**sale(member_id, "10.00"), "kind": "sale"}, {**sale(member_id, "20.00", store="S9"), "kind": "sale"}]
    caller = json.dumps({"kind": "key", "id": "erp-1", "roles": ["erp"], "stores": ["S1"]})
    with entrypoint_hook(points, "record_batch", context_data={"caller": caller}) as upload:
        result = upload(items=items)
    assert [r["ok"] for r in result["results"]] == [True, False]
    assert result["results"][1]["error"] == {"code": "forbidden", "message": "not allowed for store 'S9'",
                                             "field": "items.1.store"}


# ---- reports: the manager's day, and the chain's own liability ----------------------------------------
def test_a_stores_daily_report_counts_its_member_sales_and_points(points):
    store = f"D{uuid.uuid4().hex[:6]}"
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "100.00", store=store, txn="d-1"))
    call(points, "record_sale", **sale(member_id, "50.00", store=store, txn="d-2"))
    call(points, "refund_sale", store=store, refund_id="dr-1", transaction_id="d-2", amount="50.00",
         refunded_at=datetime.now(UTC).isoformat())
    hold = call(points, "hold", member_id=member_id, store=store, transaction_id="d-3", points=30)
    call(points, "commit_hold", hold["hold_id"])
    execute("UPDATE lots SET expires_at = now() - interval '1 second' WHERE member_id = :m", m=member_id)
    call(points, "run_job", "expiry")
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    report = call(points, "daily_report", store=store, day=today, total_sales="600.00")
    assert report["sales"] == {"count": 2, "amount": "150.00", "net_amount": "150.00", "members": 1, "refunds": 1,
                               "refunded_amount": "50.00"}
    assert report["points"] == {"issued": 150, "redeemed": 30, "reversed": 50, "expired": 70}
    assert report["members_share"] == "0.2500"
    with pytest.raises(InvalidInput) as caught:
        call(points, "daily_report", store=store, day=today, total_sales="lots")
    assert caught.value.field == "total_sales"


def test_a_members_own_check_in_is_in_the_chain_bucket_of_the_liability_report(points):
    import json

    member_id, _ = open_account()
    caller = json.dumps({"kind": "member", "id": member_id, "member_id": member_id})
    with entrypoint_hook(points, "activity", context_data={"caller": caller}) as check_in:
        assert check_in(member_id=member_id, kind="checkin")["granted"] is True
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    rows = call(points, "liability", today, today)
    chain = [r for r in rows if r["store"] is None]
    assert chain and all(r["bucket"] == "chain" for r in chain) and chain[-1]["points"] >= 5
    assert all(r["bucket"] == "store" for r in rows if r["store"] is not None)


def test_the_till_brief_shows_live_holds_only_and_a_fresh_member_as_they_open(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "100.00"))
    live = call(points, "hold", member_id=member_id, store="S1", transaction_id=uuid.uuid4().hex, points=30)
    lapsed = call(points, "hold", member_id=member_id, store="S1", transaction_id=uuid.uuid4().hex, points=20)
    execute("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = :h", h=lapsed["hold_id"])
    fresh = str(uuid.uuid4())
    brief = call(points, "brief_accounts", member_ids=[member_id, fresh])
    assert brief[member_id] == {"balance": 100, "tier": "normal", "held": 30, "available": 70}
    assert brief[fresh] == {"balance": 0, "tier": "normal", "held": 0, "available": 0}
    assert live["status"] == "held"
