"""The fraud rules on windows of facts: each rule fires at its threshold and not below it, counts only
its subject's facts inside the window (and after an acknowledged alert), and the flags a fact gets
when it arrives."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.errors import InvalidInput
from contracts.fraud import RuleUpdate
from services.fraud import rules
from services.fraud.rules import AFTER_REDEMPTION, FRESH_MEMBER, UNDER_THRESHOLD, Fact

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
CONFIG = rules.configs({})
CASHIER = "staff:clerk-7"


def fact(kind: str, minute: float, subject: str = CASHIER, flags: tuple[str, ...] = (), **values: object) -> Fact:
    return Fact(event_id=f"{kind}-{subject}-{minute}-{values.get('member_id', '')}", kind=kind, subject=subject,
                at=T0 + timedelta(minutes=minute), store="SH-001", flags=frozenset(flags), **values)  # type: ignore[arg-type]


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_refund_velocity_fires_at_its_threshold_inside_the_window_only():
    config = CONFIG["refund_velocity"]  # 6 in an hour
    refunds = [fact("refund", m, amount=Decimal("20.00")) for m in (0, 10, 20, 30, 40)]
    assert rules.evaluate(config, CASHIER, refunds, at(45)) is None
    found = rules.evaluate(config, CASHIER, [*refunds, fact("refund", 50)], at(50))
    assert found is not None and found.measure == {"count": "6"} and len(found.evidence) == 6
    assert found.summary == "6 refunds in 1 h"
    # an hour later the first ones have left the window
    assert rules.evaluate(config, CASHIER, [*refunds, fact("refund", 50)], at(65)) is None
    # another cashier's refunds are not this one's
    assert rules.evaluate(config, CASHIER, [fact("refund", m, subject="staff:clerk-8") for m in range(6)],
                          at(10)) is None


def test_adjustment_velocity_counts_adjustments_or_their_points():
    config = CONFIG["adjustment_velocity"]  # 5 an hour, or 5,000 points
    few = [fact("adjustment", m, points=100) for m in range(4)]
    assert rules.evaluate(config, CASHIER, few, at(5)) is None
    big = [fact("adjustment", 1, points=3000), fact("adjustment", 2, points=-2500)]
    found = rules.evaluate(config, CASHIER, big, at(3))
    assert found is not None and found.measure == {"count": "2", "points": "5500"}
    assert rules.evaluate(config, CASHIER, [*few, fact("adjustment", 4, points=1)], at(5)) is not None


def test_refunds_after_redemption_count_only_flagged_refunds():
    config = CONFIG["refund_after_redemption"]  # 3 a day
    plain = [fact("refund", m) for m in range(5)]
    flagged = [fact("refund", 100 + m, flags=(AFTER_REDEMPTION,)) for m in range(3)]
    assert rules.evaluate(config, CASHIER, plain + flagged[:2], at(200)) is None
    found = rules.evaluate(config, CASHIER, plain + flagged, at(200))
    assert found is not None and [f.event_id for f in found.evidence] == [f.event_id for f in flagged]


def test_holds_released_velocity():
    config = CONFIG["holds_released"]  # 8 an hour
    holds = [fact("hold_released", m, points=500) for m in range(8)]
    assert rules.evaluate(config, CASHIER, holds[:7], at(10)) is None
    assert rules.evaluate(config, CASHIER, holds, at(10)) is not None


def test_sales_under_threshold_need_the_count_and_the_share():
    config = CONFIG["sales_under_threshold"]  # 10 a day and 25 % of the sales
    under = [fact("sale", m, flags=(UNDER_THRESHOLD,), amount=Decimal("98.00")) for m in range(10)]
    found = rules.evaluate(config, CASHIER, under, at(20), sales_in_window=30)
    assert found is not None and found.measure["share_pct"] == "33.3"
    # a busy honest till: ten in band out of a hundred sales is its amounts' spread, not a pattern
    assert rules.evaluate(config, CASHIER, under, at(20), sales_in_window=100) is None
    assert rules.evaluate(config, CASHIER, under[:9], at(20), sales_in_window=9) is None


def test_fresh_member_sales():
    config = CONFIG["fresh_member_sales"]  # 6 a day
    sales = [fact("sale", m * 30, flags=(FRESH_MEMBER,), member_id=f"m{m}") for m in range(6)]
    assert rules.evaluate(config, CASHIER, sales[:5], at(200)) is None
    assert rules.evaluate(config, CASHIER, sales, at(200)) is not None


def test_shared_device_and_phone_block_count_distinct_members():
    for rule, subject in (("shared_device", "device:app-1"), ("shared_phone_block", "phone_block:abc")):
        config = CONFIG[rule]  # 4 members a day
        regs = [fact("registration", m, subject=subject, member_id=f"m{m % 3}") for m in range(6)]
        assert rules.evaluate(config, subject, regs, at(10)) is None  # six registrations, three members
        found = rules.evaluate(config, subject, [*regs, fact("registration", 7, subject=subject, member_id="m9")],
                               at(10))
        assert found is not None and found.measure == {"members": "4"}


def test_an_acknowledged_alert_s_facts_do_not_count_again_and_a_disabled_rule_is_quiet():
    config = CONFIG["refund_velocity"]
    refunds = [fact("refund", m) for m in range(6)]
    assert rules.evaluate(config, CASHIER, refunds, at(6), since=at(2)) is None
    assert rules.evaluate(config.model_copy(update={"enabled": False}), CASHIER, refunds, at(6)) is None


def test_flags_set_when_a_fact_arrives():
    sale = fact("sale", 5, amount=Decimal("196.50"), member_id="m1")
    flagged = rules.flag_sale(sale, registered_at=at(0), rules=CONFIG)  # band 5 under 200; registered 5 min ago
    assert flagged.flags == {UNDER_THRESHOLD, FRESH_MEMBER}
    assert rules.flag_sale(fact("sale", 30, amount=Decimal("200.00")), at(0), CONFIG).flags == frozenset()
    refund = fact("refund", 60, member_id="m1")
    assert rules.flag_refund(refund, 0, [at(10)], CONFIG).flags == {AFTER_REDEMPTION}
    assert rules.flag_refund(refund, 120, [], CONFIG).flags == {AFTER_REDEMPTION}  # points paid on the sale
    assert rules.flag_refund(refund, 0, [at(61)], CONFIG).flags == frozenset()  # redeemed after it


def test_a_rule_change_names_a_parameter_the_rule_does_not_read():
    changed = rules.changed(CONFIG["sales_under_threshold"], RuleUpdate(
        rule="sales_under_threshold", band=Decimal("3"), thresholds=[Decimal(88)]))
    assert changed == {"band": "3", "thresholds": ["88"]}
    assert rules.configs({"sales_under_threshold": changed})["sales_under_threshold"].band == Decimal(3)
    with pytest.raises(InvalidInput) as wrong:
        rules.changed(CONFIG["refund_velocity"], RuleUpdate(rule="refund_velocity", band=Decimal(1)))
    assert wrong.value.field == "band"
    assert rules.subject_of("key", "k-1") == "key:k-1" and rules.subject_of("service", "gateway") is None
