"""Lifecycle classes: the bands, their order, and the thresholds' checks (pure rules)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import InvalidInput
from services.members.lifecycle_rules import Thresholds, check, classify

T = Thresholds(at_risk_days=60, dormant_days=180, lost_days=365, active_min_purchases=2)
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
REGISTERED = NOW - timedelta(days=1000)


@pytest.mark.parametrize(("days_ago", "purchases", "expected"), [
    (0, 1, "new"), (59, 1, "new"), (0, 2, "active"), (59, 9, "active"), (60, 9, "at_risk"),
    (179, 1, "at_risk"), (180, 5, "dormant"), (364, 5, "dormant"), (365, 5, "lost"), (4000, 0, "lost"),
])
def test_the_class_follows_the_days_since_the_last_purchase_then_the_count(days_ago, purchases, expected):
    assert classify(T, NOW, REGISTERED, NOW - timedelta(days=days_ago), purchases) == expected


def test_without_a_purchase_the_days_count_from_registration():
    assert classify(T, NOW, NOW - timedelta(days=3), None, 0) == "new"
    assert classify(T, NOW, NOW - timedelta(days=61), None, 0) == "at_risk"
    assert classify(T, NOW, NOW - timedelta(days=200), None, 0) == "dormant"


def test_a_band_starts_at_its_exact_threshold():
    just_before = NOW - timedelta(days=180) + timedelta(seconds=1)
    assert classify(T, NOW, REGISTERED, just_before, 3) == "at_risk"
    assert classify(T, NOW, REGISTERED, NOW - timedelta(days=180), 3) == "dormant"


@pytest.mark.parametrize(("values", "field"), [
    ({"at_risk_days": 60, "dormant_days": 60, "lost_days": 365, "active_min_purchases": 2}, "dormant_days"),
    ({"at_risk_days": 60, "dormant_days": 180, "lost_days": 90, "active_min_purchases": 2}, "lost_days"),
])
def test_thresholds_must_grow_from_at_risk_to_lost(values, field):
    with pytest.raises(InvalidInput) as raised:
        check(values)
    assert raised.value.field == field


def test_valid_thresholds_are_kept_as_given():
    values = {"at_risk_days": 30, "dormant_days": 90, "lost_days": 400, "active_min_purchases": 3}
    assert check(values).to_json() == values


def test_a_batch_of_accruals_gives_each_member_their_latest_sale_and_count():
    from decimal import Decimal
    from uuid import uuid4

    from contracts.events import PointsAccrued
    from services.members.lifecycle import purchases

    one, two = str(uuid4()), str(uuid4())

    def accrual(member_id: str, days_ago: int, source: str = "sale") -> tuple:
        at = NOW - timedelta(days=days_ago)
        event = PointsAccrued(member_id=member_id, store="S1", source=source, reference=str(uuid4()), points=1,
                              amount=Decimal("1.00"), occurred_at=at, balance=1)
        return event, event.envelope(occurred_at=at)

    batch = [accrual(one, 1), accrual(one, 5), accrual(two, 3), accrual(two, 0, "checkin"), accrual("not-a-uuid", 0)]
    assert purchases(batch) == {one: (NOW - timedelta(days=1), 2), two: (NOW - timedelta(days=3), 1)}
