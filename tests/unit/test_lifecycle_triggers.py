"""Campaigns triggered by a lifecycle class, and segments on the member record's class (pure rules)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import InvalidInput
from services.campaigns.campaigns.rules import on_event, validate
from services.campaigns.segments.rules import parse_rule

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _spec(kind: str, **extra: object) -> dict[str, object]:
    return {"type": kind, "starts_at": NOW, "ends_at": NOW + timedelta(days=30), "coupon_template_id": "t",
            **extra}


@pytest.mark.parametrize(("kind", "trigger", "field"), [
    ("birthday", "dormant", "trigger_lifecycle"),
    ("referral", "dormant", "trigger_lifecycle"),
    ("win_back", "active", "trigger_lifecycle"),
])
def test_only_coupon_drops_and_lapsed_win_backs_trigger_on_a_class(kind, trigger, field):
    with pytest.raises(InvalidInput) as raised:
        validate(_spec(kind, trigger_lifecycle=trigger))
    assert raised.value.field == field


def test_a_triggered_campaign_gives_its_coupons_on_the_event_not_at_launch():
    validate(_spec("win_back", trigger_lifecycle="dormant"))
    validate(_spec("coupon_drop", trigger_lifecycle="active"))
    assert on_event("win_back", {"trigger_lifecycle": "dormant"})
    assert not on_event("win_back", {}) and on_event("birthday", {})


def test_segments_take_the_member_records_class_and_refuse_the_rfm_stages():
    rule = parse_rule({"field": "lifecycle_class", "op": "in", "value": ["at_risk", "dormant"]})
    assert rule.items[0].value == ("at_risk", "dormant")
    with pytest.raises(InvalidInput) as raised:
        parse_rule({"all": [{"field": "lifecycle_class", "op": "eq", "value": "lapsed"}]})
    assert raised.value.field == "rule.all.0.value"
