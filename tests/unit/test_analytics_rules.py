"""The analytics read model's pure rules: local day and hour, folding events into deltas per grain,
buyers and repeat buyers, first purchases, ERP corrections, whole months against loose days, rates,
cohort rows and the gateway's CSV."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.analytics import domain
from services.analytics.domain import Deltas, Line
from services.gateway.routes_analytics import as_csv


def test_local_day_and_hour_follow_the_store_zone_across_midnight():
    at = datetime(2026, 11, 2, 17, 30, tzinfo=UTC)
    assert domain.local(at, ZoneInfo("Asia/Shanghai")) == (date(2026, 11, 3), 1)
    assert domain.local(at, ZoneInfo("America/New_York")) == (date(2026, 11, 2), 12)
    assert domain.is_weekend(date(2026, 11, 7)) and not domain.is_weekend(date(2026, 11, 6))


def test_measures_fold_into_day_hour_and_month_hour_of_the_store_and_the_chain_and_only_hourly_ones_go_hourly():
    deltas = Deltas()
    saturday = date(2026, 11, 7)
    deltas.add("S1", saturday, 11, member_sales=1, member_amount=Decimal("20.10"), returning_sales=1)
    deltas.add("S1", saturday, 11, member_sales=1, member_amount=Decimal("0.20"), new_buyer_sales=1)
    deltas.add("S1", saturday, 0, refunds=1, refund_amount=Decimal("5.00"))
    assert deltas.day[("S1", saturday)] == {"member_sales": 2, "member_amount": Decimal("20.30"),
                                            "returning_sales": 1, "new_buyer_sales": 1, "refunds": 1,
                                            "refund_amount": Decimal("5.00")}
    assert deltas.day[("*", saturday)] == deltas.day[("S1", saturday)]
    hourly = {"member_sales": 2, "member_amount": Decimal("20.30")}
    assert deltas.hour == {("S1", saturday, 11): hourly, ("*", saturday, 11): hourly}
    assert deltas.month_hour == {(s, date(2026, 11, 1), True, 11): hourly for s in ("S1", "*")}


def test_lines_count_per_sku_and_category_by_day_and_month_and_skip_an_unknown_category():
    deltas = Deltas()
    day = date(2026, 11, 2)
    deltas.add_line("S1", day, Line("A", "FOOD", Decimal("1.5"), Decimal("3.00")))
    deltas.add_line("S1", day, Line("A", "FOOD", Decimal(1), Decimal("2.00")))
    deltas.add_line("S1", day, Line("B", None, Decimal(1), Decimal("9.99")))
    assert deltas.lines["store_day_category"] == {(s, day, "FOOD"): [2, Decimal("2.5"), Decimal("5.00")]
                                                  for s in ("S1", "*")}
    assert deltas.lines["store_month_sku"][("S1", date(2026, 11, 1), False, "B")] == [1, Decimal(1),
                                                                                      Decimal("9.99")]


def test_full_rows_carry_every_measure_in_key_order():
    rows = domain.full_rows({("S2", date(2026, 1, 2)): {"refunds": 1}, ("S1", date(2026, 1, 3)): {}},
                            ("store", "day"), ("refunds", "erp_sales"), ("refund_amount",))
    assert [r["store"] for r in rows] == ["S1", "S2"]
    assert rows[1] == {"store": "S2", "day": date(2026, 1, 2), "refunds": 1, "erp_sales": 0,
                       "refund_amount": Decimal(0)}


def test_a_member_becomes_a_buyer_at_the_first_purchase_and_a_repeat_buyer_at_the_second():
    assert domain.buyer_deltas(total=1, added=1) == (1, 0)
    assert domain.buyer_deltas(total=2, added=1) == (0, 1)
    assert domain.buyer_deltas(total=3, added=3) == (1, 1)  # all three in one batch
    assert domain.buyer_deltas(total=5, added=1) == (0, 0)


def test_the_first_purchase_is_the_earliest_of_the_batch_only_for_a_member_who_never_bought():
    times = [datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    assert domain.first_sale_index(0, times) == 1
    assert domain.first_sale_index(3, times) is None


def test_an_erp_correction_moves_the_sale_out_of_its_old_slot_and_into_the_new():
    assert domain.erp_moves(None, ("S1", date(2026, 1, 1), 9, 1000)) == [("S1", date(2026, 1, 1), 9, 1, 1000)]
    assert domain.erp_moves(("S1", date(2026, 1, 1), 9, 1000), ("S1", date(2026, 1, 2), 10, 850)) == [
        ("S1", date(2026, 1, 1), 9, -1, -1000), ("S1", date(2026, 1, 2), 10, 1, 850)]


def test_a_range_splits_into_whole_months_and_loose_edge_days():
    assert domain.split_months(date(2026, 1, 1), date(2026, 12, 31)) == (
        [date(2026, m, 1) for m in range(1, 13)], [])
    assert domain.split_months(date(2026, 1, 15), date(2026, 3, 10)) == (
        [date(2026, 2, 1)], [(date(2026, 1, 15), date(2026, 1, 31)), (date(2026, 3, 1), date(2026, 3, 10))])
    assert domain.split_months(date(2026, 2, 3), date(2026, 2, 27)) == ([], [(date(2026, 2, 3), date(2026, 2, 27))])
    assert domain.split_months(date(2024, 2, 1), date(2024, 2, 29)) == ([date(2024, 2, 1)], [])  # leap February


def test_rates_and_sales_rows_are_decimal_strings_and_unknown_erp_figures_are_null():
    assert domain.ratio(1, 3) == "0.3333" and domain.ratio(5, 0) is None
    row = domain.sales_row("total", {"member_sales": 3, "member_amount": Decimal("175.75"),
                                     "erp_amount": Decimal("350.50"), "erp_sales": 2}, erp_known=True)
    assert (row["average_basket"], row["all_amount"], row["member_share"]) == ("58.58", "350.50", "0.5014")
    unknown = domain.sales_row("2026-11-07", {"member_sales": 0}, erp_known=False)
    assert (unknown["average_basket"], unknown["all_sales"], unknown["member_share"]) == (None, None, None)


def test_cohort_rows_count_members_buying_per_month_since_registration():
    rows = domain.retention_rows({date(2026, 10, 1): 4}, {(date(2026, 10, 1), date(2026, 10, 1)): 2,
                                                          (date(2026, 10, 1), date(2026, 12, 1)): 1},
                                 last=date(2026, 12, 5))
    assert rows == [{"cohort": "2026-10", "members": 4, "active": [2, 0, 1],
                     "retention": ["0.5000", "0.0000", "0.2500"]}]


def test_csv_has_a_header_and_spreads_lists_over_numbered_columns():
    text = as_csv([{"cohort": "2026-10", "members": 4, "active": [2, 1], "retention": ["0.5000", None]}])
    assert text.splitlines() == ["cohort,members,active_0,active_1,retention_0,retention_1",
                                 "2026-10,4,2,1,0.5000,"]
