"""Points jobs, member events and reports on the real database: reminders, tier evaluation,
frozen and erased members, birthdays, liability and cross-store settlement, bonus rules."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.errors import Conflict, Forbidden, InvalidInput
from contracts.events import MemberBirthday, MemberErased, MemberUpdated
from tests.callers import entrypoint_hook
from tests.helpers import query, scalar
from tests.service.points_support import execute, invariant_violations, open_account, sale
from tests.service.test_points_ledger import call


@pytest.fixture
def points(start_service):
    container = start_service("points", outbox_relay=False)
    yield container
    assert invariant_violations() == []


def deliver(container, handler, payload):
    with entrypoint_hook(container, handler) as handle:
        handle(payload.envelope().model_dump(mode="json"))


def test_expiry_reminders_are_sent_once_per_member_and_date(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "40.00", sold_at=datetime.now(UTC) - timedelta(days=360)))
    first = call(points, "run_job", "reminders")
    assert first["events"] >= 1
    call(points, "run_job", "reminders")
    rows = query("points", "SELECT body FROM outbox WHERE event_type = 'points.expiring' "
                           "AND body->'payload'->>'member_id' = :m", m=member_id)
    assert len(rows) == 1 and rows[0][0]["payload"]["points"] == 40


def test_tier_evaluation_downgrades_one_tier_at_a_time_after_the_grace_period(points):
    member_id, _ = open_account()
    assert call(points, "record_sale", **sale(member_id, "20000.00"))["tier"] == "platinum"
    execute("UPDATE sales SET sold_at = now() - interval '400 days' WHERE member_id = :m", m=member_id)
    call(points, "run_job", "tiers")  # within the 30-day grace period: no change
    assert call(points, "get_account", member_id)["tier"] == "platinum"
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    call(points, "run_job", "tiers", at=later)
    assert call(points, "get_account", member_id)["tier"] == "gold"
    call(points, "run_job", "tiers", at=later)  # the grace period starts again at the new tier
    assert call(points, "get_account", member_id)["tier"] == "gold"


def test_a_frozen_member_cannot_hold_or_earn_and_an_erased_one_keeps_the_accounting(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "50.00"))
    deliver(points, "on_member_updated", MemberUpdated(member_id=member_id, version=2, changed_fields=["status"],
                                                       status="frozen"))
    with pytest.raises(Conflict):
        call(points, "hold", member_id=member_id, store="S1", transaction_id="f", points=10)
    with pytest.raises(Conflict):
        call(points, "record_sale", **sale(member_id, "10.00"))
    deliver(points, "on_member_updated", MemberUpdated(member_id=member_id, version=3, changed_fields=["status"],
                                                       status="active"))
    call(points, "hold", member_id=member_id, store="S1", transaction_id="f", points=10)
    deliver(points, "on_member_erased", MemberErased(member_id=member_id, erased_at=datetime.now(UTC)))
    account = call(points, "get_account", member_id)
    assert account["status"] == "erased" and account["balance"] == 50 and account["held"] == 0


def test_the_birthday_bonus_is_credited_once_per_year(points):
    member_id, _ = open_account()
    event = MemberBirthday(member_id=member_id, year=2026, local_date=date(2026, 11, 23), registration_store="S1")
    deliver(points, "on_member_birthday", event)
    deliver(points, "on_member_birthday", event.model_copy())  # another event id, same year
    assert call(points, "get_account", member_id)["balance"] == 200


def test_liability_per_issuing_store_and_settlement_between_stores(points):
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, "300.00", store="LIAB-A"))
    hold = call(points, "hold", member_id=member_id, store="LIAB-B", transaction_id="spend-in-b", points=120)
    call(points, "commit_hold", hold["hold_id"])
    today = datetime.now(UTC).date()
    rows = call(points, "liability", (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat(),
                store="LIAB-A")
    latest = [r for r in rows if r["store"] == "LIAB-A"][-1]
    assert latest["points"] == scalar("points", "SELECT sum(delta) FROM ledger WHERE store = 'LIAB-A'")
    assert latest["value"] == f"{latest['points'] / 100:.2f}"
    pairs = call(points, "settlement", today.isoformat(), (today + timedelta(days=1)).isoformat())
    assert {"earned_store": "LIAB-A", "spent_store": "LIAB-B", "points": 120, "value": "1.20"} in pairs
    with pytest.raises(InvalidInput):
        call(points, "liability", "2026-02-01", "2026-01-01")


def test_a_bonus_rule_in_its_window_adds_points_and_is_named_on_the_receipt(points):
    now = datetime.now(UTC)
    rule = call(points, "create_bonus_rule", name="double points", starts_at=(now - timedelta(hours=1)).isoformat(),
                ends_at=(now + timedelta(hours=1)).isoformat(), multiplier="2", stores=["BONUS-1"])
    member_id, _ = open_account()
    result = call(points, "record_sale", **sale(member_id, "50.00", store="BONUS-1"))
    assert result["points_earned"] == 100
    assert {"rule": f"bonus:{rule['rule_id']}", "points": 50} in result["breakdown"]
    assert call(points, "record_sale", **sale(member_id, "50.00", store="OTHER"))["points_earned"] == 50
    call(points, "end_bonus_rule", rule["rule_id"])


def test_store_bound_callers_act_only_in_their_stores(points):
    member_id, _ = open_account()
    caller = '{"kind":"key","id":"k","roles":["pos"],"stores":["S1"]}'
    with entrypoint_hook(points, "record_sale", context_data={"caller": caller}) as record:
        with pytest.raises(Forbidden):
            record(**sale(member_id, "10.00", store="S2"))
    with entrypoint_hook(points, "adjust", context_data={"caller": caller}) as adjust:
        with pytest.raises(Forbidden):
            adjust(member_id=member_id, points=10, reason="not a manager")


def test_points_of_a_pending_period_show_as_pending_and_cannot_be_spent_until_then(points):
    from contracts.errors import InsufficientPoints
    from contracts.points import Program

    call(points, "set_program", program=Program(pending_days=7).model_dump(mode="json"))
    try:
        member_id, _ = open_account()
        receipt = call(points, "record_sale", **sale(member_id, "30.00"))
        assert (receipt["balance"], receipt["pending"], receipt["available"]) == (30, 30, 0)
        with pytest.raises(InsufficientPoints):
            call(points, "hold", member_id=member_id, store="S1", transaction_id="too-early", points=10)
        execute("UPDATE lots SET available_at = now() - interval '1 second' WHERE member_id = :m", m=member_id)
        assert call(points, "get_account", member_id)["available"] == 30
        call(points, "hold", member_id=member_id, store="S1", transaction_id="in-time", points=10)
    finally:
        call(points, "set_program", program=Program().model_dump(mode="json"))
