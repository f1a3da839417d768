"""The segment rule language and the RFM definitions, without a database."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from contracts.errors import InvalidInput
from services.campaigns.segments import rfm
from services.campaigns.segments.rules import Condition, Group, parse_rule, to_json


def test_a_rule_is_normalised_and_round_trips():
    rule = parse_rule({"all": [
        {"field": "tier", "op": "in", "value": ["gold", "platinum"]},
        {"any": [{"field": "spend", "op": "gte", "value": "100.50", "window_days": 90},
                 {"not": {"field": "tags", "op": "has", "value": "vip"}}]},
        {"field": "registered_at", "op": "between", "value": ["2025-01-01", "2025-12-31"]},
    ]})
    assert isinstance(rule, Group) and rule.kind == "all"
    spend = rule.items[1].items[0]
    assert spend == Condition("spend", "gte", Decimal("100.50"), 90)
    assert rule.items[2].value == (date(2025, 1, 1), date(2025, 12, 31))
    assert parse_rule(to_json(rule)) == rule


def test_a_bare_condition_becomes_an_all_group():
    assert parse_rule({"field": "gender", "op": "eq", "value": "female"}).kind == "all"


@pytest.mark.parametrize("raw, field", [
    ({"all": [{"field": "shoe_size", "op": "eq", "value": 42}]}, "rule.all.0.field"),
    ({"all": [{"field": "tier", "op": "like", "value": "g%"}]}, "rule.all.0.op"),
    ({"all": [{"field": "tier", "op": "gt", "value": "gold"}]}, "rule.all.0.op"),
    ({"all": [{"field": "spend", "op": "gte", "value": 10.5, "window_days": 30}]}, "rule.all.0.value"),
    ({"all": [{"field": "spend", "op": "gte", "value": "-1", "window_days": 30}]}, "rule.all.0.value"),
    ({"all": [{"field": "spend", "op": "gte", "value": "10"}]}, "rule.all.0.window_days"),
    ({"all": [{"field": "age", "op": "gte", "value": 20, "window_days": 5}]}, "rule.all.0.window_days"),
    ({"all": [{"field": "age", "op": "between", "value": [40, 20]}]}, "rule.all.0.value"),
    ({"all": [{"field": "birthday_month", "op": "eq", "value": 13}]}, "rule.all.0.value"),
    ({"all": [{"field": "lifecycle", "op": "eq", "value": "zombie"}]}, "rule.all.0.value"),
    ({"all": [{"field": "registered_at", "op": "gt", "value": "yesterday"}]}, "rule.all.0.value"),
    ({"all": [{"field": "tier", "op": "in", "value": []}]}, "rule.all.0.value"),
    ({"all": [{"field": "tier", "op": "eq", "value": "gold", "extra": 1}]}, "rule.all.0.extra"),
    ({"all": []}, "rule.all"),
    ({"every": []}, "rule.every"),
    ({"all": [1]}, "rule.all.0"),
    ({"all": [{"field": "store", "op": "is_null", "value": "x"}]}, "rule.all.0.value"),
])
def test_bad_rules_name_the_offending_part(raw, field):
    with pytest.raises(InvalidInput) as err:
        parse_rule(raw)
    assert err.value.field == field


def test_rules_are_bounded_in_depth():
    raw: dict = {"field": "tier", "op": "eq", "value": "gold"}
    for _ in range(6):
        raw = {"all": [raw]}
    with pytest.raises(InvalidInput, match="nest"):
        parse_rule(raw)


def test_every_rfm_score_pair_has_exactly_the_group_the_table_says():
    seen = set()
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                seen.add(rfm.rfm_group(r, f, m))
    assert seen == set(rfm.GROUP_NAMES)
    assert rfm.rfm_group(5, 5, 5) == "champions"
    assert rfm.rfm_group(1, 5, 5) == "cant_lose"
    assert rfm.rfm_group(1, 1, 1) == "lost"
    assert rfm.rfm_group(5, 1, 1) == "new_customers"
    assert rfm.rfm_group(2, 3, 3) == "at_risk"


def test_rfm_parameters_are_validated():
    assert rfm.parse_params({}) == rfm.RfmParams()
    assert rfm.parse_params({"abcd_cuts": ["0.7", "0.9", "1"]}).abcd_cuts == (Decimal("0.7"), Decimal("0.9"),
                                                                            Decimal("1"))
    for raw, field in [({"window_days": 0}, "window_days"), ({"abcd_cuts": [0.8, 0.9, 0.95]}, "abcd_cuts"),
                       ({"abcd_cuts": ["0.9", "0.8", "0.95"]}, "abcd_cuts"), ({"bogus": 1}, "bogus"),
                       ({"abcd_cuts": ["NaN", "0.9", "0.99"]}, "abcd_cuts"),
                       ({"abcd_cuts": ["0.5", "0.9", "Infinity"]}, "abcd_cuts"),
                       ({"active_days": 200}, "recently_lapsed_days")]:
        with pytest.raises(InvalidInput) as err:
            rfm.parse_params(raw)
        assert err.value.field == field


def test_required_fields_are_those_every_member_is_tested_on() -> None:
    from services.campaigns.segments.rules import parse_rule, required_fields

    rule = parse_rule({"all": [{"field": "store", "op": "eq", "value": "S1"},
                               {"all": [{"field": "lifecycle", "op": "eq", "value": "dormant"}]},
                               {"any": [{"field": "tier", "op": "eq", "value": "gold"},
                                        {"field": "gender", "op": "eq", "value": "female"}]}]})
    assert required_fields(rule) == {"store", "lifecycle"}
    assert required_fields(parse_rule({"field": "days_since_last_purchase", "op": "gte", "value": 90})) == {
        "days_since_last_purchase"}
    assert required_fields(parse_rule({"not": {"field": "lifecycle", "op": "eq", "value": "active"}})) == set()
