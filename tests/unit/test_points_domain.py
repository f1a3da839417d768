"""services/points/domain.py: earning, discounts, refund shares, lots, refund policy, expiry, tiers."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.points import BonusRule, ExpiryRule, Program, TierRule
from services.points import domain
from services.points.domain import Bonus, Line, Lot, RuleError

D = Decimal
NOW = datetime(2024, 6, 15, 4, 0, tzinfo=UTC)
SHANGHAI, NEW_YORK = "Asia/Shanghai", "America/New_York"


def earn(program: Program | None = None, lines: list[Line] | None = None, *, amount: str = "100.00",
         discount: str = "0", currency: str = "CNY", tier: str = "normal", store: str = "S1",
         sold_at: datetime = NOW, bonuses: tuple[Bonus, ...] = (), earned_today: int = 0) -> domain.Earning:
    result = domain.earn(program or Program(), lines=lines or [Line("A1", "food", D(amount))],
                         sale_discount=D(discount), currency=currency, tier=tier, store=store, sold_at=sold_at,
                         bonuses=bonuses, earned_today=earned_today)
    assert sum(points for _, points in result.breakdown) == result.points, result.breakdown
    return result


def bonus(rule_id: str = "r1", *, starts_at: datetime = NOW - timedelta(hours=1),
          ends_at: datetime = NOW + timedelta(hours=1), **rule: object) -> Bonus:
    return Bonus(rule_id, BonusRule(name=rule_id, starts_at=starts_at, ends_at=ends_at, **rule))


def rules(earning: domain.Earning) -> dict[str, int]:
    return dict(earning.breakdown)


# ---- earn: base rate and rounding --------------------------------------------------------------
@pytest.mark.parametrize("amount, floor, half_up, ceil", [
    ("10.00", 10, 10, 10), ("10.49", 10, 10, 11), ("10.50", 10, 11, 11), ("10.99", 10, 11, 11), ("0.01", 0, 0, 1),
])
def test_the_base_rate_rounds_by_the_programs_mode(amount, floor, half_up, ceil):
    for mode, expected in (("floor", floor), ("half_up", half_up), ("ceil", ceil)):
        result = earn(Program(rounding=mode), amount=amount)
        assert result.points == expected and rules(result) == {"base": expected}
        assert result.net_amount == D(amount)


def test_the_rate_is_per_currency_and_the_base_is_rounded_once_for_the_whole_sale():
    program = Program(rates={"CNY": D(1), "USD": D("7.1")})
    assert earn(program, amount="10.00", currency="USD").points == 71
    two_halves = [Line("A", "food", D("0.60")), Line("B", "food", D("0.60"))]
    assert earn(program, two_halves).points == 1  # floor(1.20), not floor(0.60) + floor(0.60)


def test_an_unknown_currency_is_a_rule_error_naming_the_currency():
    with pytest.raises(RuleError) as caught:
        earn(Program(), currency="USD")
    assert caught.value.field == "currency" and "CNY" in str(caught.value)


# ---- min spend, exclusions ------------------------------------------------------------------------
def test_below_the_minimum_spend_after_discounts_earns_nothing():
    program = Program(min_spend=D(50))
    below = earn(program, amount="49.99")
    assert below.points == 0 and below.breakdown == [("min_spend", 0)] and below.net_amount == D("49.99")
    assert earn(program, amount="50.00").points == 50
    discounted = earn(program, amount="60.00", discount="15.00")  # 45.00 paid
    assert discounted.points == 0 and discounted.net_amount == D("45.00")


def test_excluded_categories_and_skus_earn_nothing_and_are_named():
    lines = [Line("A1", "food", D("100.00")), Line("T1", "tobacco", D("50.00")), Line("G1", "gift_card", D("30.00"))]
    result = earn(Program(), lines)
    assert result.points == 100 and rules(result) == {"base": 100, "excluded": 0}
    assert result.net_amount == D("180.00")
    by_sku = earn(Program(excluded_skus=["A1"]), [Line("A1", "food", D("10.00")), Line("B1", "food", D("5.00"))])
    assert by_sku.points == 5 and "excluded" in rules(by_sku)
    assert "excluded" not in rules(earn(Program(), [Line("A1", "food", D("10.00"))]))


# ---- multipliers ----------------------------------------------------------------------------------
def test_category_multipliers_add_a_line_of_their_own():
    program = Program(category_multipliers={"food": D(2)})
    result = earn(program, [Line("A1", "food", D("10.00")), Line("B1", "toys", D("5.00"))])
    assert rules(result) == {"base": 15, "category:food": 10} and result.points == 25


def test_a_sku_multiplier_overrides_its_category_multiplier():
    program = Program(category_multipliers={"food": D(2)}, sku_multipliers={"A1": D(3)})
    result = earn(program, [Line("A1", "food", D("10.00")), Line("B1", "food", D("10.00"))])
    assert rules(result) == {"base": 20, "sku:A1": 20, "category:food": 10}
    assert result.points == 50  # A1 at 3x (not 2x, not 6x), B1 at 2x


def test_the_tier_multiplier_applies_to_base_and_multiplied_points():
    assert rules(earn(Program(), amount="100.00", tier="silver")) == {"base": 100, "tier:silver": 20}
    assert earn(Program(), amount="100.00", tier="platinum").points == 200
    program = Program(category_multipliers={"food": D(2)})
    result = earn(program, [Line("A1", "food", D("100.00"))], tier="silver")
    assert rules(result) == {"base": 100, "category:food": 100, "tier:silver": 40}
    assert rules(earn(Program(), tier="normal")) == {"base": 100}  # a factor of 1 adds no line
    assert rules(earn(Program(), tier="retired")) == {"base": 100}  # an unknown tier earns as 1


# ---- discounts --------------------------------------------------------------------------------------
def test_a_sale_discount_is_spread_over_the_lines_by_amount_before_exclusions():
    lines = [Line("A1", "food", D("60.00")), Line("T1", "tobacco", D("40.00"))]
    result = earn(Program(), lines, discount="10.00")
    assert result.points == 54 and result.net_amount == D("90.00")  # food 60 less 6.00; tobacco took 4.00
    gross = earn(Program(net_of_discounts=False), lines, discount="10.00")
    assert gross.points == 60 and gross.net_amount == D("90.00")


def test_line_discounts_come_off_their_own_line():
    lines = [Line("A1", "food", D("60.00"), D("5.00")), Line("T1", "tobacco", D("40.00"), D("1.00"))]
    result = earn(Program(), lines, discount="10.00")
    assert result.points == 49 and result.net_amount == D("84.00")


def test_net_lines_spread_the_sale_discount_to_the_cent_by_largest_remainder():
    lines = [Line("A", None, D("33.33"))] * 3
    assert domain.net_lines(lines, D("10.00")) == [D("29.99"), D("30.00"), D("30.00")]
    assert domain.net_lines([Line("A", None, D(0))] * 2, D(0)) == [D(0), D(0)]
    assert domain.net_lines([Line("A", None, D("5.00"), D("1.50"))], D("1.00")) == [D("2.50")]


cents = st.integers(0, 10_000_000).map(lambda c: D(c) / 100)


@settings(max_examples=300)
@given(st.lists(st.integers(100, 10_000_000).map(lambda c: D(c) / 100), min_size=1, max_size=12), st.data())
def test_net_lines_shares_add_up_to_the_sale_discount_exactly(amounts, data):
    gross = sum(amounts, D(0))
    discount = data.draw(st.integers(0, int(gross * 50)).map(lambda c: D(c) / 100))  # up to half the sale
    nets = domain.net_lines([Line("A", None, a) for a in amounts], discount)
    assert sum(nets, D(0)) == gross - discount
    assert all(net >= 0 for net in nets)


def test_a_fully_discounted_line_does_not_lose_its_share_of_the_sale_discount():
    lines = [Line("A", "food", D("10.00"), D("10.00")), Line("B", "food", D("10.00"))]
    assert sum(domain.net_lines(lines, D("10.00")), D(0)) == D(0)
    assert earn(Program(), lines, discount="10.00").points == 0


@pytest.mark.parametrize("amounts, discount", [(["0.01", "0.01", "0.01", "0.00"], "0.01"),
                                               (["1.00", "1.00", "1.00", "1.00"], "0.02")])
def test_each_lines_share_stays_within_the_line(amounts, discount):
    lines = [Line("A", None, D(a)) for a in amounts]
    nets = domain.net_lines(lines, D(discount))
    assert sum(nets, D(0)) == sum((line.amount for line in lines), D(0)) - D(discount)
    assert all(0 <= net <= line.amount for net, line in zip(nets, lines, strict=True))


# ---- bonus rules -------------------------------------------------------------------------------------
def test_a_multiplier_bonus_adds_base_points_in_its_window_only():
    double = bonus(multiplier=D(2))
    assert rules(earn(Program(), bonuses=(double,))) == {"base": 100, "bonus:r1": 100}
    starts = bonus(multiplier=D(2), starts_at=NOW, ends_at=NOW + timedelta(hours=1))
    ends = bonus(multiplier=D(2), starts_at=NOW - timedelta(hours=1), ends_at=NOW)
    assert earn(Program(), bonuses=(starts,)).points == 200  # the start is inside
    assert earn(Program(), bonuses=(ends,)).points == 100  # the end is not


def test_a_fixed_bonus_per_sale_and_its_filters():
    fixed = bonus(points_per_sale=30)
    assert rules(earn(Program(), bonuses=(fixed,))) == {"base": 100, "bonus:r1": 30}
    in_store = bonus(points_per_sale=30, stores=["S2"])
    assert earn(Program(), bonuses=(in_store,), store="S2").points == 130
    assert earn(Program(), bonuses=(in_store,), store="S1").points == 100
    for_gold = bonus(points_per_sale=30, tiers=["gold"])
    assert earn(Program(), bonuses=(for_gold,), tier="gold").points == 150 + 30
    assert earn(Program(), bonuses=(for_gold,), tier="silver").points == 120
    big_spend = bonus(points_per_sale=30, min_spend=D(100))
    assert earn(Program(), bonuses=(big_spend,), amount="100.00").points == 130
    assert earn(Program(), bonuses=(big_spend,), amount="120.00", discount="20.01").points == 99  # 99.99 paid


def test_a_category_bonus_counts_only_its_categories_and_never_excluded_lines():
    lines = [Line("A1", "food", D("10.00")), Line("B1", "toys", D("20.00")), Line("T1", "tobacco", D("40.00"))]
    food_x3 = bonus(multiplier=D(3), categories=["food", "tobacco"])
    result = earn(Program(), lines, bonuses=(food_x3,))
    assert rules(result) == {"base": 30, "bonus:r1": 20, "excluded": 0}
    everything = bonus("r2", multiplier=D("1.5"))
    assert rules(earn(Program(), lines, bonuses=(food_x3, everything))) == {
        "base": 30, "bonus:r1": 20, "bonus:r2": 15, "excluded": 0}


# ---- caps ---------------------------------------------------------------------------------------------
def test_the_cap_per_sale_and_per_day_cut_the_total_with_a_line_of_their_own():
    per_sale = earn(Program(cap_per_sale=50), amount="100.00")
    assert per_sale.points == 50 and rules(per_sale)["cap_sale"] == -50
    assert "cap_sale" not in rules(earn(Program(cap_per_sale=100), amount="100.00"))
    per_day = earn(Program(cap_per_day=100), amount="100.00", earned_today=80)
    assert per_day.points == 20 and rules(per_day)["cap_day"] == -80
    spent = earn(Program(cap_per_day=100), amount="100.00", earned_today=150)
    assert spent.points == 0 and rules(spent)["cap_day"] == -100
    both = earn(Program(cap_per_sale=50, cap_per_day=100), amount="100.00", earned_today=70)
    assert both.points == 30 and rules(both)["cap_sale"] == -50 and rules(both)["cap_day"] == -20


# ---- the breakdown adds up ------------------------------------------------------------------------------
CATEGORIES = ["food", "toys", "tobacco", None]
factors = st.integers(100, 500).map(lambda c: D(c) / 100)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(CATEGORIES), cents,
                                st.integers(0, 100)), min_size=1, max_size=6),
       discount_pct=st.integers(0, 100), rounding=st.sampled_from(["floor", "half_up", "ceil"]),
       category_factor=factors, sku_factor=factors, tier=st.sampled_from(["normal", "silver", "gold", "platinum"]),
       bonus_factor=st.none() | factors, fixed=st.none() | st.integers(1, 500), min_spend=cents,
       cap_sale=st.none() | st.integers(1, 5000), cap_day=st.none() | st.integers(1, 5000),
       earned_today=st.integers(0, 6000), net=st.booleans())
def test_the_breakdown_always_adds_up_to_the_total(lines, discount_pct, rounding, category_factor, sku_factor, tier,
                                                    bonus_factor, fixed, min_spend, cap_sale, cap_day, earned_today,
                                                    net):
    built = [Line(sku, category, amount, (amount * pct / 100).quantize(D("0.01")))
             for sku, category, amount, pct in lines]
    left = sum((line.amount - line.discount for line in built), D(0))
    discount = (left * discount_pct / 100).quantize(D("0.01"), "ROUND_DOWN")
    program = Program(rounding=rounding, category_multipliers={"food": category_factor},
                      sku_multipliers={"B": sku_factor}, min_spend=min_spend, cap_per_sale=cap_sale,
                      cap_per_day=cap_day, net_of_discounts=net)
    bonuses = []
    if bonus_factor is not None:
        bonuses.append(bonus("m", multiplier=bonus_factor, categories=["toys"]))
    if fixed is not None:
        bonuses.append(bonus("f", points_per_sale=fixed))
    result = domain.earn(program, lines=built, sale_discount=discount, currency="CNY", tier=tier, store="S1",
                         sold_at=NOW, bonuses=bonuses, earned_today=earned_today)
    assert sum(points for _, points in result.breakdown) == result.points
    assert result.points >= 0
    if cap_sale is not None:
        assert result.points <= cap_sale
    if cap_day is not None:
        assert result.points <= max(0, cap_day - earned_today)


def test_a_multiplier_below_one_keeps_the_breakdown_adding_up():
    for factor, expected in ((D(0), 0), (D("0.5"), 5)):
        result = domain.earn(Program(category_multipliers={"food": factor}), lines=[Line("A1", "food", D("10.50"))],
                             sale_discount=D(0), currency="CNY", tier="normal", store="S1", sold_at=NOW)
        assert sum(points for _, points in result.breakdown) == result.points == expected


# ---- refunds: cumulative shares ---------------------------------------------------------------------------
def test_partial_refunds_take_back_in_proportion_and_add_up_to_the_earning():
    whole = D("100.00")
    assert domain.cumulative_share(100, whole, D(0), D("33.33")) == 33
    assert domain.cumulative_share(100, whole, D("33.33"), D("100.00")) == 67
    steps = [D("33.33"), D("66.66"), D("100.00")]
    shares = [domain.cumulative_share(100, whole, a, b) for a, b in zip([D(0), *steps], steps, strict=False)]
    assert shares == [33, 34, 33] and sum(shares) == 100
    assert domain.cumulative_share(7, D(0), D(0), D(0)) == 0  # a sale of nothing
    assert domain.cumulative_share(0, whole, D(0), whole) == 0


def test_refund_shares_reverse_points_and_return_redeemed_ones_exactly_over_any_split():
    whole, reversed_, returned, refunded = D("90.00"), 0, 0, D(0)
    parts = []
    for amount in (D("10.00"), D("45.55"), D("34.45")):
        reverse, give_back = domain.refund_shares(91, whole, refunded, amount, reversed_, 30, returned)
        parts.append((reverse, give_back))
        reversed_, returned, refunded = reversed_ + reverse, returned + give_back, refunded + amount
    assert (reversed_, returned) == (91, 30) and all(r >= 0 and g >= 0 for r, g in parts)
    # points paid on the sale after a partial refund all come back when the rest is refunded
    assert domain.refund_shares(100, D(100), D(50), D(50), 50, 40, 0) == (50, 40)


@settings(max_examples=300)
@given(total=st.integers(0, 10_000_000), whole_cents=st.integers(1, 100_000_000), data=st.data())
def test_refunds_in_any_split_add_up_to_the_total_exactly(total, whole_cents, data):
    whole = D(whole_cents) / 100
    cuts = sorted(data.draw(st.lists(st.integers(0, whole_cents), max_size=10)))
    marks = [D(0)] + [D(c) / 100 for c in cuts] + [whole]
    shares = [domain.cumulative_share(total, whole, a, b) for a, b in zip(marks, marks[1:], strict=False)]
    assert sum(shares) == total
    assert all(share >= 0 for share in shares)
    running = 0
    for share, mark in zip(shares, marks[1:], strict=True):
        running += share
        assert abs(Decimal(running) - Decimal(total) * mark / whole) <= D("0.5")  # never more than half a point off


# ---- lots: spendable, consume ----------------------------------------------------------------------------
def lot(lot_id: int, remaining: int, *, expires_in: float | None = 30, available_in: float = -1) -> Lot:
    return Lot(lot_id, remaining, NOW + timedelta(days=available_in),
               None if expires_in is None else NOW + timedelta(days=expires_in), "S1")


def test_spendable_lots_soonest_expiry_first_never_expiring_last_pending_expired_and_empty_skipped():
    lots = [lot(1, 10, expires_in=10), lot(2, 10, expires_in=None), lot(3, 10, expires_in=5),
            lot(4, 10, available_in=1), lot(5, 10, expires_in=-1), lot(6, 0, expires_in=1),
            lot(7, 10, expires_in=0), lot(8, 10, expires_in=10, available_in=0), lot(9, 10, expires_in=None)]
    assert [x.lot_id for x in domain.spendable(lots, NOW)] == [3, 1, 8, 2, 9]


def test_consume_takes_in_the_order_given_and_raises_when_short():
    lots = [lot(3, 10), lot(1, 10), lot(2, 10)]
    assert [(x.lot_id, take) for x, take in domain.consume(lots, 15)] == [(3, 10), (1, 5)]
    assert [(x.lot_id, take) for x, take in domain.consume(lots, 30)] == [(3, 10), (1, 10), (2, 10)]
    assert domain.consume(lots, 0) == []
    with pytest.raises(RuleError) as caught:
        domain.consume(lots, 31)
    assert caught.value.field == "points" and "30 available" in str(caught.value)


# ---- crediting into a lot, the refund policy -------------------------------------------------------------
@pytest.mark.parametrize("balance, held, points, into_lot", [
    (0, 0, 10, 10), (100, 30, 10, 10), (-50, 0, 80, 30), (-50, 0, 30, 0), (20, 50, 40, 10), (20, 50, 20, 0),
])
def test_a_credit_first_makes_good_a_balance_below_what_is_held(balance, held, points, into_lot):
    assert domain.credit_into_lot(balance, held, points) == into_lot


@pytest.mark.parametrize("points, balance, held, debt_policy, limit, expected", [
    (100, 150, 0, False, 1000, (100, 0)),
    (500, 100, 0, False, 1000, (500, 0)),  # down to -400
    (2000, 100, 0, False, 1000, (1100, 900)),  # to -1000, the rest a debt
    (100, 50, 50, False, 1000, (100, 0)),
    (10, -1000, 0, False, 1000, (0, 10)),
    (10, 5, 0, False, 0, (5, 5)),
    (100, 60, 0, True, 1000, (60, 40)),
    (100, 60, 20, True, 1000, (40, 60)),  # the balance keeps what is held
    (100, 10, 30, True, 1000, (0, 100)),
    (0, 10, 0, True, 1000, (0, 0)),
])
def test_refund_split_under_both_policies(points, balance, held, debt_policy, limit, expected):
    assert domain.refund_split(points, balance, held, debt_policy, limit) == expected


@given(points=st.integers(0, 10_000), balance=st.integers(-2000, 10_000), held=st.integers(0, 5000),
       debt_policy=st.booleans(), limit=st.integers(0, 2000))
def test_refund_split_never_goes_past_the_policy(points, balance, held, debt_policy, limit):
    from_balance, debt = domain.refund_split(points, balance, held, debt_policy, limit)
    assert from_balance + debt == points and from_balance >= 0 and debt >= 0
    floor = 0 if debt_policy else -limit
    after = balance - held - from_balance
    assert after >= min(floor, balance - held)  # never below the policy's floor (or where it already was)
    if debt:
        assert after == min(floor, balance - held)  # a debt only once the balance is at the floor


# ---- expiry ------------------------------------------------------------------------------------------------
def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize("earned, expires", [
    ((2023, 1, 31, 12), (2023, 3, 1)),  # 31 Jan + 1 month: the end of 28 Feb
    ((2024, 1, 31, 12), (2024, 3, 1)),  # leap year: the end of 29 Feb
    ((2024, 1, 15, 0), (2024, 2, 16)),
    ((2024, 12, 31, 23), (2025, 2, 1)),  # the end of 31 Jan next year
])
def test_months_after_is_the_end_of_the_same_day_n_months_later_or_the_months_last_day(earned, expires):
    at = local(SHANGHAI, *earned)
    assert domain.expiry(at, SHANGHAI, ExpiryRule(mode="months_after", count=1)) == local(SHANGHAI, *expires)


def test_months_after_twelve_from_a_leap_day():
    at = local(SHANGHAI, 2024, 2, 29, 10)
    assert domain.expiry(at, SHANGHAI, ExpiryRule()) == local(SHANGHAI, 2025, 3, 1)
    assert domain.expiry(at, SHANGHAI, ExpiryRule(mode="months_after", count=48)) == local(SHANGHAI, 2028, 3, 1)


@pytest.mark.parametrize("count, expires", [(0, (2024, 3, 1)), (1, (2024, 4, 1)), (11, (2025, 2, 1)),
                                            (12, (2025, 3, 1))])
def test_end_of_month_is_the_end_of_the_nth_month_after_earning(count, expires):
    at = local(SHANGHAI, 2024, 2, 10, 9)
    assert domain.expiry(at, SHANGHAI, ExpiryRule(mode="end_of_month", count=count)) == local(SHANGHAI, *expires)
    december = local(SHANGHAI, 2024, 12, 31, 9)
    assert domain.expiry(december, SHANGHAI, ExpiryRule(mode="end_of_month", count=2)) == local(SHANGHAI, 2025, 3, 1)


def test_end_of_year_and_never():
    at = local(SHANGHAI, 2024, 6, 15, 9)
    assert domain.expiry(at, SHANGHAI, ExpiryRule(mode="end_of_year", count=0)) == local(SHANGHAI, 2025, 1, 1)
    assert domain.expiry(at, SHANGHAI, ExpiryRule(mode="end_of_year", count=1)) == local(SHANGHAI, 2026, 1, 1)
    assert domain.expiry(at, SHANGHAI, ExpiryRule(mode="never")) is None


def test_expiry_is_the_end_of_the_local_day_in_the_stores_zone():
    at = datetime(2024, 1, 31, 20, 0, tzinfo=UTC)  # 1 Feb 04:00 in Shanghai, 31 Jan 15:00 in New York
    rule = ExpiryRule(mode="months_after", count=1)
    shanghai = domain.expiry(at, SHANGHAI, rule)
    new_york = domain.expiry(at, NEW_YORK, rule)
    assert shanghai == datetime(2024, 3, 1, 16, 0, tzinfo=UTC)  # the end of 1 Mar, +08:00
    assert new_york == datetime(2024, 3, 1, 5, 0, tzinfo=UTC)  # the end of 29 Feb, -05:00
    assert shanghai.utcoffset() == timedelta(0) and new_york.utcoffset() == timedelta(0)
    summer = domain.expiry(datetime(2024, 6, 10, 12, tzinfo=UTC), NEW_YORK, rule)
    assert summer == datetime(2024, 7, 11, 4, 0, tzinfo=UTC)  # daylight saving time: -04:00


def test_local_day_bounds_follow_the_zone():
    start, end = domain.local_day_bounds(datetime(2024, 1, 31, 20, 0, tzinfo=UTC), SHANGHAI)
    assert (start, end) == (datetime(2024, 1, 31, 16, tzinfo=UTC), datetime(2024, 2, 1, 16, tzinfo=UTC))
    start, end = domain.local_day_bounds(datetime(2024, 3, 10, 12, 0, tzinfo=UTC), NEW_YORK)
    assert end - start == timedelta(hours=23)  # the day clocks go forward


# ---- tiers ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("qualifying, tier", [("0", "normal"), ("1999.99", "normal"), ("2000", "silver"),
                                              ("7999.99", "silver"), ("8000", "gold"), ("25000", "platinum")])
def test_tier_for_a_qualifying_spend(qualifying, tier):
    assert domain.tier_for(Program(), D(qualifying)) == tier


def test_upgrades_are_immediate_to_the_tier_reached_and_never_down():
    program = Program()
    assert domain.upgrade(program, "normal", D(1999)) is None
    assert domain.upgrade(program, "normal", D(2000)) == "silver"
    assert domain.upgrade(program, "normal", D(9000)) == "gold"
    assert domain.upgrade(program, "gold", D(100)) is None
    assert domain.upgrade(program, "gold", D(8000)) is None


def test_downgrades_are_one_tier_at_a_time_after_the_grace_period():
    program = Program()  # 30 days of grace
    since_long_ago = NOW - timedelta(days=60)
    assert domain.downgrade(program, "platinum", D(0), since_long_ago, NOW) == "gold"
    assert domain.downgrade(program, "gold", D(0), since_long_ago, NOW) == "silver"
    assert domain.downgrade(program, "gold", D(3000), since_long_ago, NOW) == "silver"
    assert domain.downgrade(program, "silver", D(0), None, NOW) == "normal"
    assert domain.downgrade(program, "normal", D(0), since_long_ago, NOW) is None
    assert domain.downgrade(program, "gold", D(8000), since_long_ago, NOW) is None  # still qualifies
    assert domain.downgrade(program, "gold", D(0), NOW - timedelta(days=10), NOW) is None  # in its grace
    assert domain.downgrade(program, "gold", D(0), NOW - timedelta(days=30), NOW) == "silver"  # grace just over
    assert domain.downgrade(Program(tier_grace_days=0), "gold", D(0), NOW, NOW) == "silver"


def test_next_tier_and_how_much_is_needed():
    program = Program()
    assert domain.next_tier(program, "normal", D(500)) == ("silver", D(1500))
    assert domain.next_tier(program, "silver", D(9000)) == ("gold", D(0))
    assert domain.next_tier(program, "platinum", D(0)) == (None, None)
    assert domain.tier_rank(program, "nonexistent") == 0
    two = Program(tiers=[TierRule(name="basic", threshold=D(0), multiplier=D(1)),
                         TierRule(name="vip", threshold=D(100), multiplier=D(3))])
    assert domain.tier_for(two, D(150)) == "vip" and domain.next_tier(two, "vip", D(0)) == (None, None)
    assert rules(earn(two, amount="10.00", tier="vip")) == {"base": 10, "tier:vip": 20}


def test_a_bonus_for_an_audience_is_open_only_to_members_granted_it():
    window = dict(starts_at=datetime(2026, 1, 1, tzinfo=UTC), ends_at=datetime(2027, 1, 1, tzinfo=UTC))
    everyone = Bonus("r1", BonusRule(name="all", points_per_sale=5, **window))
    audience = Bonus("r2", BonusRule(name="some", points_per_sale=7, **window), audience="campaign:c")
    granted = {("campaign:c", "m1")}
    assert everyone.open_to("m2", granted) and audience.open_to("m1", granted)
    assert not audience.open_to("m2", granted)


def test_a_budget_cut_shows_as_its_own_line_and_the_lines_still_add_up():
    earning = domain.Earning(100, Decimal("60"), [("base", 60), ("bonus:r1", 30), ("bonus:r2", 10)])
    cut = domain.within_budgets(earning, {"bonus:r1": 12, "bonus:r2": 10})
    assert cut.breakdown[-1] == ("budget:r1", -18) and cut.points == 82
    assert sum(points for _, points in cut.breakdown) == cut.points
    assert domain.within_budgets(earning, {"bonus:r1": 30}) is earning


def test_caps_take_bonus_points_first_and_a_budget_pays_only_what_they_left():
    capped = domain.Earning(50, Decimal("10"), [("base", 10), ("bonus:r1", 30), ("bonus:r2", 70), ("cap_sale", -60)])
    assert domain.paid_bonus(capped) == {"bonus:r2": 10, "bonus:r1": 30}  # the last bonus line cut first
    cut = domain.within_budgets(capped, {"bonus:r2": 4, "bonus:r1": 30})
    assert cut.points == 44 and ("budget:r2", -6) in cut.breakdown
    assert domain.paid_bonus(cut) == {"bonus:r2": 4, "bonus:r1": 30}
    full_day = domain.Earning(0, Decimal("10"), [("base", 10), ("bonus:r1", 100), ("cap_day", -110)])
    assert domain.paid_bonus(full_day) == {"bonus:r1": 0}
    assert domain.within_budgets(full_day, {"bonus:r1": 0}) is full_day  # nothing to cut below zero
